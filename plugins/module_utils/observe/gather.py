# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gathering: one read-only pass over a router's API (every menu printed in one round trip through
``apply.session.ApiSession.prefetch``), and the pure summaries built on what was read: the state of
each intent tunnel (status rows) and the managed configuration with secrets masked.

``read_state(session)`` is the only function that talks to a router; everything else takes its
output (a dict, ``STATE_KEYS``) so that tests and the report work on recorded state.

Kept Python 3.8+ compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import diagnosis
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan

# state key -> RouterOS menu printed (configuration and live state; all read-only prints)
CONFIG_MENUS = tuple((menus.MENUS[p].section, p) for p in menus.APPLY_ORDER)
RUNTIME_MENUS = (
    ("active_peers", "/ip/ipsec/active-peers"),
    ("installed_sa", "/ip/ipsec/installed-sa"),
    ("statistics", "/ip/ipsec/statistics"),
    ("log", "/log"),
    ("addresses_rows", "/ip/address"),
    ("resource", "/system/resource"),
)
# menus the audit reads; a router (or the lab) without one answers with a trap, recorded in unreadable
AUDIT_MENUS = (
    ("services", "/ip/service"),
    ("logging", "/system/logging"),
    ("pptp_server", "/interface/pptp-server/server"),
    ("l2tp_server", "/interface/l2tp-server/server"),
)
STATE_KEYS = tuple(k for k, _p in CONFIG_MENUS + RUNTIME_MENUS + AUDIT_MENUS)
SINGLETONS = ("statistics", "resource")


def read_state(session, log_lines=50, audit_menus=True):
    """Print every menu of ``CONFIG_MENUS``/``RUNTIME_MENUS`` (and ``AUDIT_MENUS``) once over ``session``
    (an ApiSession; nothing is written). Returns the state dict: rows by key (all items, owned or
    not), ``statistics``/``resource`` as one dict, ``log`` the last ``log_lines`` lines of topic
    ipsec, ``addresses`` this router's addresses, ``unreadable`` {menu: error text}."""
    wanted = list(CONFIG_MENUS + RUNTIME_MENUS + (AUDIT_MENUS if audit_menus else ()))
    session.prefetch([p for _k, p in wanted])
    state = {"unreadable": {}}
    for key, path in wanted:
        try:
            rows = session.read(path)
        except Exception as error:  # a trap (no such menu, not permitted) or a lost connection
            state["unreadable"][path] = str(error)
            state[key] = None
            continue
        state[key] = rows
    for key in SINGLETONS:
        rows = state.get(key)
        state[key] = dict(rows[0]) if rows else ({} if rows is not None else None)
    state["log"] = diagnosis.ipsec_log(state.get("log") or [])[-log_lines:] if log_lines else []
    state["addresses"] = sorted(set(_host(row.get("address")) for row in state.pop("addresses_rows") or ()
                                    if row.get("address")))
    return state


def _host(address):
    return diagnosis._host(address)


def _truthy(value):
    return str(value).lower() in ("true", "yes")


def managed_config(state):
    """The owned items of every managed menu in module format, secrets masked (what gathered shows)."""
    config = {}
    for section, path in CONFIG_MENUS:
        rows = state.get(section) or []
        menu = menus.MENUS[path]
        config[section] = [reconcile.to_module_item(menu, row) for row in rows if reconcile.row_is_owned(menu, row)]
    return config


def masked_state(state):
    """``state`` safe to return or write to a report: every secret of every item (owned or not) masked."""
    safe = dict(state)
    for section, path in CONFIG_MENUS:
        menu = menus.MENUS[path]
        if state.get(section) is not None and menu.secrets:
            safe[section] = [reconcile.mask_item(menu, row) for row in state[section]]
    return safe


def audit_view(state):
    """The keys observe.audit.audit_router reads."""
    return {"profiles": state.get("profiles"), "proposals": state.get("proposals"), "peers": state.get("peers"),
            "identities": state.get("identities"), "policies": state.get("policies"),
            "services": state.get("services"), "logging": state.get("logging"),
            "pptp_server": _as_rows(state.get("pptp_server")), "l2tp_server": _as_rows(state.get("l2tp_server"))}


def _as_rows(value):
    if value is None or isinstance(value, list):
        return value
    return [value]


def sa_row(sa):
    """The installed-sa facts the status and RETURN show (no keys)."""
    return {"spi": sa.get("spi"), "src_address": sa.get("src-address"), "dst_address": sa.get("dst-address"),
            "state": sa.get("state"), "enc_algorithm": sa.get("enc-algorithm"), "enc_key_size": sa.get("enc-key-size"),
            "auth_algorithm": sa.get("auth-algorithm"), "bytes": _int(sa.get("current-bytes")),
            "packets": _int(sa.get("current-packets")), "addtime": sa.get("addtime"), "expires_in": sa.get("expires-in"),
            "hw_aead": _truthy(sa.get("hw-aead"))}


def _int(value):
    try:
        return int(str(value or "0"))
    except ValueError:
        return 0


def tunnel_status(state, host, tunnels, findings=()):
    """One row per intent tunnel ending on ``host``: the IKE peer's state and uptime, the SAs both ways
    and their bytes, the policies' ph2-state, the last ipsec error naming the peer and the diagnosis.

    ``tunnels``: the host's intent.Tunnel objects (HostPlan.tunnels); ``findings``: diagnosis findings.
    A tunnel is ``up`` when its peer is established, every policy's ph2-state is established and
    SAs are installed in and out."""
    rows = []
    peers = state.get("active_peers") or []
    sas = state.get("installed_sa") or []
    policies = state.get("policies") or []
    log = state.get("log") or []
    for tunnel in sorted(tunnels, key=lambda t: t.name):
        local, remote = tunnel.side(host)
        local_address = str(local.local_address or local.address)
        remote_address = str(remote.address)
        name = ipsec_plan.peer_name(tunnel)
        ike = [p for p in peers if _host(p.get("remote-address")) == remote_address]
        up_ike = [p for p in ike if p.get("state") == "established"]
        shown = (up_ike or ike or [{}])[0]
        own_policies = [p for p in policies if p.get("peer") == name and not _truthy(p.get("template"))]
        ph2 = [p.get("ph2-state") or "no-phase2" for p in own_policies]
        sa_in = [s for s in sas if _host(s.get("src-address")) == remote_address]
        sa_out = [s for s in sas if _host(s.get("dst-address")) == remote_address]
        errors = [line for line in log if "error" in str(line.get("topics", ""))
                  and (remote_address in line.get("message", "") or name in line.get("message", ""))]
        # findings naming no peer (a notify without an address) may concern any tunnel not up
        mine = [f for f in findings if f.get("peer") in (remote_address, name, None)]
        configured = any(p.get("name") == name for p in state.get("peers") or [])
        if not configured:
            mine = [diagnosis.finding("not_configured", ["no /ip ipsec peer %s on %s" % (name, host)],
                                      peer=remote_address)] + mine
        best = diagnosis.primary(mine)
        up = bool(up_ike) and bool(ph2) and all(s == "established" for s in ph2) and bool(sa_in) and bool(sa_out)
        rows.append({
            "router": host, "tunnel": tunnel.name, "peer": name, "remote_host": remote.host,
            "local_address": local_address, "remote_address": remote_address,
            "state": shown.get("state", "absent") if configured else "not configured",
            "up": up, "uptime": shown.get("uptime", "-"),
            "ph2_states": ph2, "sas_in": len(sa_in), "sas_out": len(sa_out),
            "bytes_in": sum(_int(s.get("current-bytes")) for s in sa_in),
            "bytes_out": sum(_int(s.get("current-bytes")) for s in sa_out),
            "algorithms": sorted(set("%s %s, auth %s" % (s.get("enc-algorithm"), s.get("enc-key-size"), s.get("auth-algorithm"))
                                     for s in sa_in + sa_out)),
            "last_error": errors[-1].get("message") if errors else None,
            "diagnosis": None if up else (best["title"] if best else None),
            "cause": None if up else (best["cause"] if best else None),
            "fix": None if up else (best["fix"] if best else None),
        })
    return rows


def selectors_of(host, tunnels):
    """(local, remote) prefix pairs of the host's tunnels, as strings."""
    return [(str(src), str(dst)) for t in tunnels for src, dst in t.selectors(host)]
