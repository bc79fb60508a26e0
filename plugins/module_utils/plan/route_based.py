# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Route-based tunnels (``mode: gre`` / ``mode: ipip``): the tunnel interface, its link address and
the static routes to the remote prefixes, for one host (pure functions, no router access).

What protects the GRE/IPIP packets is an owned IPsec transport-mode policy between the two WAN
addresses (plan/ipsec.py ``tunnel_items``), not the interface's ``ipsec-secret``: with the secret
RouterOS creates a dynamic peer, identity and policy with its own phase-2 defaults (sha1/aes128cbc,
MikroTik manual), outside the tunnel's crypto suite, invisible to ownership and the audit. The
interface's fast path is off (the manual: ``allow-fast-path`` must be disabled when IPsec protects the
tunnel), so every encapsulated packet meets the IPsec policy lookup.

Items per tunnel (keys after ``ipsecfleet:``):

    gre_interfaces / ipip_interfaces  ``iface/<tunnel>``        name ipsecfleet-<tunnel>
    ip_addresses                      ``addr/<tunnel>``         the link address (/30 or /31)
    routes                            ``route/<tunnel>/<hash>`` one per remote prefix, via the far
                                                                link address, distance, check-gateway

Both ends come from the same ``Tunnel``: a takes the link's first usable address, b the second, and
each routes the other's prefixes to the other's link address (``check_consistency`` proves it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent as intent_model
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import mtu as mtu_math

INTERFACE_SECTION = {"gre": "gre_interfaces", "ipip": "ipip_interfaces"}
SECTIONS = ("gre_interfaces", "ipip_interfaces", "ip_addresses", "routes")


def interface_name(tunnel):
    return menus.OWNER_NAME_PREFIX + tunnel.name


def tunnel_mtu(tunnel):
    """(mtu, explanation) of the tunnel interface: the configured one, or the worst ESP transform of
    the suite over ``wan_mtu`` (plan/mtu.py). Raises IntentError naming the tunnel."""
    if tunnel.tunnel_mtu is not None:
        return tunnel.tunnel_mtu, "set explicitly (tunnel_mtu)"
    proposal = tunnel.suite.proposal
    try:
        return mtu_math.worst_tunnel_mtu(tunnel.wan_mtu, tunnel.mode, proposal["enc_algorithms"],
                                         proposal["auth_algorithms"], tunnel.nat_traversal)
    except mtu_math.MtuError as exc:
        raise intent_model.IntentError("%s: field 'wan_mtu': %s" % (tunnel.scope, exc))


def _keepalive(tunnel):
    seconds, retries = tunnel.keepalive
    return "%s,%d" % (intent_model.format_duration(seconds), retries)


def route_key(tunnel, prefix):
    return "route/%s/%s" % (tunnel.name, hashlib.sha1(str(prefix).encode("utf-8")).hexdigest()[:8])


def tunnel_items(tunnel, host):
    """The route-based items of one tunnel on ``host``: {section: [item]} (empty for policy mode)."""
    if not tunnel.route_based:
        return {}
    local, remote = tunnel.side(host)
    local_link, remote_link = tunnel.link_side(host)
    text = "tunnel %s to %s" % (tunnel.name, remote.host)
    if tunnel.description:
        text += ": " + tunnel.description
    name = interface_name(tunnel)
    mtu, _why = tunnel_mtu(tunnel)
    interface = {
        "name": name,
        "remote_address": str(remote.address),
        "local_address": str(local.local_address or local.address),
        "mtu": str(mtu),
        "allow_fast_path": "false",
        "clamp_tcp_mss": "true",
        "keepalive": _keepalive(tunnel),
        "comment": menus.owner_comment("iface/" + tunnel.name, text),
    }
    address = {
        "address": str(local_link),
        "interface": name,
        "comment": menus.owner_comment("addr/" + tunnel.name, "%s: link %s" % (text, tunnel.link)),
    }
    routes = []
    for prefix in sorted(remote.prefixes):
        routes.append({
            "dst_address": str(prefix),
            "gateway": str(remote_link),
            "distance": str(tunnel.route_distance),
            "check_gateway": tunnel.check_gateway,
            "comment": menus.owner_comment(route_key(tunnel, prefix), "%s: %s" % (text, prefix)),
        })
    return {INTERFACE_SECTION[tunnel.mode]: [interface], "ip_addresses": [address], "routes": routes}


def build_plan(host, tunnels):
    """The route-based sections of ``host`` from its validated tunnels (stable order)."""
    plan = dict((section, []) for section in SECTIONS)
    for tunnel in sorted(tunnels, key=lambda t: t.name):
        for section, items in tunnel_items(tunnel, host).items():
            plan[section].extend(items)
    return plan


def notes(host, tunnels):
    """Per tunnel: interface, link address, MTU and why (what ipsec_site reports)."""
    out = {}
    for tunnel in sorted(tunnels, key=lambda t: t.name):
        if not tunnel.route_based:
            continue
        local_link, remote_link = tunnel.link_side(host)
        mtu, why = tunnel_mtu(tunnel)
        out[tunnel.name] = {"interface": interface_name(tunnel), "mode": tunnel.mode,
                            "address": str(local_link), "gateway": str(remote_link), "mtu": mtu,
                            "mtu_explanation": why, "mss": mtu_math.mss_for_mtu(mtu)}
    return out


def check_consistency(tunnels, plans):
    """Both ends of every route-based tunnel agree: same link subnet, each routes the other's prefixes
    to the other's address, the interfaces point at each other. ``plans``: {host: route-based plan}."""
    errors = []
    for t in tunnels:
        if not t.route_based:
            continue
        section = INTERFACE_SECTION[t.mode]
        ends = {}
        for host in (t.a.host, t.b.host):
            plan = plans.get(host, {})
            key = "iface/" + t.name
            iface = [i for i in plan.get(section, ()) if menus.owner_key(menus.MENUS_BY_SECTION[section], i) == key]
            addr = [i for i in plan.get("ip_addresses", ()) if i["interface"] == interface_name(t)]
            routes = [i for i in plan.get("routes", ()) if i["comment"].startswith(
                menus.OWNER_COMMENT_PREFIX + "route/%s/" % t.name)]
            if len(iface) != 1 or len(addr) != 1:
                errors.append("%s: host %s lacks its tunnel interface or link address" % (t.scope, host))
                break
            ends[host] = (iface[0], addr[0], routes)
        if len(ends) != 2:
            continue
        (ia, aa, ra), (ib, ab, rb) = ends[t.a.host], ends[t.b.host]
        ip_a, ip_b = aa["address"].split("/")[0], ab["address"].split("/")[0]
        if aa["address"].split("/")[1] != ab["address"].split("/")[1] or ip_a == ip_b:
            errors.append("%s: link addresses %s and %s do not form one link" % (t.scope, aa["address"], ab["address"]))
        if ia["remote_address"] != ib["local_address"] or ib["remote_address"] != ia["local_address"]:
            errors.append("%s: tunnel interfaces do not point at each other" % t.scope)
        if ia["mtu"] != ib["mtu"]:
            errors.append("%s: interface MTUs differ (%s, %s)" % (t.scope, ia["mtu"], ib["mtu"]))
        if any(r["gateway"] != ip_b for r in ra) or any(r["gateway"] != ip_a for r in rb):
            errors.append("%s: routes do not point at the far link address" % t.scope)
        if sorted(r["dst_address"] for r in ra) != sorted(str(p) for p in t.b.prefixes) or \
                sorted(r["dst_address"] for r in rb) != sorted(str(p) for p in t.a.prefixes):
            errors.append("%s: each end must route the other's prefixes" % t.scope)
    if errors:
        raise intent_model.IntentError("; ".join(errors), errors)
