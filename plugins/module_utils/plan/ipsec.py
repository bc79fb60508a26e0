# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Derivation: validated tunnels -> the desired RouterOS objects of one host (the plan).

A plan is ``{section: [item, ...]}`` with the sections of menus.MENUS_BY_SECTION for the IPsec
menus. Items are dicts of RouterOS argument names with ``_`` for ``-`` and RouterOS print-form string
values (booleans ``true``/``false``, compact durations). Both ends of a tunnel are derived from the
same Tunnel object, so they cannot disagree; ``check_consistency`` proves it on the output.

Keys (ownership tags, see menus.py): profiles ``ipsecfleet-<suite>-<hash>`` (by name), proposals
``proposal/<suite>-<hash>``, peers ``peer/<tunnel>``, identities ``identity/<tunnel>``, policies
``policy/<tunnel>/<hash of the selector>`` — a policy's key depends only on its own selector, so
adding a prefix never renames the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent as intent_model
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import fail
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import route_based

SECTIONS = ("profiles", "policy_groups", "proposals", "peers", "identities", "policies")
# IPsec sections a plan fills, in apply order (menus.APPLY_ORDER)
PLAN_SECTIONS = tuple(menus.MENUS[p].section for p in menus.APPLY_ORDER if menus.MENUS[p].section in SECTIONS)

NAME_PREFIX = menus.OWNER_NAME_PREFIX
# the IP protocol a route-based tunnel's transport policy protects (RouterOS names: GRE 47, IPIP 4)
ROUTE_BASED_PROTOCOL = {"gre": "gre", "ipip": "ipencap"}


def _bool(value):
    return "true" if value else "false"


def _digest(*parts):
    return hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()


def _content_name(label, content):
    """A name that changes exactly when the content does (identical content is shared)."""
    text = "\0".join("%s=%s" % kv for kv in sorted(content.items()))
    return "%s%s-%s" % (NAME_PREFIX, intent_model.generated_name(label), _digest(text)[:6])


def _suite_label(tunnel):
    return tunnel.suite.name if tunnel.suite.preset else "custom"


def _profile(tunnel):
    s = tunnel.suite.profile
    content = {
        "enc_algorithm": ",".join(s["enc_algorithm"]),
        "hash_algorithm": s["hash_algorithm"],
        "prf_algorithm": s["prf_algorithm"],
        "dh_group": ",".join(s["dh_group"]),
        "lifetime": intent_model.format_duration(tunnel.phase1_lifetime),
        "nat_traversal": _bool(tunnel.nat_traversal),
        "dpd_interval": ("disable-dpd" if tunnel.dpd_interval is None
                         else intent_model.format_duration(tunnel.dpd_interval)),
        "dpd_maximum_failures": str(tunnel.dpd_failures),
    }
    if tunnel.ppk_secret is not None:
        content["ppk"] = "psk"
    item = {"name": _content_name(_suite_label(tunnel), content)}
    item.update(content)
    return item


def _proposal(tunnel):
    s = tunnel.suite.proposal
    content = {
        "enc_algorithms": ",".join(s["enc_algorithms"]),
        "auth_algorithms": ",".join(s["auth_algorithms"]),
        "pfs_group": s["pfs_group"],
        "lifetime": intent_model.format_duration(tunnel.phase2_lifetime),
    }
    name = _content_name(_suite_label(tunnel), content)
    item = {"name": name}
    item.update(content)
    item["comment"] = menus.owner_comment("proposal/" + name[len(NAME_PREFIX):], "suite " + tunnel.suite.name)
    return item


def _host_prefix(address):
    return str(ipaddress.ip_network(address))


def peer_name(tunnel):
    return NAME_PREFIX + tunnel.name


def backup_peer_name(tunnel):
    """The watcher's second peer, to the backup end (HA, docs/ha.md)."""
    return NAME_PREFIX + tunnel.name + "-backup"


def _comment_text(tunnel, remote, suffix=""):
    text = "tunnel %s to %s%s" % (tunnel.name, remote.host, suffix)
    if tunnel.description:
        text += ": " + tunnel.description
    return text


def policy_key(tunnel, src, dst):
    return "policy/%s/%s" % (tunnel.name, _digest(str(src), str(dst))[:8])


def _identity(tunnel, local, remote, peer, text, certificate):
    identity = {"peer": peer["name"], "comment": menus.owner_comment("identity/" + tunnel.name, text)}
    if tunnel.auth_method == "certificate":
        # both ends from the same Tunnel: each sends its own ID and expects the other's
        identity.update({"auth_method": "digital-signature", "my_id": "fqdn:" + local.ike_id,
                         "remote_id": "fqdn:" + remote.ike_id, "match_by": "remote-id"})
        if certificate:
            identity["certificate"] = certificate
        return identity
    identity.update({"auth_method": "pre-shared-key", "secret": tunnel.psk})
    return identity


def tunnel_items(tunnel, host, certificate=None):
    """The items one tunnel contributes to ``host``'s plan: a dict section -> list.

    ``certificate``: the name of the host's own certificate (plan/certificates.py) for
    certificate-authenticated tunnels."""
    local, remote = tunnel.side(host)
    profile = _profile(tunnel)
    proposal = _proposal(tunnel)
    watching = tunnel.backup is not None and tunnel.watcher() is local
    suffix = ""
    if tunnel.backup is not None and tunnel.backup.host == host:
        suffix = " (backup of %s)" % tunnel.primary().host
    text = _comment_text(tunnel, remote, suffix)
    if remote.dynamic:
        return _dynamic_items(tunnel, host, local, remote, profile, proposal, text, certificate)
    peer = {
        "name": peer_name(tunnel),
        "address": remote.peer_address(),
        "passive": _bool(local.passive),
        "profile": profile["name"],
        "exchange_mode": tunnel.exchange_mode,
        "comment": menus.owner_comment("peer/" + tunnel.name, text),
    }
    if local.local_address is not None:
        peer["local_address"] = str(local.local_address)
    if tunnel.ppk_secret is not None:
        peer["ppk_secret"] = tunnel.ppk_secret
    identity = _identity(tunnel, local, remote, peer, text, certificate)
    if local.dynamic:
        # a dynamic end sends its ID; the fixed end picks this tunnel's identity by it
        identity.setdefault("my_id", "fqdn:" + local.ike_id)
        identity.setdefault("remote_id", "fqdn:" + remote.ike_id)
    policies = []
    if tunnel.route_based:
        # route-based: one transport-mode policy protecting the GRE/IPIP packets between the two WAN
        # addresses, with the tunnel's own proposal (docs/route-based.md: why not ipsec-secret)
        src, dst = _host_prefix(local.local_address or local.address), _host_prefix(remote.address)
        protocol = ROUTE_BASED_PROTOCOL[tunnel.mode]
        policies.append({
            "peer": peer["name"],
            "tunnel": "false",
            "src_address": src,
            "dst_address": dst,
            "protocol": protocol,
            "action": "encrypt",
            "proposal": proposal["name"],
            "level": tunnel.policy_level,
            "comment": menus.owner_comment(policy_key(tunnel, src, dst), "%s: %s %s -> %s transport"
                                           % (text, tunnel.mode, src, dst)),
        })
    for src, dst in ([] if tunnel.route_based else tunnel.selectors(host)):
        policies.append({
            "peer": peer["name"],
            "tunnel": "true",
            "src_address": str(src),
            "dst_address": str(dst),
            "action": "encrypt",
            "proposal": proposal["name"],
            "level": tunnel.policy_level,
            "comment": menus.owner_comment(policy_key(tunnel, src, dst), "%s: %s -> %s" % (text, src, dst)),
        })
    peers, identities = [peer], [identity]
    if watching:
        # the second peer, always configured; the generated switch scripts (plan/ha.py) move the
        # policies between the two, so a converge accepts either peer on them
        backup_text = "tunnel %s backup to %s" % (tunnel.name, tunnel.backup.host or tunnel.backup.address)
        backup_peer = dict(peer, name=backup_peer_name(tunnel), address=_host_prefix(tunnel.backup.address),
                           comment=menus.owner_comment("peer/%s/backup" % tunnel.name, backup_text))
        peers.append(backup_peer)
        identities.append(dict(identity, peer=backup_peer["name"],
                               comment=menus.owner_comment("identity/%s/backup" % tunnel.name, backup_text)))
        for policy in policies:
            policy[menus.ACCEPTS] = {"peer": [backup_peer["name"]]}
    vrrp = tunnel.vrrp.get(host)
    if vrrp is not None:
        # one router of a VRRP pair: the VRRP scripts (plan/ha.py) enable these on the master and
        # disable them on the backup; the first add follows the priorities (the primary starts enabled)
        start = "false" if tunnel.primary().host == host else "true"
        for item in [peer] + policies:
            item["disabled"] = start
            item.setdefault(menus.ACCEPTS, {})["disabled"] = ["true", "false"]
    return {"profiles": [profile], "proposals": [proposal], "peers": peers, "identities": identities,
            "policies": policies}


DYNAMIC_PEER = NAME_PREFIX + "dynamic"


class _SuiteOnly(object):
    """The parts of a Tunnel that _profile/_proposal read, for items that belong to no tunnel."""

    def __init__(self, suite):
        self.suite = suite
        self.phase1_lifetime = 86400
        self.phase2_lifetime = 1800
        self.nat_traversal = True
        self.dpd_interval = 120
        self.dpd_failures = 5
        self.ppk_secret = None


def suite_profile(suite):
    return _profile(_SuiteOnly(suite))


def suite_proposal(suite):
    return _proposal(_SuiteOnly(suite))


def add_dynamic_peer(sections, host, profile, proposal):
    """Make sure ``sections`` hold the shared passive 0.0.0.0/0 peer (remote access), with ``profile``
    and ``proposal``; an existing one (dynamic spokes) must use the same profile."""
    for section, item in (("profiles", profile), ("proposals", proposal)):
        if not any(existing["name"] == item["name"] for existing in sections.setdefault(section, [])):
            sections[section].append(item)
    peers = sections.setdefault("peers", [])
    current = [p for p in peers if p["name"] == DYNAMIC_PEER]
    if current:
        if current[0]["profile"] != profile["name"]:
            fail("host '%s'" % host, "ipsec_remote_access.suite", "remote access and the dynamic spokes share "
                 "one passive peer, so they need the same suite and lifetimes (profile %s vs %s)"
                 % (profile["name"], current[0]["profile"]))
        return
    peers.append({"name": DYNAMIC_PEER, "address": "0.0.0.0/0", "passive": "true", "profile": profile["name"],
                  "exchange_mode": "ike2",
                  "comment": menus.owner_comment("peer/dynamic", "dynamic peers (matched by IKE ID)")})


def _dynamic_items(tunnel, host, local, remote, profile, proposal, text, certificate):
    """The fixed end of a tunnel to a dynamic end: the shared passive 0.0.0.0/0 peer, this tunnel's
    identity matched by the dynamic end's ID, and its own policy template group, so one dynamic end
    can never get another's policies (generate-policy only from its group's templates)."""
    peer = {"name": DYNAMIC_PEER, "address": "0.0.0.0/0", "passive": "true", "profile": profile["name"],
            "exchange_mode": tunnel.exchange_mode,
            "comment": menus.owner_comment("peer/dynamic", "dynamic peers (matched by IKE ID)")}
    if local.local_address is not None:
        peer["local_address"] = str(local.local_address)
    group = {"name": NAME_PREFIX + tunnel.name}
    identity = _identity(tunnel, local, remote, peer, text, certificate)
    identity.update({"my_id": "fqdn:" + local.ike_id, "remote_id": "fqdn:" + remote.ike_id,
                     "generate_policy": "port-strict", "policy_template_group": group["name"]})
    templates = []
    for src, dst in tunnel.selectors(host):
        templates.append({
            "group": group["name"], "template": "true", "src_address": str(src), "dst_address": str(dst),
            "proposal": proposal["name"], "level": tunnel.policy_level,
            "comment": menus.owner_comment(policy_key(tunnel, src, dst), "%s: template %s -> %s" % (text, src, dst)),
        })
    return {"profiles": [profile], "proposals": [proposal], "peers": [peer], "identities": [identity],
            "policies": templates, "policy_groups": [group]}


def build_plan(host, tunnels, certificate=None):
    """The plan of ``host`` from its validated tunnels (any order; the output order is stable)."""
    plan = dict((section, []) for section in PLAN_SECTIONS)
    shared = {"profiles": {}, "proposals": {}}
    dynamic_peer = None
    for tunnel in sorted(tunnels, key=lambda t: t.name):
        items = tunnel_items(tunnel, host, certificate)
        for section in ("profiles", "proposals"):
            for item in items[section]:
                shared[section].setdefault(item["name"], item)
        plan["policy_groups"].extend(items.get("policy_groups", ()))
        for peer in [p for p in items["peers"] if p["name"] == DYNAMIC_PEER]:
            # one passive 0.0.0.0/0 peer per router (RouterOS keeps address + exchange mode unique)
            if dynamic_peer is not None and peer != dynamic_peer:
                fail(tunnel.scope, "suite", "every tunnel to a dynamic end of %s shares one "
                     "passive peer and so one phase-1 profile; this tunnel's suite or lifetimes "
                     "differ from another such tunnel's" % host)
            if dynamic_peer is not None:
                items["peers"].remove(peer)
            dynamic_peer = peer
        for section in ("peers", "identities", "policies"):
            plan[section].extend(items[section])
    for section in ("profiles", "proposals"):
        plan[section] = [shared[section][name] for name in sorted(shared[section])]
    return plan


def plan_host(host, tunnels, hostvars, topologies=None, groups=None, index=None):
    """Validate the tunnels that end on ``host`` and return its plan (raises IntentError)."""
    if index is None:
        index = intent_model.FleetIndex(tunnels, hostvars, topologies, groups, only_host=host)
    if not intent_model.host_exists(hostvars, host):
        raise intent_model.IntentError("host '%s': not in the inventory" % host)
    return build_plan(host, index.tunnels_of(host))


def validate_fleet(tunnels, hostvars, topologies=None, groups=None):
    """Validate the whole fleet, plan every host that ends a tunnel and prove both ends agree.

    Returns (validated tunnels, {host: plan}); raises IntentError listing every problem.
    """
    index = intent_model.FleetIndex(tunnels, hostvars, topologies, groups)
    validated, per_host = index.validate_all()
    plans = dict((host, build_plan(host, per_host[host])) for host in sorted(per_host))
    check_consistency(validated, plans)
    # route-based tunnels: both ends' interfaces, link addresses and routes agree too
    route_based.check_consistency(validated, dict((host, route_based.build_plan(host, per_host[host]))
                                                  for host in sorted(per_host)))
    return validated, plans


def plan_fleet(tunnels, hostvars, topologies=None, groups=None):
    """Validate the whole fleet and plan every host that ends a tunnel: {host: plan}."""
    return validate_fleet(tunnels, hostvars, topologies, groups)[1]


def summary(tunnels, plans):
    """What a fleet plan contains, without secrets (ipsec_validate's result)."""
    return {
        "tunnels": [{"name": t.name, "a": t.a.host, "b": t.b.host, "suite": t.suite.name,
                     "ike_version": t.ike_version, "origin": t.origin,
                     "selectors": len(t.selectors(t.a.host)),
                     # the addresses each end is reached at (and dials from), for live-state checks
                     "a_address": str(t.a.address), "b_address": str(t.b.address),
                     "a_local_address": str(t.a.local_address) if t.a.local_address else None,
                     "b_local_address": str(t.b.local_address) if t.b.local_address else None}
                    for t in tunnels],
        "hosts": dict((host, dict((section, len(plan[section])) for section in PLAN_SECTIONS))
                      for host, plan in plans.items()),
    }


# --- cross-host consistency ------------------------------------------------------------------------

def _by_comment_key(items):
    out = {}
    for item in items:
        key = menus.owner_key(menus.MENUS_BY_SECTION["peers"], item)
        out[key] = item
    return out


def _strip(item, *names):
    return dict((k, v) for k, v in item.items() if k not in names)


def check_consistency(tunnels, plans):
    """Prove that both ends of every tunnel agree in the planned objects; raise IntentError if not."""
    errors = []
    indexed = {}
    for host, plan in plans.items():
        indexed[host] = dict((section, _by_comment_key(plan.get(section, ())))
                             for section in ("peers", "identities", "policies", "proposals"))
        indexed[host]["profiles"] = dict((p["name"], p) for p in plan.get("profiles", ()))
        indexed[host]["proposal_names"] = dict((p["name"], p) for p in plan.get("proposals", ()))
        policies_by_tunnel = {}
        for key, policy in indexed[host]["policies"].items():
            policies_by_tunnel.setdefault(key.split("/")[1] if key else None, []).append(policy)
        indexed[host]["policies_by_tunnel"] = policies_by_tunnel
    for t in tunnels:
        scope = intent_model.tunnel_scope(t.name, t.origin)
        try:
            ends = []
            for host in (t.a.host, t.b.host):
                idx = indexed[host]
                remote_end = t.side(host)[1]
                peer = idx["peers"]["peer/dynamic" if remote_end.dynamic else "peer/" + t.name]
                identity = idx["identities"]["identity/" + t.name]
                profile = idx["profiles"][peer["profile"]]
                pols = idx["policies_by_tunnel"].get(t.name, [])
                proposals = set(p["proposal"] for p in pols)
                ends.append((host, peer, identity, profile, pols, [idx["proposal_names"][n] for n in proposals]))
        except KeyError as exc:
            errors.append("%s: missing planned item %s" % (scope, exc))
            continue
        (ha, pa, ia, fa, pols_a, props_a), (hb, pb, ib, fb, pols_b, props_b) = ends
        if pa["address"] != t.b.peer_address() or pb["address"] != t.a.peer_address():
            errors.append("%s: peers do not point at each other (%s on %s, %s on %s)"
                          % (scope, pa["address"], ha, pb["address"], hb))
        if _strip(fa, "name") != _strip(fb, "name"):
            errors.append("%s: phase-1 profiles differ between %s and %s" % (scope, ha, hb))
        if [_strip(p, "name", "comment") for p in props_a] != [_strip(p, "name", "comment") for p in props_b] \
                or len(props_a) != 1:
            errors.append("%s: phase-2 proposals differ between %s and %s" % (scope, ha, hb))
        if ia.get("secret") != ib.get("secret") or pa.get("ppk_secret") != pb.get("ppk_secret"):
            errors.append("%s: secrets differ between %s and %s" % (scope, ha, hb))
        if ia["auth_method"] != ib["auth_method"] or ia.get("my_id") != ib.get("remote_id") \
                or ib.get("my_id") != ia.get("remote_id"):
            errors.append("%s: authentication or IKE IDs differ between %s and %s" % (scope, ha, hb))
        if pa["exchange_mode"] != pb["exchange_mode"]:
            errors.append("%s: exchange modes differ between %s and %s" % (scope, ha, hb))
        if pa["passive"] == "true" and pb["passive"] == "true":
            errors.append("%s: both ends passive" % scope)
        sel_a = sorted((p["src_address"], p["dst_address"]) for p in pols_a)
        sel_b = sorted((p["dst_address"], p["src_address"]) for p in pols_b)
        if not sel_a or sel_a != sel_b:
            errors.append("%s: policies of %s and %s are not mirrored" % (scope, ha, hb))
        if t.backup is not None and t.backup.host is not None:
            errors.extend(_backup_consistency(t, scope, indexed))
    if errors:
        raise intent_model.IntentError("; ".join(errors), errors)


def _backup_consistency(t, scope, indexed):
    """The backup router and the watcher's backup peer point at each other with mirrored policies."""
    watcher, backup = t.watcher().host, t.backup.host
    try:
        own = indexed[backup]["peers"]["peer/" + t.name]
        second = indexed[watcher]["peers"]["peer/%s/backup" % t.name]
    except KeyError as exc:
        return ["%s: missing planned item %s" % (scope, exc)]
    errors = []
    if own["address"] != _host_prefix(t.watcher().address) or second["address"] != _host_prefix(t.backup.address):
        errors.append("%s: the backup %s and %s do not point at each other" % (scope, backup, watcher))
    sel_w = sorted((p["src_address"], p["dst_address"]) for p in indexed[watcher]["policies_by_tunnel"].get(t.name, []))
    sel_b = sorted((p["dst_address"], p["src_address"]) for p in indexed[backup]["policies_by_tunnel"].get(t.name, []))
    if not sel_w or sel_w != sel_b:
        errors.append("%s: policies of %s and the backup %s are not mirrored" % (scope, watcher, backup))
    return errors
