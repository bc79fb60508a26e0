# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The normalised intent: ``Endpoint`` and ``Tunnel``, and ``normalize_tunnel`` that validates one raw
tunnel mapping against the hosts it names. Every feature builder of the planner reads these objects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import (
    AUTH_KEYS,
    BACKUP_BY_NAME,
    FAILOVER_BY_NAME,
    FAILOVER_INTERVAL_MAX,
    FAILOVER_INTERVAL_MIN,
    VRRP_BY_NAME,
    DESCRIPTION_MAX,
    DPD_MAX_SECONDS,
    ENDPOINT_BY_NAME,
    FEATURE_VERSIONS,
    NAME_RE,
    LIFETIME_MAX_SECONDS,
    LIFETIME_MIN_SECONDS,
    NAME_MAX,
    TUNNEL_BY_NAME,
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
    parse_duration,
    parse_prefix,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import format_duration

# --- normalised objects ----------------------------------------------------------------------------


class Endpoint(object):
    """One validated end of a tunnel."""

    __slots__ = ("host", "prefixes", "address", "local_address", "passive", "version")

    def __init__(self, host, prefixes, address, local_address, passive, version):
        self.host = host
        self.prefixes = tuple(prefixes)
        self.address = address
        self.local_address = local_address
        self.passive = passive
        self.version = version


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


# --- endpoint and tunnel normalisation ------------------------------------------------------------

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
    check_known(scope, dict((field + "." + str(k), v) for k, v in spec.items()),
                set(field + "." + k for k in ENDPOINT_BY_NAME), "endpoint")
    if not host_exists(hostvars, host):
        fail(scope, field + ".host", "unknown inventory host %r" % host)

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
    prefixes = []
    for i, p in enumerate(prefixes_raw):
        net = parse_prefix(scope, "%s[%d]" % (label, i), p)
        for j, other in enumerate(prefixes):
            if other == net:
                fail(scope, label, "lists %s twice" % net)
            if other.version == net.version and other.overlaps(net):
                fail(scope, label, "%s and %s overlap" % (other, net))
        prefixes.append(net)

    if "address" in spec:
        address = parse_address(scope, field + ".address", spec["address"])
    else:
        address_raw = host_var(hostvars, host, "ipsec_wan_address")
        if address_raw is MISSING or address_raw in (None, ""):
            fail(scope, field + ".address", "not given and host '%s' has no ipsec_wan_address" % host)
        address = parse_address(scope, "%s.address (host var ipsec_wan_address of %s)" % (field, host),
                                address_raw)

    local_address = None
    if spec.get("local_address") is not None:
        local_address = parse_address(scope, field + ".local_address", spec["local_address"])
        if local_address.version != address.version:
            fail(scope, field + ".local_address", "is IPv%d but the tunnel runs over IPv%d (address %s)"
                 % (local_address.version, address.version, address))
    passive = check_type(scope, field + ".passive", "bool", spec.get("passive", False))
    return Endpoint(host, prefixes, address, local_address, passive, host_version(hostvars, host))


def _field_value(raw, name):
    value = raw.get(name, MISSING)
    if value is MISSING or value is None:
        field = TUNNEL_BY_NAME[name]
        return field.default
    return value


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
    """Validate one raw tunnel mapping against the hosts it names; return a Tunnel."""
    if not isinstance(raw, dict):
        raise IntentError("ipsec_tunnels: each tunnel must be a mapping, got %s" % type(raw).__name__)
    name = raw.get("name")
    scope = tunnel_scope(name if isinstance(name, str) else "?", origin)
    if "name" not in raw:
        fail(scope, "name", "is required")
    check_name(scope, "name", name, NAME_MAX)
    check_known(scope, raw, TUNNEL_BY_NAME, "tunnel")
    for required in ("a", "b", "auth"):
        if required not in raw or raw[required] is None:
            fail(scope, required, "is required")

    a = _normalize_endpoint(scope, "a", raw["a"], hostvars)
    b = _normalize_endpoint(scope, "b", raw["b"], hostvars)
    if a.host == b.host:
        fail(scope, "b", "is the same host as a (%s); a tunnel needs two routers" % a.host)
    if a.passive and b.passive:
        fail(scope, "b.passive", "both ends are passive, so neither would ever start the tunnel")
    if a.address.version != b.address.version:
        fail(scope, "b.address", "is IPv%d (%s) but a.address is IPv%d (%s): address family mismatch"
             % (b.address.version, b.address, a.address.version, a.address))
    if a.address == b.address:
        fail(scope, "b.address", "both ends have the address %s" % a.address)
    _check_mirrored_prefixes(scope, a, b)

    ike_version = check_type(scope, "ike_version", "int", _field_value(raw, "ike_version"))
    if ike_version not in (1, 2):
        fail(scope, "ike_version", "must be 1 or 2, got %r" % ike_version)
    exchange_mode = raw.get("exchange_mode")
    if exchange_mode is not None:
        exchange_mode = check_type(scope, "exchange_mode", "str", exchange_mode)
        if ike_version == 2:
            fail(scope, "exchange_mode", "is an IKEv1 option; IKEv2 always uses ike2 (remove it or set "
                 "ike_version: 1)")
        if exchange_mode not in ("main", "aggressive"):
            fail(scope, "exchange_mode", "must be main or aggressive, got %r" % exchange_mode)
    mode = "ike2" if ike_version == 2 else (exchange_mode or "main")

    try:
        suite = crypto_suites.resolve_suite(_field_value(raw, "suite"))
    except crypto_suites.SuiteError as exc:
        fail(scope, "suite" + ("." + exc.field if exc.field else ""), exc.message)
    if ike_version not in suite.ike_versions:
        fail(scope, "suite", "preset %s is for IKEv%s but the tunnel uses IKEv%d"
             % (suite.name, "/".join(str(v) for v in suite.ike_versions), ike_version))

    phase1 = _lifetime(scope, "phase1_lifetime", _field_value(raw, "phase1_lifetime"))
    phase2 = _lifetime(scope, "phase2_lifetime", _field_value(raw, "phase2_lifetime"))
    if phase2 > phase1 and ike_version == 1:
        # IKEv1 rekeys phase 2 under a live phase 1; a longer child SA outlives its parent
        fail(scope, "phase2_lifetime", "is longer than phase1_lifetime (%s > %s)"
             % (format_duration(phase2), format_duration(phase1)))

    dpd_raw = _field_value(raw, "dpd_interval")
    if isinstance(dpd_raw, str) and dpd_raw.strip() in ("disabled", "disable", "disable-dpd"):
        dpd_interval = None
    else:
        try:
            dpd_interval = parse_duration(dpd_raw)
        except ValueError as exc:
            fail(scope, "dpd_interval", str(exc))
        if dpd_interval > DPD_MAX_SECONDS:
            fail(scope, "dpd_interval", "%s is out of range 0s..1h" % format_duration(dpd_interval))
    dpd_failures = check_type(scope, "dpd_failures", "int", _field_value(raw, "dpd_failures"))
    if not 1 <= dpd_failures <= 100:
        fail(scope, "dpd_failures", "%d is out of range 1..100" % dpd_failures)

    nat_traversal = check_type(scope, "nat_traversal", "bool", _field_value(raw, "nat_traversal"))
    allow_weak = check_type(scope, "allow_weak_crypto", "bool", _field_value(raw, "allow_weak_crypto"))
    level = check_type(scope, "policy_level", "str", _field_value(raw, "policy_level"))
    if level not in TUNNEL_BY_NAME["policy_level"].choices:
        fail(scope, "policy_level", "must be one of require, use, unique; got %r" % level)

    if not allow_weak:
        weak = crypto_suites.weaknesses(suite, phase2)
        if weak:
            field, reason = weak[0]
            fail(scope, field if field == "phase2_lifetime" else "suite." + field,
                 "%s; set allow_weak_crypto: true to accept it" % reason)
    for endpoint, side in ((a, "a"), (b, "b")):
        if endpoint.version is not None:
            problems = crypto_suites.version_problems(suite, endpoint.version)
            if problems:
                fail(scope, "suite." + problems[0][0], "%s (host %s runs %s)"
                     % (problems[0][1], endpoint.host, ".".join(str(v) for v in endpoint.version)))

    psk = _auth_psk(scope, raw["auth"], hostvars, a, b)

    ppk_secret = raw.get("ppk_secret")
    if ppk_secret is not None:
        ppk_secret = check_secret(scope, "ppk_secret", ppk_secret)
        if ike_version != 2:
            fail(scope, "ppk_secret", "PPK exists only in IKEv2")
        if ppk_secret == psk:
            fail(scope, "ppk_secret", "must differ from the PSK")
        _require_feature(scope, "ppk_secret", "ppk", (a, b))

    description = raw.get("description")
    if description is not None:
        description = check_type(scope, "description", "str", description)
        if len(description) > DESCRIPTION_MAX or any(ord(c) < 32 or ord(c) == 127 for c in description):
            fail(scope, "description", "must be at most %d printable characters on one line" % DESCRIPTION_MAX)

    backup = _normalize_backup(scope, raw.get("backup"), hostvars, a, b)
    failover = _normalize_failover(scope, raw.get("failover"), backup, a, b)
    if backup is not None and backup.endpoint is not None and ppk_secret is not None:
        _require_feature(scope, "ppk_secret", "ppk", (backup.endpoint,))
    vrrp = _tunnel_vrrp(scope, hostvars, a, b, backup)

    return Tunnel(name=name, origin=origin, a=a, b=b, suite=suite, psk=psk, ike_version=ike_version,
                  exchange_mode=mode, phase1_lifetime=phase1, phase2_lifetime=phase2,
                  dpd_interval=dpd_interval, dpd_failures=dpd_failures, nat_traversal=nat_traversal,
                  allow_weak_crypto=allow_weak, policy_level=level, ppk_secret=ppk_secret,
                  description=description, backup=backup, failover=failover, vrrp=vrrp)


# --- high availability ----------------------------------------------------------------------------

def _sub_value(raw, table, name):
    value = raw.get(name)
    return table[name].default if value is None else value


def _normalize_backup(scope, raw, hostvars, a, b):
    if raw is None:
        return None
    raw = check_type(scope, "backup", "dict", raw)
    check_known(scope, dict(("backup." + str(k), v) for k, v in raw.items()),
                set("backup." + k for k in BACKUP_BY_NAME), "backup")
    end = _sub_value(raw, BACKUP_BY_NAME, "end")
    if end not in ("a", "b"):
        fail(scope, "backup.end", "must be a or b, got %r" % (end,))
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
    detect = check_type(scope, "failover.detect", "str", _sub_value(raw, FAILOVER_BY_NAME, "detect"))
    if detect not in FAILOVER_BY_NAME["detect"].choices:
        fail(scope, "failover.detect", "must be one of %s, got %r"
             % (", ".join(FAILOVER_BY_NAME["detect"].choices), detect))
    primary = a if backup.end == "a" else b
    if raw.get("health_address") is not None:
        health = parse_address(scope, "failover.health_address", raw["health_address"])
    else:
        health = primary.address
    times = {}
    for name in ("interval", "timeout"):
        try:
            times[name] = parse_duration(_sub_value(raw, FAILOVER_BY_NAME, name))
        except ValueError as exc:
            fail(scope, "failover." + name, str(exc))
    if not FAILOVER_INTERVAL_MIN <= times["interval"] <= FAILOVER_INTERVAL_MAX:
        fail(scope, "failover.interval", "%s is out of range 1s..1h" % format_duration(times["interval"]))
    if not 0 < times["timeout"] < times["interval"]:
        fail(scope, "failover.timeout", "%s must be more than 0s and less than the interval (%s)"
             % (format_duration(times["timeout"]), format_duration(times["interval"])))
    preempt = check_type(scope, "failover.preempt", "bool", _sub_value(raw, FAILOVER_BY_NAME, "preempt"))
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
    numbers = {}
    for name in ("vrid", "priority"):
        field = VRRP_BY_NAME[name]
        value = check_type(scope, "%s.%s" % (label, name), "int", _sub_value(raw, VRRP_BY_NAME, name))
        if not field.minimum <= value <= field.maximum:
            fail(scope, "%s.%s" % (label, name), "%d is out of range %d..%d" % (value, field.minimum, field.maximum))
        numbers[name] = value
    try:
        interval = parse_duration(_sub_value(raw, VRRP_BY_NAME, "interval"))
    except ValueError as exc:
        fail(scope, label + ".interval", str(exc))
    if not 1 <= interval <= 255:
        fail(scope, label + ".interval", "%s is out of range 1s..4m15s" % format_duration(interval))
    preempt = check_type(scope, label + ".preempt", "bool", _sub_value(raw, VRRP_BY_NAME, "preempt"))
    return Vrrp(group, interface, numbers["vrid"], numbers["priority"], interval, preempt)


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


def _lifetime(scope, field, value):
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        fail(scope, field, str(exc))
    if not LIFETIME_MIN_SECONDS <= seconds <= LIFETIME_MAX_SECONDS:
        fail(scope, field, "%s is out of range 1m..1w" % format_duration(seconds))
    return seconds


def _require_feature(scope, field, feature, endpoints):
    minimum = FEATURE_VERSIONS[feature]
    for endpoint in endpoints:
        if endpoint.version is None:
            fail(scope, field, "needs RouterOS %d.%d+ but host %s has no routeros_version"
                 % (minimum + (endpoint.host,)))
        if endpoint.version[:2] < minimum:
            fail(scope, field, "needs RouterOS %d.%d+ but host %s runs %s"
                 % (minimum + (endpoint.host, ".".join(str(v) for v in endpoint.version))))


def _auth_psk(scope, auth, hostvars, a, b):
    if not isinstance(auth, dict):
        fail(scope, "auth", "must be a mapping like {psk: \"{{ vault_psk }}\"}, got %s" % type(auth).__name__)
    check_known(scope, dict(("auth." + k, v) for k, v in auth.items()),
                set("auth." + k for k in AUTH_KEYS), "auth")
    method = auth.get("method", "psk")
    if method != "psk":
        fail(scope, "auth.method", "only psk is supported, got %r" % (method,))
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
