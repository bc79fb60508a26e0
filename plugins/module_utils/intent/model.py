# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The normalised intent: ``Endpoint`` and ``Tunnel``, and ``normalize_tunnel`` that validates one raw
tunnel mapping against the hosts it names. Every feature builder of the planner reads these objects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import (
    AUTH_KEYS,
    AUTH_METHODS,
    BACKUP_BY_NAME,
    FAILOVER_BY_NAME,
    VRRP_BY_NAME,
    ENDPOINT_BY_NAME,
    FAILED,
    FEATURE_VERSIONS,
    FQDN_RE,
    NAME_RE,
    NAME_MAX,
    ROUTE_BASED_MODES,
    TUNNEL_BY_NAME,
    Problems,
    check_field,
    check_known,
    check_type,
    IntentError,
    fail,
    is_undefined,
    tunnel_scope,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.values import (
    MISSING,
    HostVarRef,
    check_secret,
    host_exists,
    host_var,
    host_version,
    parse_address,
    parse_prefix,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import format_duration

# --- normalised objects ----------------------------------------------------------------------------


class Endpoint(object):
    """One validated end of a tunnel."""

    __slots__ = ("host", "prefixes", "address", "local_address", "passive", "version", "ike_id", "dynamic",
                 "dns_name")

    def __init__(self, host, prefixes, address, local_address, passive, version, ike_id=None, dynamic=False,
                 dns_name=None):
        self.host = host
        self.prefixes = tuple(prefixes)
        self.address = address
        self.local_address = local_address
        self.passive = passive
        self.version = version
        self.ike_id = ike_id or host     # the FQDN this end sends as its IKE ID (certificate auth)
        # no fixed WAN address (``address`` is then 0.0.0.0): the other end answers on a 0.0.0.0/0 peer
        self.dynamic = dynamic
        self.dns_name = dns_name         # what the other end's peer points at instead of the address

    def peer_address(self):
        """What the other end's peer ``address`` is: the DNS name, the /32 or /128, or 0.0.0.0/0."""
        if self.dynamic:
            return "0.0.0.0/0"
        if self.dns_name:
            return self.dns_name
        return str(ipaddress.ip_network(self.address))


class Backup(object):
    """A tunnel's backup for one end: another router (``host``/``endpoint``) or a second address."""

    __slots__ = ("end", "host", "endpoint", "address")

    def __init__(self, end, host, endpoint, address):
        self.end = end              # "a" or "b": the end the backup stands in for
        self.host = host            # a second router, or None
        self.endpoint = endpoint    # that router's Endpoint (the end's prefixes, its own WAN address)
        self.address = address      # the backup remote address the other end's backup peer points at


class Failover(object):
    """How the watching end detects the loss of the primary (seconds) and whether it fails back."""

    __slots__ = ("detect", "health_address", "interval", "timeout", "preempt")

    def __init__(self, detect, health_address, interval, timeout, preempt):
        self.detect = detect
        self.health_address = health_address
        self.interval = interval
        self.timeout = timeout
        self.preempt = preempt


class Vrrp(object):
    """A router's VRRP pair settings (host var ``ipsec_vrrp``)."""

    __slots__ = ("group", "interface", "vrid", "priority", "interval", "preempt")

    def __init__(self, group, interface, vrid, priority, interval, preempt):
        self.group = group
        self.interface = interface
        self.vrid = vrid
        self.priority = priority
        self.interval = interval    # seconds
        self.preempt = preempt


class Tunnel(object):
    """One validated tunnel; ``a`` and ``b`` are Endpoints, ``backup``/``failover`` None or HA settings."""

    def __init__(self, **values):
        self.name = values["name"]
        self.origin = values.get("origin")
        self.a = values["a"]
        self.b = values["b"]
        self.suite = values["suite"]
        self.psk = values["psk"]
        # "psk" or "certificate" (digital-signature with the fleet CA's certificates)
        self.auth_method = values.get("auth_method", "psk")
        self.ike_version = values["ike_version"]
        self.exchange_mode = values["exchange_mode"]
        self.phase1_lifetime = values["phase1_lifetime"]
        self.phase2_lifetime = values["phase2_lifetime"]
        self.dpd_interval = values["dpd_interval"]      # seconds, None when disabled
        self.dpd_failures = values["dpd_failures"]
        self.nat_traversal = values["nat_traversal"]
        self.allow_weak_crypto = values["allow_weak_crypto"]
        self.policy_level = values["policy_level"]
        self.ppk_secret = values["ppk_secret"]
        self.description = values["description"]
        self.backup = values.get("backup")
        self.failover = values.get("failover")
        self.vrrp = values.get("vrrp") or {}            # host -> Vrrp of the ends in a VRRP pair
        # the weak choices allow_weak_crypto accepted (reasons, for a warning on every run)
        self.weak_crypto = list(values.get("weak_crypto") or ())
        # route-based (mode gre/ipip): the link subnet and what the interface and routes need
        self.mode = values.get("mode", "policy")
        self.link = values.get("link")                  # IPv4Network /30 or /31, None for policy
        self.keepalive = values.get("keepalive")        # (seconds, retries)
        self.route_distance = values.get("route_distance", 1)
        self.check_gateway = values.get("check_gateway", "ping")
        self.wan_mtu = values.get("wan_mtu", 1500)
        self.tunnel_mtu = values.get("tunnel_mtu")      # int, or None for auto

    @property
    def scope(self):
        return tunnel_scope(self.name, self.origin)

    @property
    def hosts(self):
        """Every router the tunnel is configured on (a backup router included)."""
        hosts = [self.a.host, self.b.host]
        if self.backup is not None and self.backup.host is not None:
            hosts.append(self.backup.host)
        return hosts

    def watcher(self):
        """The end that is not backed up: it keeps a peer to the primary and one to the backup."""
        if self.backup is None:
            return None
        return self.b if self.backup.end == "a" else self.a

    def primary(self):
        """The backed-up end (the primary), or None."""
        if self.backup is None:
            return None
        return self.a if self.backup.end == "a" else self.b

    @property
    def route_based(self):
        return self.mode in ROUTE_BASED_MODES

    def link_addresses(self):
        """(a's, b's) interface addresses on the link subnet (ip_interface with the link's length)."""
        hosts = link_hosts(self.link)
        return tuple(ipaddress.ip_interface("%s/%d" % (h, self.link.prefixlen)) for h in hosts)

    def link_side(self, host):
        """(local interface address, remote address) on the link, as seen from ``host``."""
        a, b = self.link_addresses()
        return (a, b.ip) if self.a.host == host else (b, a.ip)

    def side(self, host):
        """(local, remote) endpoints as seen from ``host``."""
        if self.a.host == host:
            return self.a, self.b
        if self.b.host == host:
            return self.b, self.a
        if self.backup is not None and self.backup.host == host:
            return self.backup.endpoint, self.watcher()
        raise KeyError(host)

    def selectors(self, host):
        """(local prefix, remote prefix) pairs of the same family, in a stable order."""
        local, remote = self.side(host)
        pairs = [(lp, rp) for lp in local.prefixes for rp in remote.prefixes if lp.version == rp.version]
        return sorted(pairs, key=lambda p: (p[0].version, p[0], p[1]))


def link_hosts(link):
    """The two usable addresses of a /30 (network+1, network+2) or /31 (both, RFC 3021)."""
    base = link.network_address
    return (base, base + 1) if link.prefixlen == 31 else (base + 1, base + 2)


# --- endpoint and tunnel normalisation ------------------------------------------------------------

DYNAMIC = object()   # an end whose address is `dynamic`


def endpoint_host(scope, field, raw):
    """The inventory host an endpoint names (string form or mapping form)."""
    if is_undefined(raw) or raw is None:
        fail(scope, field, "is required (an inventory hostname or a mapping with 'host')")
    if isinstance(raw, str):
        host = raw
    elif isinstance(raw, dict):
        if "host" not in raw:
            fail(scope, field + ".host", "is required")
        host = raw["host"]
        if not isinstance(host, str):
            fail(scope, field + ".host", "must be an inventory hostname string, got %s" % type(host).__name__)
    else:
        fail(scope, field, "must be an inventory hostname or a mapping, got %s" % type(raw).__name__)
    if not host.strip():
        fail(scope, field, "names no host")
    return host


def _normalize_endpoint(scope, field, raw, hostvars):
    host = endpoint_host(scope, field, raw)
    spec = raw if isinstance(raw, dict) else {"host": host}
    problems = Problems()
    problems.attempt(check_known, scope, dict((field + "." + str(k), v) for k, v in spec.items()),
                     set(field + "." + k for k in ENDPOINT_BY_NAME), "endpoint")
    if not host_exists(hostvars, host):
        problems.add(scope, field + ".host", "unknown inventory host %r" % host)
        problems.raise_any()
    prefixes = problems.attempt(_endpoint_prefixes, scope, field, spec, hostvars, host)
    address = problems.attempt(_endpoint_address, scope, field, spec, hostvars, host)
    dynamic = address is DYNAMIC
    if dynamic:
        address = ipaddress.ip_address("0.0.0.0")   # what the address family checks see
    local_address = None
    if spec.get("local_address") is not None:
        local_address = problems.attempt(parse_address, scope, field + ".local_address", spec["local_address"])
        if Problems.ok(local_address, address) and local_address.version != address.version:
            problems.add(scope, field + ".local_address", "is IPv%d but the tunnel runs over IPv%d (address %s)"
                         % (local_address.version, address.version, address))
    passive = problems.attempt(check_field, scope, ENDPOINT_BY_NAME["passive"], spec.get("passive"),
                               field + ".passive")
    if Problems.ok(prefixes, address) and not dynamic:
        # the router's own IKE/ESP packets must not fall under its policies or its LAN
        for net in prefixes:
            if net.version == address.version and address in net:
                problems.add(scope, field + ".prefixes", "%s contains this end's own WAN address %s: IKE and "
                             "ESP between the routers would match the tunnel's policy; give the LAN "
                             "prefixes without the WAN address" % (net, address))
    ike_id = problems.attempt(_endpoint_ike_id, scope, field, hostvars, host)
    dns_name = problems.attempt(_endpoint_dns_name, scope, field, spec, hostvars, host)
    if dynamic:
        if passive is True:
            problems.add(scope, field + ".passive", "a dynamic end has no address to be reached at: it must "
                         "initiate (remove passive)")
        if dns_name:
            problems.add(scope, field + ".dns_name", "a dynamic end cannot be reached by name either")
    problems.raise_any()
    return Endpoint(host, prefixes, address, local_address, passive, host_version(hostvars, host), ike_id,
                    dynamic=dynamic, dns_name=dns_name)


def _endpoint_dns_name(scope, field, spec, hostvars, host):
    if spec.get("dns_name") is not None:
        value, label = spec["dns_name"], field + ".dns_name"
    else:
        value = host_var(hostvars, host, "ipsec_dns_name")
        if value is MISSING or value in (None, ""):
            return None
        label = "%s.dns_name (host var ipsec_dns_name of %s)" % (field, host)
    value = check_type(scope, label, "str", value)
    if not FQDN_RE.match(value) or "." not in value or value.replace(".", "").isdigit():
        fail(scope, label, "%r is not a DNS name" % value)
    return value


def _endpoint_ike_id(scope, field, hostvars, host):
    ike_id = host_var(hostvars, host, "ipsec_ike_id")
    if ike_id is MISSING or ike_id in (None, ""):
        return host
    label = "%s (host var ipsec_ike_id of %s)" % (field, host)
    ike_id = check_type(scope, label, "str", ike_id)
    if not FQDN_RE.match(ike_id):
        fail(scope, label, "%r is not a DNS name (letters, digits, '-' and '.')" % ike_id)
    return ike_id


def _endpoint_prefixes(scope, field, spec, hostvars, host):
    if "prefixes" in spec:
        prefixes_raw, where = spec["prefixes"], field + ".prefixes"
    else:
        prefixes_raw, where = host_var(hostvars, host, "ipsec_lan_prefixes"), None
        if prefixes_raw is MISSING or prefixes_raw is None:
            fail(scope, field + ".prefixes", "not given and host '%s' has no ipsec_lan_prefixes" % host)
    label = where or ("%s.prefixes (host var ipsec_lan_prefixes of %s)" % (field, host))
    if isinstance(prefixes_raw, str):
        fail(scope, label, "must be a list of prefixes, got a string (write [%s])" % prefixes_raw)
    prefixes_raw = check_type(scope, label, "list", prefixes_raw)
    if not prefixes_raw:
        fail(scope, label, "is empty; at least one prefix is needed")
    problems = Problems()
    prefixes = []
    for i, p in enumerate(prefixes_raw):
        net = problems.attempt(parse_prefix, scope, "%s[%d]" % (label, i), p)
        if net is FAILED:
            continue
        for other in prefixes:
            if other == net:
                problems.add(scope, label, "lists %s twice" % net)
            elif other.version == net.version and other.overlaps(net):
                problems.add(scope, label, "%s and %s overlap" % (other, net))
        prefixes.append(net)
    problems.raise_any()
    return prefixes


def _endpoint_address(scope, field, spec, hostvars, host):
    if "address" in spec:
        if spec["address"] == "dynamic":
            return DYNAMIC
        return parse_address(scope, field + ".address", spec["address"])
    address_raw = host_var(hostvars, host, "ipsec_wan_address")
    if address_raw is MISSING or address_raw in (None, ""):
        fail(scope, field + ".address", "not given and host '%s' has no ipsec_wan_address" % host)
    if address_raw == "dynamic":
        return DYNAMIC
    return parse_address(scope, "%s.address (host var ipsec_wan_address of %s)" % (field, host), address_raw)


def check_name(scope, field, value, maximum):
    if not isinstance(value, str):
        fail(scope, field, "must be a string, got %s" % type(value).__name__)
    if not value:
        fail(scope, field, "is empty")
    if len(value) > maximum:
        fail(scope, field, "%r is longer than %d characters" % (value, maximum))
    if not NAME_RE.match(value):
        fail(scope, field, "%r may only contain a-z, 0-9 and '-' (not at the ends)" % (value,))
    return value


def normalize_tunnel(raw, hostvars, origin=None):
    """Validate one raw tunnel mapping against the hosts it names; return a Tunnel.

    Every problem of the tunnel is reported in one IntentError (``errors``), each naming the tunnel and
    the field; a check that needs a value that failed is skipped rather than reported twice."""
    if not isinstance(raw, dict):
        raise IntentError("ipsec_tunnels: each tunnel must be a mapping, got %s" % type(raw).__name__)
    name = raw.get("name")
    scope = tunnel_scope(name if isinstance(name, str) else "?", origin)
    if "name" not in raw:
        fail(scope, "name", "is required")
    check_name(scope, "name", name, NAME_MAX)
    problems = Problems()
    problems.attempt(check_known, scope, raw, TUNNEL_BY_NAME, "tunnel")
    field = TUNNEL_BY_NAME.__getitem__

    def value(key):
        return problems.attempt(check_field, scope, field(key), raw.get(key))

    endpoints = {}
    for side in ("a", "b"):
        if raw.get(side) is None:
            problems.add(scope, side, "is required")
            endpoints[side] = FAILED
        else:
            endpoints[side] = problems.attempt(_normalize_endpoint, scope, side, raw[side], hostvars)
    a, b = endpoints["a"], endpoints["b"]
    if Problems.ok(a, b):
        problems.attempt(_check_pair, scope, a, b)

    ike_version = value("ike_version")
    exchange_mode = problems.attempt(_exchange_mode, scope, raw.get("exchange_mode"), ike_version)
    suite = problems.attempt(_suite, scope, raw.get("suite"), ike_version)
    phase1 = value("phase1_lifetime")
    phase2 = value("phase2_lifetime")
    if Problems.ok(phase1, phase2) and phase2 > phase1 and ike_version == 1:
        # IKEv1 rekeys phase 2 under a live phase 1; a longer child SA outlives its parent
        problems.add(scope, "phase2_lifetime", "is longer than phase1_lifetime (%s > %s)"
                     % (format_duration(phase2), format_duration(phase1)))
    dpd_interval = value("dpd_interval")         # seconds, None when disabled
    dpd_failures = value("dpd_failures")
    nat_traversal = value("nat_traversal")
    allow_weak = value("allow_weak_crypto")
    level = value("policy_level")

    weak = []
    if Problems.ok(suite, phase2):
        weak = crypto_suites.weaknesses(suite, phase2)
        if weak and allow_weak is False:
            for where, reason in weak:
                problems.add(scope, where if where == "phase2_lifetime" else "suite." + where,
                             "%s; set allow_weak_crypto: true to accept it" % reason)
    if suite is not FAILED:
        for endpoint in (a, b):
            if endpoint is not FAILED and endpoint.version is not None:
                for where, reason in crypto_suites.version_problems(suite, endpoint.version):
                    problems.add(scope, "suite." + where, "%s (host %s runs %s)"
                                 % (reason, endpoint.host, ".".join(str(v) for v in endpoint.version)))

    auth_method = "psk"
    if raw.get("auth") is None:
        problems.add(scope, "auth", "is required")
        psk = FAILED
    else:
        auth = problems.attempt(_auth, scope, raw["auth"], hostvars)
        auth_method, psk = auth if auth is not FAILED else ("psk", FAILED)
    if Problems.ok(a, b) and (a.dynamic or b.dynamic):
        # the fixed end tells dynamic ends apart by the ID they send (remote-id), an IKEv2 exchange
        if ike_version not in (2, FAILED):
            problems.add(scope, "ike_version", "a dynamic end needs IKEv2 (it is matched by its IKE ID)")
        if a.ike_id == b.ike_id:
            problems.add(scope, "b (host var ipsec_ike_id of %s)" % b.host, "both ends have the IKE ID %r" % a.ike_id)
        for unsupported in ("backup", "mode"):
            if raw.get(unsupported) not in (None, "policy"):
                problems.add(scope, unsupported, "is not supported with a dynamic end yet")
    if auth_method == "certificate":
        if ike_version not in (2, FAILED):
            problems.add(scope, "auth.method", "certificate authentication is built for IKEv2 (ike_version: 2)")
        if Problems.ok(a, b) and a.ike_id == b.ike_id and not (a.dynamic or b.dynamic):
            problems.add(scope, "b (host var ipsec_ike_id of %s)" % b.host, "both ends have the IKE ID %r" % a.ike_id)

    ppk_secret = raw.get("ppk_secret")
    if ppk_secret is not None:
        ppk_secret = problems.attempt(check_secret, scope, "ppk_secret", ppk_secret)
        if ike_version not in (2, FAILED):
            problems.add(scope, "ppk_secret", "PPK exists only in IKEv2")
        if ppk_secret is not FAILED and psk is not None and ppk_secret == psk:
            problems.add(scope, "ppk_secret", "must differ from the PSK")
        problems.attempt(_require_feature, scope, "ppk_secret", "ppk", [e for e in (a, b) if e is not FAILED])

    description = value("description")
    if isinstance(description, str) and any(ord(c) < 32 or ord(c) == 127 for c in description):
        problems.add(scope, "description", "must be printable characters on one line")

    backup = failover = vrrp = FAILED
    if Problems.ok(a, b):
        backup = problems.attempt(_normalize_backup, scope, raw.get("backup"), hostvars, a, b)
    if backup is not FAILED:
        failover = problems.attempt(_normalize_failover, scope, raw.get("failover"), backup, a, b)
        if failover not in (None, FAILED) and failover.detect == "dpd" and dpd_interval is None:
            problems.add(scope, "failover.detect", "dpd needs dead peer detection, but dpd_interval is disabled")
        if backup is not None and backup.endpoint is not None and ppk_secret not in (None, FAILED):
            problems.attempt(_require_feature, scope, "ppk_secret", "ppk", (backup.endpoint,))
        vrrp = problems.attempt(_tunnel_vrrp, scope, hostvars, a, b, backup)

    route = {"mode": "policy"}
    if Problems.ok(a, b):
        route = problems.attempt(_route_based, scope, raw, a, b)
        if route is not FAILED and route["mode"] != "policy" and raw.get("backup") is not None:
            problems.add(scope, "backup", "is for policy-based tunnels; a route-based tunnel fails over by "
                         "routing: give a second tunnel with a higher route_distance (docs/route-based.md)")

    problems.raise_any()
    return Tunnel(name=name, origin=origin, a=a, b=b, suite=suite, psk=psk, auth_method=auth_method,
                  ike_version=ike_version,
                  exchange_mode=exchange_mode, phase1_lifetime=phase1, phase2_lifetime=phase2,
                  dpd_interval=dpd_interval, dpd_failures=dpd_failures, nat_traversal=nat_traversal,
                  allow_weak_crypto=allow_weak, policy_level=level, ppk_secret=ppk_secret,
                  description=description, weak_crypto=[reason for _where, reason in weak],
                  backup=backup, failover=failover, vrrp=vrrp, **route)


_ROUTE_FIELDS = ("tunnel_address", "tunnel_pool", "tunnel_slot", "tunnel_prefix_length", "keepalive",
                 "keepalive_retries", "route_distance", "check_gateway", "wan_mtu", "tunnel_mtu")


def _ranged_int(scope, field, value):
    return check_field(scope, TUNNEL_BY_NAME[field], value)


def _route_based(scope, raw, a, b):
    """The route-based values of a tunnel (mode, link subnet, keepalive, routes, MTU), checked."""
    def v(name):
        return check_field(scope, TUNNEL_BY_NAME[name], raw.get(name))

    mode = v("mode")
    if mode not in ROUTE_BASED_MODES:
        for field in _ROUTE_FIELDS:
            if raw.get(field) is not None:
                fail(scope, field, "is a route-based option; it needs mode: gre or ipip (mode is %s)" % mode)
        return {"mode": mode}
    if a.address.version != 4:
        fail(scope, "mode", "%s over IPv6 (ip6gre, ipipv6) is not supported; the WAN addresses must be IPv4"
             % mode)
    for endpoint, side in ((a, "a"), (b, "b")):
        for prefix in endpoint.prefixes:
            if prefix.version != 4:
                fail(scope, side + ".prefixes", "%s is IPv6: route-based tunnels route IPv4 prefixes only "
                     "(the link is IPv4)" % prefix)
    link = _link_subnet(scope, raw)
    where = "tunnel_address" if raw.get("tunnel_address") is not None else "tunnel_pool"
    for endpoint, side in ((a, "a"), (b, "b")):
        for prefix in endpoint.prefixes:
            if prefix.overlaps(link):
                fail(scope, where, "link subnet %s overlaps %s's LAN prefix %s (host %s)"
                     % (link, side, prefix, endpoint.host))
        if endpoint.address in link:
            fail(scope, where, "link subnet %s holds %s's WAN address %s" % (link, side, endpoint.address))
    wan_mtu = v("wan_mtu")
    mtu_raw = raw.get("tunnel_mtu")       # `auto` or an integer: not one kind, checked here
    mtu_raw = "auto" if mtu_raw is None else mtu_raw
    tunnel_mtu = None
    if str(mtu_raw).strip() != "auto":
        tunnel_mtu = check_type(scope, "tunnel_mtu", "int", mtu_raw)
        if not 576 <= tunnel_mtu <= wan_mtu:
            fail(scope, "tunnel_mtu", "%d is out of range 576..%d (wan_mtu)" % (tunnel_mtu, wan_mtu))
    return {"mode": mode, "link": link, "keepalive": (v("keepalive"), v("keepalive_retries")),
            "check_gateway": v("check_gateway"), "route_distance": v("route_distance"),
            "wan_mtu": wan_mtu, "tunnel_mtu": tunnel_mtu}


def _link_subnet(scope, raw):
    address, pool = raw.get("tunnel_address"), raw.get("tunnel_pool")
    if address is not None and pool is not None:
        fail(scope, "tunnel_address", "give tunnel_address or tunnel_pool, not both")
    if address is not None:
        link = parse_prefix(scope, "tunnel_address", address)
        if link.version != 4 or link.prefixlen not in (30, 31):
            fail(scope, "tunnel_address", "must be an IPv4 /30 or /31, got %s" % link)
        if raw.get("tunnel_slot") is not None:
            fail(scope, "tunnel_slot", "only applies with tunnel_pool")
        return link
    if pool is None:
        fail(scope, "tunnel_address", "a route-based tunnel needs its link subnet: tunnel_address (a /30 or "
             "/31) or tunnel_pool")
    pool = parse_prefix(scope, "tunnel_pool", pool)
    length = _ranged_int(scope, "tunnel_prefix_length", raw.get("tunnel_prefix_length"))
    if pool.version != 4:
        fail(scope, "tunnel_pool", "must be IPv4, got %s" % pool)
    if pool.prefixlen > length:
        fail(scope, "tunnel_pool", "%s is smaller than one /%d" % (pool, length))
    if raw.get("tunnel_slot") is None:
        fail(scope, "tunnel_slot", "is required with tunnel_pool outside a topology (or give tunnel_address)")
    slot = _ranged_int(scope, "tunnel_slot", raw["tunnel_slot"])
    size = 1 << (length - pool.prefixlen)
    if slot >= size:
        fail(scope, "tunnel_slot", "slot %d is outside pool %s (%d subnets of /%d)" % (slot, pool, size, length))
    return ipaddress.ip_network("%s/%d" % (pool.network_address + (slot << (32 - length)), length))


# --- high availability ----------------------------------------------------------------------------

def _normalize_backup(scope, raw, hostvars, a, b):
    if raw is None:
        return None
    raw = check_type(scope, "backup", "dict", raw)
    check_known(scope, dict(("backup." + str(k), v) for k, v in raw.items()),
                set("backup." + k for k in BACKUP_BY_NAME), "backup")
    end = check_field(scope, BACKUP_BY_NAME["end"], raw.get("end"), "backup.end")
    primary, watcher = (a, b) if end == "a" else (b, a)
    if (raw.get("host") is None) == (raw.get("address") is None):
        fail(scope, "backup", "needs exactly one of host (a second router) and address (a second WAN "
             "address of %s)" % primary.host)
    if watcher.passive:
        fail(scope, "%s.passive" % ("b" if end == "a" else "a"), "the end that switches to the backup (%s) "
             "must initiate; it cannot be passive" % watcher.host)
    if raw.get("host") is not None:
        host = check_type(scope, "backup.host", "str", raw["host"])
        if not host_exists(hostvars, host):
            fail(scope, "backup.host", "unknown inventory host %r" % host)
        if host in (a.host, b.host):
            fail(scope, "backup.host", "%s is already an end of the tunnel; the backup must be another router"
                 % host)
        address_raw = host_var(hostvars, host, "ipsec_wan_address")
        if address_raw is MISSING or address_raw in (None, ""):
            fail(scope, "backup.host", "host '%s' has no ipsec_wan_address" % host)
        address = parse_address(scope, "backup.host (host var ipsec_wan_address of %s)" % host, address_raw)
        # the backup router protects the same networks: the watcher's policies only change peer
        endpoint = Endpoint(host, primary.prefixes, address, None, primary.passive, host_version(hostvars, host))
    else:
        host, endpoint = None, None
        address = parse_address(scope, "backup.address", raw["address"])
    if address.version != primary.address.version:
        fail(scope, "backup", "address %s is IPv%d but the tunnel runs over IPv%d"
             % (address, address.version, primary.address.version))
    if address in (a.address, b.address):
        fail(scope, "backup", "address %s is already an end's address; the backup needs its own" % address)
    return Backup(end, host, endpoint, address)


def _normalize_failover(scope, raw, backup, a, b):
    if raw is not None and backup is None:
        fail(scope, "failover", "needs a backup (the backup field names what to fail over to)")
    if backup is None:
        return None
    raw = check_type(scope, "failover", "dict", raw if raw is not None else {})
    check_known(scope, dict(("failover." + str(k), v) for k, v in raw.items()),
                set("failover." + k for k in FAILOVER_BY_NAME), "failover")
    detect = check_field(scope, FAILOVER_BY_NAME["detect"], raw.get("detect"), "failover.detect")
    primary = a if backup.end == "a" else b
    if detect == "dpd" and raw.get("health_address") is not None:
        fail(scope, "failover.health_address", "is for detect: netwatch; detect: dpd watches the IKE SA with "
             "the primary")
    if raw.get("health_address") is not None:
        health = parse_address(scope, "failover.health_address", raw["health_address"])
    else:
        health = primary.address
    times = dict((name, check_field(scope, FAILOVER_BY_NAME[name], raw.get(name), "failover." + name))
                 for name in ("interval", "timeout"))
    if not 0 < times["timeout"] < times["interval"]:
        fail(scope, "failover.timeout", "%s must be more than 0s and less than the interval (%s)"
             % (format_duration(times["timeout"]), format_duration(times["interval"])))
    preempt = check_field(scope, FAILOVER_BY_NAME["preempt"], raw.get("preempt"), "failover.preempt")
    return Failover(detect, health, times["interval"], times["timeout"], preempt)


def host_vrrp(hostvars, host, scope=None):
    """The validated ``ipsec_vrrp`` host var of ``host`` (a Vrrp), or None."""
    raw = host_var(hostvars, host, "ipsec_vrrp")
    if raw is MISSING or raw is None:
        return None
    scope = scope or "host '%s'" % host
    label = "ipsec_vrrp (host var of %s)" % host
    raw = check_type(scope, label, "dict", raw)
    check_known(scope, dict(("%s.%s" % (label, k), v) for k, v in raw.items()),
                set("%s.%s" % (label, k) for k in VRRP_BY_NAME), "ipsec_vrrp")
    for name in ("group", "interface", "priority"):
        if raw.get(name) is None:
            fail(scope, "%s.%s" % (label, name), "is required")
    group = check_name(scope, label + ".group", raw["group"], NAME_MAX)
    interface = check_type(scope, label + ".interface", "str", raw["interface"])
    if not interface.strip():
        fail(scope, label + ".interface", "is empty")
    numbers = dict((name, check_field(scope, VRRP_BY_NAME[name], raw.get(name), "%s.%s" % (label, name)))
                   for name in ("vrid", "priority", "interval", "preempt"))
    return Vrrp(group, interface, numbers["vrid"], numbers["priority"], numbers["interval"], numbers["preempt"])


def _tunnel_vrrp(scope, hostvars, a, b, backup):
    """{host: Vrrp} of the tunnel's routers in a VRRP pair; a pair must be one end and its backup."""
    hosts = [(a.host, "a"), (b.host, "b")] + ([(backup.host, "backup")] if backup and backup.host else [])
    found = dict((host, host_vrrp(hostvars, host, scope)) for host, _where in hosts)
    found = dict((h, v) for h, v in found.items() if v is not None)
    if not found:
        return {}
    pair_end = None if backup is None or backup.host is None else backup.end
    for host, where in hosts:
        if host not in found:
            continue
        if where == "backup" or where == pair_end:
            continue
        fail(scope, where, "host %s is in VRRP group %s (ipsec_vrrp): its tunnels need a backup {end: %s, host: "
             "<the other router of the pair>}" % (host, found[host].group, where))
    primary = a.host if pair_end == "a" else b.host
    first, second = found.get(primary), found.get(backup.host)
    if first is None or second is None:
        alone = primary if first is not None else backup.host
        other = backup.host if first is not None else primary
        fail(scope, "backup.host", "host %s is in VRRP group %s but %s has no ipsec_vrrp; a VRRP pair needs both"
             % (alone, (first or second).group, other))
    if first.group != second.group:
        fail(scope, "backup.host", "%s (group %s) and %s (group %s) are not one VRRP pair"
             % (primary, first.group, backup.host, second.group))
    if first.vrid != second.vrid:
        fail(scope, "backup.host", "VRRP pair %s: vrid %d on %s but %d on %s"
             % (first.group, first.vrid, primary, second.vrid, backup.host))
    if first.priority == second.priority:
        fail(scope, "backup.host", "VRRP pair %s: both routers have priority %d; the primary (%s) needs the higher"
             % (first.group, first.priority, primary))
    if first.priority < second.priority:
        fail(scope, "backup.host", "VRRP pair %s: the backup %s has a higher priority (%d) than the primary %s (%d)"
             % (first.group, backup.host, second.priority, primary, first.priority))
    return found


def _check_pair(scope, a, b):
    """Checks between the two validated ends."""
    if a.host == b.host:
        fail(scope, "b", "is the same host as a (%s); a tunnel needs two routers" % a.host)
    problems = Problems()
    if a.passive and b.passive:
        problems.add(scope, "b.passive", "both ends are passive, so neither would ever start the tunnel")
    if a.dynamic and b.dynamic:
        problems.add(scope, "b.address", "both ends are dynamic: at least one end needs a fixed address")
    elif a.dynamic or b.dynamic:
        fixed = b if a.dynamic else a
        if fixed.address.version != 4:
            problems.add(scope, ("b" if a.dynamic else "a") + ".address", "a dynamic peer is IPv4 only "
                         "(the fixed end answers on 0.0.0.0/0)")
    if not (a.dynamic or b.dynamic) and a.address.version != b.address.version:
        problems.add(scope, "b.address", "is IPv%d (%s) but a.address is IPv%d (%s): address family mismatch"
                     % (b.address.version, b.address, a.address.version, a.address))
    elif not (a.dynamic or b.dynamic) and a.address == b.address:
        problems.add(scope, "b.address", "both ends have the address %s" % a.address)
    problems.attempt(_check_mirrored_prefixes, scope, a, b)
    # a LAN prefix that holds the other router's WAN address sends IKE to the LAN instead of the peer
    for here, there, side in ((a, b, "a"), (b, a, "b")):
        for net in here.prefixes:
            if not there.dynamic and net.version == there.address.version and there.address in net:
                problems.add(scope, side + ".prefixes", "%s contains the other end's WAN address %s: this "
                             "router would send IKE and ESP for its peer into its own LAN (or the tunnel); "
                             "give prefixes without the peer's address" % (net, there.address))
    problems.raise_any()


def _exchange_mode(scope, exchange_mode, ike_version):
    if exchange_mode is not None:
        exchange_mode = check_field(scope, TUNNEL_BY_NAME["exchange_mode"], exchange_mode)
        if ike_version == 2:
            fail(scope, "exchange_mode", "is an IKEv1 option; IKEv2 always uses ike2 (remove it or set "
                 "ike_version: 1)")
    return "ike2" if ike_version == 2 else (exchange_mode or "main")


def _suite(scope, raw_suite, ike_version):
    try:
        suite = crypto_suites.resolve_suite(raw_suite if raw_suite is not None else TUNNEL_BY_NAME["suite"].default)
    except crypto_suites.SuiteError as exc:
        fail(scope, "suite" + ("." + exc.field if exc.field else ""), exc.message)
    if ike_version is not FAILED and ike_version not in suite.ike_versions:
        fail(scope, "suite", "preset %s is for IKEv%s but the tunnel uses IKEv%d"
             % (suite.name, "/".join(str(v) for v in suite.ike_versions), ike_version))
    return suite


def _require_feature(scope, field, feature, endpoints):
    minimum = FEATURE_VERSIONS[feature]
    for endpoint in endpoints:
        if endpoint.version is None:
            fail(scope, field, "needs RouterOS %d.%d+ but host %s has no routeros_version"
                 % (minimum + (endpoint.host,)))
        if endpoint.version[:2] < minimum:
            fail(scope, field, "needs RouterOS %d.%d+ but host %s runs %s"
                 % (minimum + (endpoint.host, ".".join(str(v) for v in endpoint.version))))


def _auth(scope, auth, hostvars):
    """(method, psk): ("psk", the key) or ("certificate", None)."""
    if not isinstance(auth, dict):
        fail(scope, "auth", "must be a mapping like {psk: \"{{ vault_psk }}\"}, got %s" % type(auth).__name__)
    check_known(scope, dict(("auth." + k, v) for k, v in auth.items()),
                set("auth." + k for k in AUTH_KEYS), "auth")
    method = auth.get("method", "psk")
    if method not in AUTH_METHODS:
        fail(scope, "auth.method", "must be one of %s, got %r" % (", ".join(AUTH_METHODS), method))
    if method == "certificate":
        for key in ("psk", "psk_var"):
            if key in auth:
                fail(scope, "auth." + key, "is a pre-shared key; method certificate takes none")
        return "certificate", None
    return "psk", _auth_psk(scope, auth, hostvars)


def _auth_psk(scope, auth, hostvars):
    if "psk_var" in auth:
        # resolved by the topology expansion; a hand-written tunnel has no "spoke"
        fail(scope, "auth.psk_var", "is only valid in a hub_and_spoke topology")
    if "psk" not in auth:
        fail(scope, "auth.psk", "is missing: the vault variable is undefined (is the vault loaded?)")
    psk = auth["psk"]
    if isinstance(psk, HostVarRef):
        psk = psk.resolve(hostvars)
    return check_secret(scope, "auth.psk", psk)


def _check_mirrored_prefixes(scope, a, b):
    for lp in a.prefixes:
        for rp in b.prefixes:
            if lp.version == rp.version and lp.overlaps(rp):
                fail(scope, "b.prefixes", "%s overlaps a's prefix %s; local and remote networks must "
                     "be disjoint" % (rp, lp))
    # a family only one end has is simply not tunnelled (a dual-stack hub, an IPv4-only spoke)
    if not set(p.version for p in a.prefixes) & set(p.version for p in b.prefixes):
        fail(scope, "b.prefixes", "share no address family with a.prefixes (%s vs %s): address family "
             "mismatch" % (", ".join(map(str, b.prefixes)), ", ".join(map(str, a.prefixes))))
