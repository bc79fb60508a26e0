# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge ``/certificate``: certificates are not added with ``add`` but uploaded and imported.

RouterOS facts (7.22.2 /console/inspect): ``/file add name= contents=`` creates a file through the
API; ``/certificate import file-name= passphrase= name= trusted=`` reads certificates and keys from
it. The router's key travels encrypted (PKCS#8 with a one-time passphrase, over the API session).

Order in a run (``install`` before the IPsec menus converge, ``prune`` after them): new certificates
in, identities switched to them, stale owned certificates removed. Owned = name starts with
``ipsecfleet-``; a row is current when its name and fingerprint are the desired ones and it has its
key when one is desired. Nothing here returns a PEM, key or passphrase.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus

PATH = "/certificate"


def _owned(row):
    return row.get("name", "").startswith(menus.OWNER_NAME_PREFIX) and row.get("dynamic", "false") != "true"


def _current(row, item):
    if row.get("fingerprint", "").lower() != item["fingerprint"].lower():
        return False
    return not item.get("key_pem") or row.get("private-key") == "true"


def plan(rows, desired, state="overridden"):
    """(imports, removals): desired items to upload and import, owned rows to remove afterwards."""
    by_name = dict((row.get("name"), row) for row in rows if _owned(row))
    wanted = dict((item["name"], item) for item in desired)
    imports = [item for item in desired if item["name"] not in by_name or not _current(by_name[item["name"]], item)]
    if state in ("merged",):
        removals = []
    elif state == "deleted":
        removals = list(by_name.values())
        imports = []
    else:
        removals = [row for name, row in by_name.items() if name not in wanted]
    return imports, removals


def _file_name(item):
    return "%s.pem" % item["name"]


def import_commands(item):
    """The writes of one import, as (menu, verb, args) with secrets marked, for results and check mode."""
    what = "certificate and encrypted key" if item.get("key_pem") else "certificate"
    return ["/file add name=%s contents=<%s>" % (_file_name(item), what),
            "/certificate import file-name=%s name=%s passphrase=********%s" % (
                _file_name(item), item["name"], " trusted=yes" if item.get("trusted") == "true" else ""),
            "/file remove %s" % _file_name(item)]


def install(session, rows, imports):
    """Upload and import ``imports`` through ``session`` (an ApiSession). A name taken by an owned
    certificate of another fingerprint is freed first (its identities are switched by the same run)."""
    by_name = dict((row.get("name"), row) for row in rows if _owned(row))
    for item in imports:
        stale = by_name.get(item["name"])
        if stale is not None and stale.get("fingerprint", "").lower() != item["fingerprint"].lower():
            session.remove(PATH, stale[".id"])
        contents = item["pem"] + (item.get("key_pem") or "")
        session.add("/file", {"name": _file_name(item), "contents": contents})
        args = {"file-name": _file_name(item), "name": item["name"], "passphrase": item.get("passphrase") or ""}
        if item.get("trusted") == "true":
            args["trusted"] = "yes"
        try:
            session.command(PATH, "import", args)
        finally:
            for row in session.fresh("/file"):
                if row.get("name") == _file_name(item):
                    session.remove("/file", row[".id"])


def prune(session, removals):
    for row in removals:
        session.remove(PATH, row[".id"])


def summary(imports, removals):
    return {"imported": [item["name"] for item in imports], "removed": [row.get("name") for row in removals]}
