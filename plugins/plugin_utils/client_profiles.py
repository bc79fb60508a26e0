# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remote-access client bundles on the controller: a certificate per client from the fleet PKI
(plugin_utils/pki.py) and the profiles made from the hub's ``ipsec_remote_access``
(module_utils/plan/remote_access.py), written under ``<dest>/<hub>/<client>/``.

A bundle is rewritten only when its certificate is new or renewed, or a file is missing or differs:
the files with keys get a new salt on every export, so rewriting them each run would make every run
"changed". Nothing is written in check mode (the PKI is not touched either)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import remote_access
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki as pki_mod


def _read(path):
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except (IOError, OSError):
        return None


def _private_dirs(directory):
    """Create ``directory`` and every missing parent with mode 0700 (makedirs' mode covers only the last)."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        os.mkdir(path, 0o700)


def _write(path, data):
    _private_dirs(os.path.dirname(path))
    temporary = path + ".tmp%d" % os.getpid()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
    os.replace(temporary, path)


def _stale_files(root, public, secret_paths):
    """Relative paths of a bundle that are missing or differ from what they should be."""
    stale = [path for path, text in sorted(public.items()) if _read(os.path.join(root, path)) != text.encode("utf-8")]
    stale += [path for path in sorted(secret_paths) if _read(os.path.join(root, path)) is None]
    return stale


def write_bundles(ra, authority, dest, passphrase, names=None, check_mode=False):
    """Write (or, in check mode, say what would be written for) each client's bundle of hub ``ra``.

    Returns {"changed": bool, "clients": [{name, id, directory, reason, files}]}; ``reason`` is why
    the certificate is new (None: kept), ``files`` the files written or to be written."""
    known = dict(ra.clients)
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise pki_mod.PkiError("host %s: no remote-access client named %s (ipsec_remote_access.clients has %s)"
                               % (ra.host, ", ".join(unknown), ", ".join(sorted(known))))
    if len(passphrase or "") < 12:
        raise pki_mod.PkiError("the client export passphrase must be at least 12 characters (a vault secret)")
    if check_mode and not os.path.exists(authority.ca_cert_path) and not authority.user_ca:
        # no CA yet: a real run would create it and every client certificate; check mode creates nothing
        return _outcome([
            {"name": name, "id": cid, "directory": os.path.join(dest, ra.host, name), "reason": "new",
             "files": sorted(set(remote_access.client_public_files(ra, name, "", ""))
                             | set(remote_access.client_secret_paths(name)))}
            for name, cid in ra.clients if not names or name in names], True)
    ca_cert, _ca_key = authority.ca()
    ca_pem = pki_mod.pem_text(ca_cert)
    report = []
    for name, client_id in ra.clients:
        if names and name not in names:
            continue
        root = os.path.join(dest, ra.host, name)
        entry = {"name": name, "id": client_id, "directory": root}
        if check_mode:
            reason = authority.client_reason(ra.host, name, client_id)
            cert_pem = authority.stored_client_pem(ra.host, name) if reason is None else None
            public = remote_access.client_public_files(ra, name, ca_pem, cert_pem or "")
            secret = remote_access.client_secret_paths(name)
            stale = reason is not None or bool(_stale_files(root, public, secret))
            entry.update(reason=reason, files=sorted(set(public) | set(secret)) if stale else [])
            report.append(entry)
            continue
        cert, key, reason = authority.client(ra.host, name, client_id)
        public = remote_access.client_public_files(ra, name, ca_pem, pki_mod.pem_text(cert))
        stale = _stale_files(root, public, remote_access.client_secret_paths(name))
        written = []
        if reason or stale:
            _cert_pem, key_pem, bundle = pki_mod.client_export(name, cert, key, ca_cert, passphrase)
            files = dict((path, text.encode("utf-8")) for path, text in public.items())
            files.update(remote_access.client_secret_files(ra, name, ca_pem, key_pem, bundle))
            for path in sorted(files):
                _write(os.path.join(root, path), files[path])
                written.append(path)
        entry.update(reason=reason, files=written, expires=cert.not_valid_after_utc.strftime("%Y-%m-%d"))
        report.append(entry)
    return _outcome(report, check_mode)


def summary_line(entry, check_mode=False):
    """One line per client: what happened to its certificate and bundle."""
    verb = "would be written" if check_mode else "written"
    certificate = "certificate %s" % (entry["reason"] if entry["reason"] else "kept")
    if not entry["files"]:
        return "%s (%s): %s, bundle current" % (entry["name"], entry["id"], certificate)
    return "%s (%s): %s, %d file(s) %s in %s" % (entry["name"], entry["id"], certificate, len(entry["files"]), verb,
                                                 entry["directory"])


def _outcome(report, check_mode):
    return {"changed": any(entry["files"] for entry in report), "clients": report,
            "summary": [summary_line(entry, check_mode) for entry in report]}
