# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet: every raw tunnel (explicit and generated) indexed once by name and host, validated per host
or for the whole fleet, and the checks between the tunnels that end on one host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.model import check_name, endpoint_host, normalize_tunnel
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import (
    NAME_MAX,
    IntentError,
    Problems,
    fail,
    is_undefined,
    raise_errors,
    tunnel_scope,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.topologies import expand_topologies
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.values import HostvarsCache

# --- the fleet index -----------------------------------------------------------------------------


class FleetIndex(object):
    """All raw tunnels (explicit and generated), indexed once by name and by host.

    Building it is O(tunnels) and touches only names and endpoint hosts; full validation happens per
    host (``tunnels_of``) or for the whole fleet (``validate_all``).
    """

    def __init__(self, tunnels, hostvars, topologies=None, groups=None, only_host=None):
        """With ``only_host``, the index holds only the tunnels that end on that host (and the checks
        between them): what planning one router needs. Fleet-wide checks (tunnel names unique across
        the fleet) belong to ``validate_all`` on a full index (the ipsec_validate filter)."""
        if tunnels is None:
            tunnels = []
        if is_undefined(tunnels) or not isinstance(tunnels, (list, tuple)):
            raise IntentError("ipsec_tunnels: must be a list of tunnels, got %s" % type(tunnels).__name__)
        self.hostvars = hostvars = HostvarsCache(hostvars)
        entries = [(raw, None) for raw in tunnels] + expand_topologies(topologies, groups, hostvars, only_host)
        self.entries = entries
        self.by_host = {}
        names = {}
        for position, (raw, origin) in enumerate(entries):
            if not isinstance(raw, dict):
                raise IntentError("ipsec_tunnels[%d]: each tunnel must be a mapping, got %s"
                                  % (position, type(raw).__name__))
            name = raw.get("name")
            scope = tunnel_scope(name if isinstance(name, str) else "#%d" % position, origin)
            if name is None:
                fail(scope, "name", "is required")
            check_name(scope, "name", name, NAME_MAX)
            if name in names:
                first = names[name]
                fail(scope, "name", "duplicate tunnel name (also %s)"
                     % ("from topology '%s'" % first if first else "in ipsec_tunnels"))
            names[name] = origin
            hosts = set()
            for side in ("a", "b"):
                hosts.add(endpoint_host(scope, side, raw.get(side)))
            backup = raw.get("backup")
            if isinstance(backup, dict) and isinstance(backup.get("host"), str):
                hosts.add(backup["host"])   # the backup router holds the tunnel too
            if only_host is not None and only_host not in hosts:
                continue
            for host in hosts:
                self.by_host.setdefault(host, []).append(position)

    def hosts(self):
        return sorted(self.by_host)

    def tunnels_of(self, host):
        """Validated tunnels of one host, checked against each other."""
        problems = Problems()
        tunnels = [problems.attempt(normalize_tunnel, self.entries[i][0], self.hostvars, self.entries[i][1])
                   for i in self.by_host.get(host, ())]
        problems.raise_any()
        check_host(host, tunnels)
        return tunnels

    def validate_all(self):
        """Validate every tunnel and every host; raise one IntentError listing every problem."""
        errors = []
        tunnels = {}
        for raw, origin in self.entries:
            try:
                t = normalize_tunnel(raw, self.hostvars, origin)
                tunnels[t.name] = t
            except IntentError as exc:
                errors.extend(exc.errors)
        per_host = {}
        for t in tunnels.values():
            for host in t.hosts:
                per_host.setdefault(host, []).append(t)
        if not errors:
            for host in sorted(per_host):
                try:
                    check_host(host, per_host[host])
                except IntentError as exc:
                    errors.extend(exc.errors)
        if errors:
            raise_errors(errors)
        return [tunnels[name] for name in sorted(tunnels)], per_host


# --- checks across the tunnels of one host ---------------------------------------------------------

def check_host(host, tunnels):
    """Conflicts between tunnels that end on ``host``: selectors and peers."""
    scope = "host '%s'" % host
    peers = {}
    for t in tunnels:
        remote = t.side(host)[1]
        # RouterOS keeps a peer's address and exchange mode unique (routeros_values.UNIQUE_TOGETHER),
        # whatever local address IKE is bound to
        # dynamic ends share the one 0.0.0.0/0 peer (their identities tell them apart, plan/ipsec.py)
        addresses = [] if remote.dynamic else [(remote.address, "%s.address" % ("b" if remote is t.b else "a"))]
        if t.backup is not None and t.watcher() is t.side(host)[0]:
            addresses.append((t.backup.address, "backup"))   # the watcher's second peer
        for address, field in addresses:
            key = (address, t.exchange_mode)
            if key in peers:
                other = peers[key]
                fail(tunnel_scope(t.name, t.origin), field,
                     "host %s already has tunnel '%s' to %s with exchange mode %s; RouterOS cannot tell "
                     "the two peers apart" % (host, other, address, t.exchange_mode))
            peers[key] = t.name
    _check_selector_overlaps(scope, host, [t for t in tunnels if not t.route_based])
    _check_links(host, tunnels)


def _check_links(host, tunnels):
    """Route-based link subnets of one host: disjoint from each other and from every LAN prefix the
    host's tunnels route (its own and the remote ones)."""
    routed = [t for t in tunnels if t.route_based]
    if not routed:
        return
    lans = []
    for t in tunnels:
        local, remote = t.side(host)
        lans.extend((p, t.name) for p in local.prefixes + remote.prefixes)
    seen = []
    for t in sorted(routed, key=lambda t: t.name):
        for other_link, other in seen:
            if other_link.overlaps(t.link):
                fail(tunnel_scope(t.name, t.origin), "tunnel_address", "link subnet %s overlaps %s of tunnel '%s' "
                     "on host %s" % (t.link, other_link, other, host))
        for prefix, owner in lans:
            if prefix.version == 4 and prefix.overlaps(t.link):
                fail(tunnel_scope(t.name, t.origin), "tunnel_address", "link subnet %s overlaps LAN prefix %s "
                     "of tunnel '%s' on host %s" % (t.link, prefix, owner, host))
        seen.append((t.link, t.name))


def _check_selector_overlaps(scope, host, tunnels):
    """Two policies of one host whose source and destination both overlap would race for traffic.

    Sweep over destination ranges sorted by start: only pairs whose destinations overlap are
    compared, so a hub with thousands of disjoint spokes costs O(n log n), not O(n^2).
    """
    items = []
    for t in tunnels:
        for src, dst in t.selectors(host):
            items.append((dst.version, int(dst.network_address), int(dst.broadcast_address),
                          src, dst, t.name))
    items.sort(key=lambda i: (i[0], i[1], -i[2]))
    active = []
    for item in items:
        version, start, end, src, dst, name = item
        active = [o for o in active if o[0] == version and o[2] >= start]
        for other in active:
            if other[3].overlaps(src):
                if other[3] == src and other[4] == dst:
                    what = "duplicate selector %s -> %s" % (src, dst)
                else:
                    what = "overlapping selectors %s -> %s and %s -> %s" % (other[3], other[4], src, dst)
                if other[5] == name:
                    fail(tunnel_scope(name), "prefixes", "%s on host %s" % (what, host))
                fail(scope, "ipsec_tunnels", "%s: tunnels '%s' and '%s' (RouterOS would use only the "
                     "first policy; for two hubs sharing a LAN declare one tunnel with a backup: "
                     "{end: a, host: <second hub>}, docs/ha.md)" % (what, other[5], name))
        active.append(item)
