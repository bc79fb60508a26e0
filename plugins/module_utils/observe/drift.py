# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: what differs between a router's owned items and its HostPlan, computed by the apply
pipeline itself (``apply.converge.apply`` in check mode over the rows already printed), so the
drift is exactly what a converge would change: owned items missing, owned items changed by hand,
owned items the intent no longer has, firewall rules out of their place. A secret that differs is
reported as "secret differs", never with its value.

Pure: it works on printed rows (observe.gather.read_state output), not on a router.

Kept Python 3.8+ compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import converge
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import default_of

SECRET_DIFFERS = "secret differs"
WHAT = {"add": "missing", "set": "changed", "remove": "not in the intent", "move": "out of place"}


class PrintedRows(object):
    """An ApiSession stand-in over rows already printed: reads only; any write is a bug."""

    def __init__(self, rows_by_path):
        self.rows = rows_by_path
        self.writes = 0
        self.reads = 0

    def prefetch(self, paths):
        return None

    def read(self, path):
        if path not in self.rows or self.rows[path] is None:
            raise reconcile.ReconcileError("%s was not read from the router" % path)
        return [dict(row) for row in self.rows[path]]

    def _refuse(self, *args, **kwargs):
        raise reconcile.ReconcileError("drift never writes")

    add = set = remove = move = _refuse


def rows_by_path(state):
    """{menu path: printed rows} from observe.gather state (section keys)."""
    return dict((path, state.get(menus.MENUS[path].section)) for path in menus.APPLY_ORDER)


def compute(state, plan, sections, secret_update="on_change"):
    """The drift of one router: a list of entries
    ``{section, menu, key, what (missing | changed | not in the intent | out of place), fields}``
    where ``fields`` (changed items) lists ``{field, router, intent}`` (a secret: ``secret differs``).

    ``plan``: the router's HostPlan; ``sections``: the sections a converge would manage
    (site_engine.sections_of(features)). The firewall's sections are planned with the plan's
    placement blocks, as ipsec_site does."""
    desired = dict((s, plan.sections.get(s, [])) for s in sections)
    paths = [menus.MENUS_BY_SECTION[s].path for s in sections]
    firewall = any(p in menus.FIREWALL_PATHS for p in paths)
    rows = rows_by_path(state)
    result = converge.apply(PrintedRows(rows), desired, "overridden", check_mode=True, menu_paths=paths,
                            secret_update=secret_update, blocks=plan.blocks if firewall else None)
    entries = []
    for op in result.get("operations") or []:
        menu = menus.MENUS[op["menu"]]
        entry = {"section": menu.section, "menu": menu.path, "key": op["key"], "what": WHAT[op["action"]]}
        if op["action"] == "set":
            entry["fields"] = _fields(menu, rows.get(menu.path) or [], op)
        entries.append(entry)
    return entries


def _fields(menu, rows, op):
    current = next((row for row in rows if menus.owner_key(menu, row) == op["key"]
                    and not reconcile.is_dynamic(row)), {})
    fields = []
    for name in sorted(op["args"]):
        field = name.lstrip("!")
        if field in menu.secrets:
            fields.append({"field": field, "router": SECRET_DIFFERS, "intent": SECRET_DIFFERS})
            continue
        printed = current.get(field)
        if printed is None:
            printed = default_of(menu.path, field)
        wanted = None if name.startswith("!") else op["args"][name]
        fields.append({"field": field, "router": printed, "intent": wanted})
    return fields


# owner-key kinds whose second path segment is the tunnel's name (peer/<tunnel>, policy/<tunnel>/<digest>, ...)
TUNNEL_KEY_KINDS = ("peer", "identity", "policy", "iface", "addr", "route", "ha")


def tunnel_of_key(key):
    """The tunnel an owner key belongs to (``policy/hq-b7/1a2b3c4d`` -> ``hq-b7``), or None for keys
    shared by tunnels (proposals, profiles, firewall rules, ``peer/dynamic``)."""
    parts = str(key).split("/")
    if len(parts) < 2 or parts[0] not in TUNNEL_KEY_KINDS or parts[1] in ("", "dynamic"):
        return None
    return parts[1]


def leftovers(entries, tunnel_names, named=True):
    """What the drift ``entries`` say is owned by the collection but no longer in the intent:
    ``{items: [drift lines], tunnels: [names of tunnels not in the intent that still own items], count,
    named, message}``; ``named``: whether the intent still names the router (site.yml removes the items)
    or not (only playbooks/decommission.yml does). ``message`` is empty when there is nothing left."""
    items = [entry for entry in entries if entry["what"] == WHAT["remove"]]
    tunnels = sorted(set(tunnel_of_key(entry["key"]) for entry in items) - set([None]) - set(tunnel_names))
    result = {"items": describe(items), "tunnels": tunnels, "count": len(items), "named": named, "message": ""}
    if items:
        what = "%d owned item(s)" % len(items)
        if tunnels:
            what += " of tunnel(s) not in the intent (%s)" % ", ".join(tunnels)
        else:
            what += " the intent no longer has"
        result["message"] = what + ("; site.yml removes them" if named else
                                    "; the intent names no tunnel of this router: run playbooks/decommission.yml -l <router>")
    return result


def describe(entries):
    """One line per drift entry, for people."""
    lines = []
    for entry in entries:
        text = "%s %s: %s" % (entry["menu"], entry["key"], entry["what"])
        if entry.get("fields"):
            text += " (" + "; ".join(
                (SECRET_DIFFERS if f["field"] == "secret" else "%s: %s" % (f["field"], SECRET_DIFFERS))
                if f["router"] == SECRET_DIFFERS
                else "%s: router %s, intent %s" % (f["field"], f["router"], f["intent"]) for f in entry["fields"]) + ")"
        lines.append(text)
    return lines
