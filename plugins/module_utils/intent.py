# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tunnel intent: the one schema of ``ipsec_tunnels`` / ``ipsec_topologies`` and its validation.

Everything here is pure: inputs are the inventory variables (plain data, or Ansible's lazy
``hostvars``), outputs are normalised ``Tunnel`` objects or an ``IntentError`` whose message names
the tunnel (or topology, or host) and the field. Nothing touches a router.

The schema tables (TUNNEL_FIELDS, ENDPOINT_FIELDS, TOPOLOGY_FIELDS, HOST_VARS) are also the source
of the generated reference in docs/intent.md (tools/gen_intent_docs.py).

Addresses use the standard library ``ipaddress`` (no extra requirement on an execution environment).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import hashlib
import ipaddress
import re

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import crypto_suites
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.routeros_values import format_duration

# --- schema ------------------------------------------------------------------------------------


class Field(object):
    """One intent field: its type, default and documentation."""

    def __init__(self, name, kind, doc, required=False, default=None, choices=None, minimum=None,
                 maximum=None, default_doc=None):
        self.name = name
        self.kind = kind          # str, int, bool, list, dict, duration, endpoint, suite, secret
        self.doc = doc
        self.required = required
        self.default = default
        self.choices = choices
        self.minimum = minimum
        self.maximum = maximum
        # how the default is described in docs when it is not a constant
        self.default_doc = default_doc


NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
NAME_MAX = 40
TOPOLOGY_NAME_MAX = 20
DESCRIPTION_MAX = 80
PSK_MIN_LENGTH = 20
DPD_MAX_SECONDS = 3600
LIFETIME_MIN_SECONDS = 60
LIFETIME_MAX_SECONDS = 7 * 86400
MIN_ROUTEROS = (7, 12)
# feature -> first RouterOS version that has it
FEATURE_VERSIONS = {"ppk": (7, 21)}

ENDPOINT_FIELDS = (
    Field("host", "str", "Inventory hostname of the router at this end.", required=True),
    Field("prefixes", "list", "Local LAN prefixes protected at this end (list of IPv4/IPv6 "
          "networks, no host bits). One policy is made per (local, remote) pair of the same "
          "address family.", default_doc="host var `ipsec_lan_prefixes`"),
    Field("address", "str", "Public (WAN) address of this end; the other end's peer points at it "
          "as a /32 or /128.", default_doc="host var `ipsec_wan_address`"),
    Field("local_address", "str", "Address this end binds IKE to (peer `local-address`), when "
          "the router has several.", default_doc="unset (RouterOS picks by routing)"),
    Field("passive", "bool", "Responder only: this end never initiates (peer `passive`).",
          default=False),
)

TUNNEL_FIELDS = (
    Field("name", "str", "Unique tunnel name: lower-case letters, digits and `-`, at most 40 "
          "characters. Keys every RouterOS item of the tunnel.", required=True),
    Field("a", "endpoint", "First end: an inventory hostname, or a mapping of endpoint fields.",
          required=True),
    Field("b", "endpoint", "Second end, same form as `a`. The two ends are mirrored: `a`'s "
          "local prefixes are `b`'s remote prefixes.", required=True),
    Field("suite", "suite", "Crypto suite: a preset name (see docs/crypto-suites.md) or a custom "
          "mapping with `profile` and `proposal`.", default=crypto_suites.DEFAULT_SUITE),
    Field("auth", "dict", "Authentication. `{psk: <key>}` (method `psk`, the only one supported): "
          "a pre-shared key of at least 20 characters, normally a vault variable. In a "
          "hub_and_spoke topology `{psk_var: <var>}` reads the key from each spoke's host var "
          "instead.", required=True),
    Field("ike_version", "int", "IKE version: 2, or 1 for legacy peers.", default=2,
          choices=(1, 2)),
    Field("exchange_mode", "str", "IKEv1 only: `main` or `aggressive` (peer `exchange-mode`). "
          "IKEv2 always uses `ike2`.", choices=("main", "aggressive"),
          default_doc="`main` with IKEv1"),
    Field("phase1_lifetime", "duration", "IKE SA lifetime (profile `lifetime`), 1m..1w.",
          default="1d"),
    Field("phase2_lifetime", "duration", "Child/ESP SA lifetime (proposal `lifetime`), 1m..1w; "
          "over 24h counts as weak crypto.", default="30m"),
    Field("dpd_interval", "duration", "Dead peer detection interval 0s..1h, or `disabled`.",
          default="2m"),
    Field("dpd_failures", "int", "DPD failures before the peer is declared dead (1..100; "
          "RouterOS ignores it with IKEv2).", default=5, minimum=1, maximum=100),
    Field("nat_traversal", "bool", "Allow NAT-T (UDP 4500 encapsulation).", default=True),
    Field("allow_weak_crypto", "bool", "Explicit opt-in to weak algorithms (des, 3des, md5, sha1, "
          "modp768..1536, no PFS, phase-2 lifetime over 24h).", default=False),
    Field("policy_level", "str", "Policy `level`.", default="require",
          choices=("require", "use", "unique")),
    Field("ppk_secret", "secret", "IKEv2 post-quantum pre-shared key (RFC 8784; profile "
          "`ppk=psk`, peer `ppk-secret`). Needs RouterOS 7.21 or later on both ends.",
          default_doc="unset (no PPK)"),
    Field("description", "str", "Free text appended to the owner comment of the tunnel's items "
          "(at most 80 printable characters).", default_doc="unset"),
)

TOPOLOGY_FIELDS = (
    Field("name", "str", "Topology name: lower-case letters, digits and `-`, at most 20 "
          "characters; prefixes the generated tunnel names.", required=True),
    Field("type", "str", "`hub_and_spoke` or `full_mesh`.", required=True,
          choices=("hub_and_spoke", "full_mesh")),
    Field("hub", "str", "hub_and_spoke: the hub, an inventory host or a group (several hubs: every "
          "spoke gets a tunnel to each)."),
    Field("spokes", "str", "hub_and_spoke: the group whose hosts are the spokes."),
    Field("members", "str", "full_mesh: the group whose hosts all get a tunnel to each other."),
    Field("hub_endpoint", "dict", "hub_and_spoke: endpoint fields (except `host`) for the hub "
          "end of every generated tunnel, e.g. `{passive: true}`."),
    Field("spoke_endpoint", "dict", "hub_and_spoke: endpoint fields (except `host`) for the spoke "
          "end."),
    Field("member_endpoint", "dict", "full_mesh: endpoint fields (except `host`) for both ends."),
)
# topologies also accept every tunnel field except these, as defaults of the generated tunnels
TOPOLOGY_TUNNEL_EXCLUDED = ("name", "a", "b")

HOST_VARS = (
    Field("ipsec_wan_address", "str", "The router's public address; default endpoint `address`."),
    Field("ipsec_lan_prefixes", "list", "The router's LAN prefixes; default endpoint `prefixes`."),
    Field("routeros_version", "str", "RouterOS version running on the router (e.g. `7.22.2`); "
          "gates version-dependent features (PPK needs 7.21). RouterOS 7.12 or later is required."),
)

_TUNNEL_BY_NAME = dict((f.name, f) for f in TUNNEL_FIELDS)
_ENDPOINT_BY_NAME = dict((f.name, f) for f in ENDPOINT_FIELDS)
_TOPOLOGY_BY_NAME = dict((f.name, f) for f in TOPOLOGY_FIELDS)
_AUTH_KEYS = ("method", "psk", "psk_var")


class IntentError(ValueError):
    """Invalid intent. ``errors`` lists every problem found (one message each)."""

    def __init__(self, message, errors=None):
        super(IntentError, self).__init__(message)
        self.errors = list(errors) if errors else [message]


def _where(scope, field):
    return "%s: field '%s'" % (scope, field) if field else scope


def _fail(scope, field, message):
    raise IntentError("%s: %s" % (_where(scope, field), message))


def tunnel_scope(name, origin=None):
    scope = "tunnel '%s'" % (name,)
    return scope + (" (from topology '%s')" % origin if origin else "")


# --- scalar parsing --------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK_RE = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:(?:beta|rc)\d+)?(?:\s.*)?$")
_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")


def _is_undefined(value):
    # Jinja2 Undefined and ansible-core 2.19 markers (UndefinedMarker subclasses jinja2's Undefined),
    # recognised by class name so that module_utils does not import jinja2
    if isinstance(value, (str, dict, list, tuple, int, float)) or value is None:
        return False
    return any(c.__name__ in ("Undefined", "Marker") or c.__name__.endswith("Undefined")
               for c in type(value).__mro__)


def _undefined_reason(value):
    for attribute in ("_undefined_message", "_undefined_name"):
        try:
            reason = getattr(value, attribute)
        except Exception:
            continue
        if isinstance(reason, str) and reason:
            return " (%s)" % (reason if attribute == "_undefined_message" else "'%s' is undefined" % reason)
    return ""


def parse_duration(value):
    """Seconds in ``value`` (int seconds, ``1d2h``, ``30m``, ``01:30:00``); ValueError if malformed."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30m or 1d, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if not isinstance(value, str):
        raise ValueError("must be a duration like 30m or 1d, got %s" % type(value).__name__)
    text = value.strip()
    if text.isdigit():
        return int(text)
    clock = _CLOCK_RE.match(text)
    if clock:
        return int(clock.group(1)) * 3600 + int(clock.group(2)) * 60 + int(clock.group(3))
    match = _DURATION_RE.match(text)
    if not text or not match:
        raise ValueError("%r is not a duration (use e.g. 30s, 2m, 8h, 1d, 1h30m)" % (value,))
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_version(value):
    """RouterOS version text -> (major, minor, patch); ValueError if malformed."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a version string like 7.22.2")
    match = _VERSION_RE.match(value.strip())
    if not match:
        raise ValueError("%r is not a RouterOS version (e.g. 7.22.2)" % (value,))
    return tuple(int(g or 0) for g in match.groups())


def _check_type(scope, field, kind, value):
    """Return value coerced to ``kind`` or raise IntentError."""
    if _is_undefined(value):
        _fail(scope, field, "is undefined")
    if kind == "str":
        if not isinstance(value, str):
            _fail(scope, field, "must be a string, got %s" % type(value).__name__)
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        _fail(scope, field, "must be a boolean (true/false), got %r" % (value,))
    if kind == "int":
        if isinstance(value, bool):
            _fail(scope, field, "must be an integer, got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        _fail(scope, field, "must be an integer, got %r" % (value,))
    if kind == "list":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            _fail(scope, field, "must be a list, got %s" % type(value).__name__)
        return list(value)
    if kind == "dict":
        if not isinstance(value, dict):
            _fail(scope, field, "must be a mapping, got %s" % type(value).__name__)
        return value
    return value


def _check_known(scope, given, known, what):
    for key in given:
        if key not in known:
            close = _closest(key, known)
            _fail(scope, key if isinstance(key, str) else repr(key),
                  "unknown %s field%s (known: %s)" % (what, (", did you mean '%s'?" % close) if close else "",
                                                      ", ".join(sorted(known))))


def _closest(word, candidates):
    """The candidate within edit distance 2 of a typo, if any."""
    if not isinstance(word, str):
        return None
    best = None
    for c in candidates:
        d = _edit_distance(word, c)
        if d <= 2 and (best is None or d < best[0]):
            best = (d, c)
    return best[1] if best else None


def _edit_distance(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


# --- addresses ------------------------------------------------------------------------------------


# A hub's own prefixes and address are read once per tunnel: parse each text once.
@functools.lru_cache(maxsize=65536)
def _network(text):
    return ipaddress.ip_network(text, strict=False), ipaddress.ip_interface(text).ip


@functools.lru_cache(maxsize=65536)
def _interface(text):
    return ipaddress.ip_interface(text)


def parse_prefix(scope, field, value):
    """A LAN prefix: ipaddress network, no host bits."""
    if _is_undefined(value):
        _fail(scope, field, "is undefined")
    if not isinstance(value, str):
        _fail(scope, field, "must be a prefix string like 10.1.0.0/24, got %s" % type(value).__name__)
    text = value.strip()
    try:
        network, address = _network(text)
    except ValueError:
        _fail(scope, field, "%r is not an IPv4/IPv6 prefix" % (value,))
    if "/" not in text:
        _fail(scope, field, "%r has no prefix length (write %s)" % (value, network))
    if network.network_address != address:
        _fail(scope, field, "%s has host bits set (did you mean %s?)" % (text, network))
    return network


def parse_address(scope, field, value):
    """A single unicast address (a /32 or /128 prefix is accepted too)."""
    if _is_undefined(value):
        _fail(scope, field, "is undefined")
    if not isinstance(value, str):
        _fail(scope, field, "must be an IP address string, got %s" % type(value).__name__)
    text = value.strip()
    try:
        interface = _interface(text)
    except ValueError:
        _fail(scope, field, "%r is not an IP address (DNS names are not supported)" % (value,))
    network = interface.network
    if "/" in text and network.prefixlen != network.max_prefixlen:
        if network.prefixlen == 0:
            _fail(scope, field, "%s would accept any peer; give the other end's single address" % text)
        _fail(scope, field, "%s is a prefix; a peer needs one address (/%d)" % (text, network.max_prefixlen))
    address = interface.ip
    if address.is_unspecified:
        _fail(scope, field, "%s (any address) would accept any peer; give the real address" % address)
    if address.is_multicast:
        _fail(scope, field, "%s is a multicast address" % address)
    return address


# --- secrets ---------------------------------------------------------------------------------------

_PLACEHOLDER_RE = re.compile(
    r"^(?:change[-_ ]?me.*|todo|tbd|fixme|placeholder|secret|password|x+|\*+|<[^>]*>|__.*__|!vault.*"
    r"|vault[-_]?(?:placeholder|secret|value)?)$", re.IGNORECASE)
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


def check_secret(scope, field, value):
    """A pre-shared key as the vault should have delivered it; returns it stripped of nothing."""
    if value is None or _is_undefined(value):
        _fail(scope, field, "is missing: the vault variable is undefined (is the vault loaded?)%s"
              % (_undefined_reason(value) if value is not None else ""))
    if type(value).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        # an inline !vault value reaches us still encrypted; str() decrypts when a vault secret is loaded
        try:
            value = str(value)
        except Exception:
            _fail(scope, field, "is still vault-encrypted; pass the vault password to Ansible")
    if not isinstance(value, str):
        _fail(scope, field, "must be a string, got %s" % type(value).__name__)
    if value == "":
        _fail(scope, field, "is empty: the vault variable has no value")
    if "{{" in value or "{%" in value:
        _fail(scope, field, "is an unrendered template (%s...); the variable it names is not "
                            "defined" % value[:value.find("{") + 2])
    if value.startswith("$ANSIBLE_VAULT"):
        _fail(scope, field, "is still vault-encrypted text; pass the vault password to Ansible")
    if _PLACEHOLDER_RE.match(value.strip()):
        _fail(scope, field, "is a placeholder, not a key: set the real vault secret")
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        _fail(scope, field, "contains leading/trailing blanks or control characters")
    if value[:2].lower() == "0x":
        # RouterOS parses a secret starting with 0x as hex bytes
        digits = value[2:]
        if not _HEX_RE.match(digits) or len(digits) % 2:
            _fail(scope, field, "starts with 0x, so RouterOS reads it as hex, but the rest is not an "
                                "even number of hex digits")
        if len(digits) // 2 < PSK_MIN_LENGTH:
            _fail(scope, field, "is %d bytes of hex; at least %d are required"
                  % (len(digits) // 2, PSK_MIN_LENGTH))
        return value
    if len(value) < PSK_MIN_LENGTH:
        _fail(scope, field, "is %d characters; at least %d are required" % (len(value), PSK_MIN_LENGTH))
    return value


# --- host variables --------------------------------------------------------------------------------

_MISSING = object()


class HostvarsCache(object):
    """``hostvars`` with each host's variables looked up once.

    In Ansible every ``hostvars[host]`` computes that host's variables anew (milliseconds on a large
    inventory), and planning reads several variables of the same few hosts.
    """

    def __init__(self, hostvars):
        self._hostvars = hostvars
        self._hosts = {}

    def __contains__(self, host):
        return host in self._hostvars

    def __getitem__(self, host):
        if host not in self._hosts:
            self._hosts[host] = self._hostvars[host]
        return self._hosts[host]


def _host_exists(hostvars, host):
    try:
        return host in hostvars
    except TypeError:
        return False


def host_var(hostvars, host, var):
    """A host variable, _MISSING when absent; an undefined template raises IntentError."""
    try:
        values = hostvars[host]
        if var not in values:
            return _MISSING
        value = values[var]
    except IntentError:
        raise
    except Exception as exc:  # Ansible raises its own undefined-variable errors lazily
        raise IntentError("host '%s': host var '%s': cannot be read: %s" % (host, var, exc))
    if _is_undefined(value):
        return _MISSING
    return value


def host_version(hostvars, host):
    """The host's routeros_version as a tuple, or None when not set."""
    value = host_var(hostvars, host, "routeros_version")
    if value is _MISSING or value is None or value == "":
        return None
    scope = "host '%s'" % host
    try:
        version = parse_version(value)
    except ValueError as exc:
        raise IntentError("%s: host var 'routeros_version': %s" % (scope, exc))
    if version[:2] < MIN_ROUTEROS:
        raise IntentError("%s: host var 'routeros_version': RouterOS %s is not supported (7.%d or "
                          "later; RouterOS 6 never)" % (scope, value, MIN_ROUTEROS[1]))
    return version


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


class Tunnel(object):
    """One validated tunnel; ``a`` and ``b`` are Endpoints."""

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

    @property
    def scope(self):
        return tunnel_scope(self.name, self.origin)

    def side(self, host):
        """(local, remote) endpoints as seen from ``host``."""
        if self.a.host == host:
            return self.a, self.b
        if self.b.host == host:
            return self.b, self.a
        raise KeyError(host)

    def selectors(self, host):
        """(local prefix, remote prefix) pairs of the same family, in a stable order."""
        local, remote = self.side(host)
        pairs = [(lp, rp) for lp in local.prefixes for rp in remote.prefixes if lp.version == rp.version]
        return sorted(pairs, key=lambda p: (p[0].version, p[0], p[1]))


# --- endpoint and tunnel normalisation ------------------------------------------------------------

def endpoint_host(scope, field, raw):
    """The inventory host an endpoint names (string form or mapping form)."""
    if _is_undefined(raw) or raw is None:
        _fail(scope, field, "is required (an inventory hostname or a mapping with 'host')")
    if isinstance(raw, str):
        host = raw
    elif isinstance(raw, dict):
        if "host" not in raw:
            _fail(scope, field + ".host", "is required")
        host = raw["host"]
        if not isinstance(host, str):
            _fail(scope, field + ".host", "must be an inventory hostname string, got %s" % type(host).__name__)
    else:
        _fail(scope, field, "must be an inventory hostname or a mapping, got %s" % type(raw).__name__)
    if not host.strip():
        _fail(scope, field, "names no host")
    return host


def _normalize_endpoint(scope, field, raw, hostvars):
    host = endpoint_host(scope, field, raw)
    spec = raw if isinstance(raw, dict) else {"host": host}
    _check_known(scope, dict((field + "." + str(k), v) for k, v in spec.items()),
                 set(field + "." + k for k in _ENDPOINT_BY_NAME), "endpoint")
    if not _host_exists(hostvars, host):
        _fail(scope, field + ".host", "unknown inventory host %r" % host)

    if "prefixes" in spec:
        prefixes_raw, where = spec["prefixes"], field + ".prefixes"
    else:
        prefixes_raw, where = host_var(hostvars, host, "ipsec_lan_prefixes"), None
        if prefixes_raw is _MISSING or prefixes_raw is None:
            _fail(scope, field + ".prefixes", "not given and host '%s' has no ipsec_lan_prefixes" % host)
    label = where or ("%s.prefixes (host var ipsec_lan_prefixes of %s)" % (field, host))
    if isinstance(prefixes_raw, str):
        _fail(scope, label, "must be a list of prefixes, got a string (write [%s])" % prefixes_raw)
    prefixes_raw = _check_type(scope, label, "list", prefixes_raw)
    if not prefixes_raw:
        _fail(scope, label, "is empty; at least one prefix is needed")
    prefixes = []
    for i, p in enumerate(prefixes_raw):
        net = parse_prefix(scope, "%s[%d]" % (label, i), p)
        for j, other in enumerate(prefixes):
            if other == net:
                _fail(scope, label, "lists %s twice" % net)
            if other.version == net.version and other.overlaps(net):
                _fail(scope, label, "%s and %s overlap" % (other, net))
        prefixes.append(net)

    if "address" in spec:
        address = parse_address(scope, field + ".address", spec["address"])
    else:
        address_raw = host_var(hostvars, host, "ipsec_wan_address")
        if address_raw is _MISSING or address_raw in (None, ""):
            _fail(scope, field + ".address", "not given and host '%s' has no ipsec_wan_address" % host)
        address = parse_address(scope, "%s.address (host var ipsec_wan_address of %s)" % (field, host),
                                address_raw)

    local_address = None
    if spec.get("local_address") is not None:
        local_address = parse_address(scope, field + ".local_address", spec["local_address"])
        if local_address.version != address.version:
            _fail(scope, field + ".local_address", "is IPv%d but the tunnel runs over IPv%d (address %s)"
                  % (local_address.version, address.version, address))
    passive = _check_type(scope, field + ".passive", "bool", spec.get("passive", False))
    return Endpoint(host, prefixes, address, local_address, passive, host_version(hostvars, host))


def _field_value(raw, name):
    value = raw.get(name, _MISSING)
    if value is _MISSING or value is None:
        field = _TUNNEL_BY_NAME[name]
        return field.default
    return value


def check_name(scope, field, value, maximum):
    if not isinstance(value, str):
        _fail(scope, field, "must be a string, got %s" % type(value).__name__)
    if not value:
        _fail(scope, field, "is empty")
    if len(value) > maximum:
        _fail(scope, field, "%r is longer than %d characters" % (value, maximum))
    if not NAME_RE.match(value):
        _fail(scope, field, "%r may only contain a-z, 0-9 and '-' (not at the ends)" % (value,))
    return value


def normalize_tunnel(raw, hostvars, origin=None):
    """Validate one raw tunnel mapping against the hosts it names; return a Tunnel."""
    if not isinstance(raw, dict):
        raise IntentError("ipsec_tunnels: each tunnel must be a mapping, got %s" % type(raw).__name__)
    name = raw.get("name")
    scope = tunnel_scope(name if isinstance(name, str) else "?", origin)
    if "name" not in raw:
        _fail(scope, "name", "is required")
    check_name(scope, "name", name, NAME_MAX)
    _check_known(scope, raw, _TUNNEL_BY_NAME, "tunnel")
    for required in ("a", "b", "auth"):
        if required not in raw or raw[required] is None:
            _fail(scope, required, "is required")

    a = _normalize_endpoint(scope, "a", raw["a"], hostvars)
    b = _normalize_endpoint(scope, "b", raw["b"], hostvars)
    if a.host == b.host:
        _fail(scope, "b", "is the same host as a (%s); a tunnel needs two routers" % a.host)
    if a.passive and b.passive:
        _fail(scope, "b.passive", "both ends are passive, so neither would ever start the tunnel")
    if a.address.version != b.address.version:
        _fail(scope, "b.address", "is IPv%d (%s) but a.address is IPv%d (%s): address family mismatch"
              % (b.address.version, b.address, a.address.version, a.address))
    if a.address == b.address:
        _fail(scope, "b.address", "both ends have the address %s" % a.address)
    _check_mirrored_prefixes(scope, a, b)

    ike_version = _check_type(scope, "ike_version", "int", _field_value(raw, "ike_version"))
    if ike_version not in (1, 2):
        _fail(scope, "ike_version", "must be 1 or 2, got %r" % ike_version)
    exchange_mode = raw.get("exchange_mode")
    if exchange_mode is not None:
        exchange_mode = _check_type(scope, "exchange_mode", "str", exchange_mode)
        if ike_version == 2:
            _fail(scope, "exchange_mode", "is an IKEv1 option; IKEv2 always uses ike2 (remove it or set "
                                          "ike_version: 1)")
        if exchange_mode not in ("main", "aggressive"):
            _fail(scope, "exchange_mode", "must be main or aggressive, got %r" % exchange_mode)
    mode = "ike2" if ike_version == 2 else (exchange_mode or "main")

    try:
        suite = crypto_suites.resolve_suite(_field_value(raw, "suite"))
    except crypto_suites.SuiteError as exc:
        _fail(scope, "suite" + ("." + exc.field if exc.field else ""), exc.message)
    if ike_version not in suite.ike_versions:
        _fail(scope, "suite", "preset %s is for IKEv%s but the tunnel uses IKEv%d"
              % (suite.name, "/".join(str(v) for v in suite.ike_versions), ike_version))

    phase1 = _lifetime(scope, "phase1_lifetime", _field_value(raw, "phase1_lifetime"))
    phase2 = _lifetime(scope, "phase2_lifetime", _field_value(raw, "phase2_lifetime"))
    if phase2 > phase1 and ike_version == 1:
        # IKEv1 rekeys phase 2 under a live phase 1; a longer child SA outlives its parent
        _fail(scope, "phase2_lifetime", "is longer than phase1_lifetime (%s > %s)"
              % (format_duration(phase2), format_duration(phase1)))

    dpd_raw = _field_value(raw, "dpd_interval")
    if isinstance(dpd_raw, str) and dpd_raw.strip() in ("disabled", "disable", "disable-dpd"):
        dpd_interval = None
    else:
        try:
            dpd_interval = parse_duration(dpd_raw)
        except ValueError as exc:
            _fail(scope, "dpd_interval", str(exc))
        if dpd_interval > DPD_MAX_SECONDS:
            _fail(scope, "dpd_interval", "%s is out of range 0s..1h" % format_duration(dpd_interval))
    dpd_failures = _check_type(scope, "dpd_failures", "int", _field_value(raw, "dpd_failures"))
    if not 1 <= dpd_failures <= 100:
        _fail(scope, "dpd_failures", "%d is out of range 1..100" % dpd_failures)

    nat_traversal = _check_type(scope, "nat_traversal", "bool", _field_value(raw, "nat_traversal"))
    allow_weak = _check_type(scope, "allow_weak_crypto", "bool", _field_value(raw, "allow_weak_crypto"))
    level = _check_type(scope, "policy_level", "str", _field_value(raw, "policy_level"))
    if level not in _TUNNEL_BY_NAME["policy_level"].choices:
        _fail(scope, "policy_level", "must be one of require, use, unique; got %r" % level)

    if not allow_weak:
        weak = crypto_suites.weaknesses(suite, phase2)
        if weak:
            field, reason = weak[0]
            _fail(scope, field if field == "phase2_lifetime" else "suite." + field,
                  "%s; set allow_weak_crypto: true to accept it" % reason)
    for endpoint, side in ((a, "a"), (b, "b")):
        if endpoint.version is not None:
            problems = crypto_suites.version_problems(suite, endpoint.version)
            if problems:
                _fail(scope, "suite." + problems[0][0], "%s (host %s runs %s)"
                      % (problems[0][1], endpoint.host, ".".join(str(v) for v in endpoint.version)))

    psk = _auth_psk(scope, raw["auth"], hostvars, a, b)

    ppk_secret = raw.get("ppk_secret")
    if ppk_secret is not None:
        ppk_secret = check_secret(scope, "ppk_secret", ppk_secret)
        if ike_version != 2:
            _fail(scope, "ppk_secret", "PPK exists only in IKEv2")
        if ppk_secret == psk:
            _fail(scope, "ppk_secret", "must differ from the PSK")
        _require_feature(scope, "ppk_secret", "ppk", (a, b))

    description = raw.get("description")
    if description is not None:
        description = _check_type(scope, "description", "str", description)
        if len(description) > DESCRIPTION_MAX or any(ord(c) < 32 or ord(c) == 127 for c in description):
            _fail(scope, "description", "must be at most %d printable characters on one line" % DESCRIPTION_MAX)

    return Tunnel(name=name, origin=origin, a=a, b=b, suite=suite, psk=psk, ike_version=ike_version,
                  exchange_mode=mode, phase1_lifetime=phase1, phase2_lifetime=phase2,
                  dpd_interval=dpd_interval, dpd_failures=dpd_failures, nat_traversal=nat_traversal,
                  allow_weak_crypto=allow_weak, policy_level=level, ppk_secret=ppk_secret,
                  description=description)


def _lifetime(scope, field, value):
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        _fail(scope, field, str(exc))
    if not LIFETIME_MIN_SECONDS <= seconds <= LIFETIME_MAX_SECONDS:
        _fail(scope, field, "%s is out of range 1m..1w" % format_duration(seconds))
    return seconds


def _require_feature(scope, field, feature, endpoints):
    minimum = FEATURE_VERSIONS[feature]
    for endpoint in endpoints:
        if endpoint.version is None:
            _fail(scope, field, "needs RouterOS %d.%d+ but host %s has no routeros_version"
                  % (minimum + (endpoint.host,)))
        if endpoint.version[:2] < minimum:
            _fail(scope, field, "needs RouterOS %d.%d+ but host %s runs %s"
                  % (minimum + (endpoint.host, ".".join(str(v) for v in endpoint.version))))


def _auth_psk(scope, auth, hostvars, a, b):
    if not isinstance(auth, dict):
        _fail(scope, "auth", "must be a mapping like {psk: \"{{ vault_psk }}\"}, got %s" % type(auth).__name__)
    _check_known(scope, dict(("auth." + k, v) for k, v in auth.items()),
                 set("auth." + k for k in _AUTH_KEYS), "auth")
    method = auth.get("method", "psk")
    if method != "psk":
        _fail(scope, "auth.method", "only psk is supported, got %r" % (method,))
    if "psk_var" in auth:
        # resolved by the topology expansion; a hand-written tunnel has no "spoke"
        _fail(scope, "auth.psk_var", "is only valid in a hub_and_spoke topology")
    if "psk" not in auth:
        _fail(scope, "auth.psk", "is missing: the vault variable is undefined (is the vault loaded?)")
    psk = auth["psk"]
    if isinstance(psk, HostVarRef):
        psk = psk.resolve(hostvars)
    return check_secret(scope, "auth.psk", psk)


def _check_mirrored_prefixes(scope, a, b):
    for lp in a.prefixes:
        for rp in b.prefixes:
            if lp.version == rp.version and lp.overlaps(rp):
                _fail(scope, "b.prefixes", "%s overlaps a's prefix %s; local and remote networks must "
                                           "be disjoint" % (rp, lp))
    # a family only one end has is simply not tunnelled (a dual-stack hub, an IPv4-only spoke)
    if not set(p.version for p in a.prefixes) & set(p.version for p in b.prefixes):
        _fail(scope, "b.prefixes", "share no address family with a.prefixes (%s vs %s): address family "
                                   "mismatch" % (", ".join(map(str, b.prefixes)), ", ".join(map(str, a.prefixes))))


# --- topologies ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)
def _safe_label(text):
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", label) or "x"


def generated_name(*parts):
    """Deterministic tunnel name from topology and host names, within NAME_MAX."""
    name = "-".join(_safe_label(p) for p in parts)
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()[:8]
    return name[:NAME_MAX - 9].rstrip("-") + "-" + digest


def _group_hosts(scope, field, groups, name):
    if not isinstance(name, str):
        _fail(scope, field, "must be a group name, got %s" % type(name).__name__)
    if groups is None or name not in groups:
        _fail(scope, field, "unknown group %r" % name)
    hosts = groups[name]
    if not hosts:
        _fail(scope, field, "group %r is empty" % name)
    return list(hosts)


def _endpoint_overrides(scope, field, value):
    if value is None:
        return {}
    value = _check_type(scope, field, "dict", value)
    for key in value:
        if key == "host":
            _fail(scope, field + ".host", "is set by the topology")
        if key not in _ENDPOINT_BY_NAME:
            _fail(scope, "%s.%s" % (field, key), "unknown endpoint field (known: %s)"
                  % ", ".join(sorted(k for k in _ENDPOINT_BY_NAME if k != "host")))
    return value


def expand_topologies(topologies, groups, hostvars, only_host=None):
    """Generated tunnels: a list of (raw tunnel mapping, topology name).

    With ``only_host``, only the tunnels that end on that host are generated (the topologies are still
    checked whole): planning one spoke of a large fleet costs O(its tunnels), not O(fleet).
    """
    if topologies is None:
        return []
    if not isinstance(topologies, (list, tuple)):
        raise IntentError("ipsec_topologies: must be a list, got %s" % type(topologies).__name__)
    generated = []
    seen = set()
    allowed = set(_TOPOLOGY_BY_NAME) | (set(_TUNNEL_BY_NAME) - set(TOPOLOGY_TUNNEL_EXCLUDED))
    for index, topo in enumerate(topologies):
        if not isinstance(topo, dict):
            raise IntentError("ipsec_topologies[%d]: must be a mapping" % index)
        name = topo.get("name")
        scope = "topology '%s'" % (name if isinstance(name, str) else "#%d" % index)
        if name is None:
            _fail(scope, "name", "is required")
        check_name(scope, "name", name, TOPOLOGY_NAME_MAX)
        if name in seen:
            _fail(scope, "name", "is used by two topologies")
        seen.add(name)
        _check_known(scope, topo, allowed, "topology")
        kind = topo.get("type")
        defaults = dict((k, v) for k, v in topo.items() if k in _TUNNEL_BY_NAME)
        auth = defaults.get("auth")
        if kind == "hub_and_spoke":
            for unused in ("members", "member_endpoint"):
                if unused in topo:
                    _fail(scope, unused, "belongs to full_mesh, not hub_and_spoke")
            generated.extend(_expand_hub_and_spoke(scope, name, topo, defaults, auth, groups, hostvars, only_host))
        elif kind == "full_mesh":
            for unused in ("hub", "spokes", "hub_endpoint", "spoke_endpoint"):
                if unused in topo:
                    _fail(scope, unused, "belongs to hub_and_spoke, not full_mesh")
            if isinstance(auth, dict) and "psk_var" in auth:
                _fail(scope, "auth.psk_var", "is only valid in a hub_and_spoke topology (a mesh tunnel "
                                             "has no spoke); give auth.psk")
            members = _group_hosts(scope, "members", groups, topo.get("members"))
            if len(set(members)) < 2:
                _fail(scope, "members", "group %r needs at least two hosts for a mesh" % topo["members"])
            overrides = _endpoint_overrides(scope, "member_endpoint", topo.get("member_endpoint"))
            ordered = sorted(set(members))
            for i, left in enumerate(ordered):
                if only_host is not None and only_host != left and only_host not in ordered[i + 1:]:
                    continue
                for right in ordered[i + 1:]:
                    if only_host is not None and only_host not in (left, right):
                        continue
                    raw = dict(defaults)
                    raw["name"] = generated_name(name, left, right)
                    raw["a"] = dict(overrides, host=left)
                    raw["b"] = dict(overrides, host=right)
                    generated.append((raw, name))
        else:
            _fail(scope, "type", "must be hub_and_spoke or full_mesh, got %r" % (kind,))
    return generated


class HostVarRef(object):
    """A host variable read only when needed (``auth.psk_var`` of a hub_and_spoke topology)."""

    __slots__ = ("host", "var")

    def __init__(self, host, var):
        self.host = host
        self.var = var

    def __eq__(self, other):
        return isinstance(other, HostVarRef) and (self.host, self.var) == (other.host, other.var)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.host, self.var))

    def __repr__(self):
        return "HostVarRef(%r, %r)" % (self.host, self.var)

    def resolve(self, hostvars):
        """The value, or None when the host or the variable is missing."""
        if not _host_exists(hostvars, self.host):
            return None
        value = host_var(hostvars, self.host, self.var)
        return None if value is _MISSING else value


def _expand_hub_and_spoke(scope, name, topo, defaults, auth, groups, hostvars, only_host=None):
    hub = topo.get("hub")
    if hub is None:
        _fail(scope, "hub", "is required for hub_and_spoke")
    if not isinstance(hub, str):
        _fail(scope, "hub", "must be a host or group name, got %s" % type(hub).__name__)
    if groups is not None and hub in groups:
        hubs = _group_hosts(scope, "hub", groups, hub)
    elif _host_exists(hostvars, hub):
        hubs = [hub]
    else:
        _fail(scope, "hub", "%r is neither an inventory host nor a group" % hub)
    if topo.get("spokes") is None:
        _fail(scope, "spokes", "is required for hub_and_spoke")
    spokes = _group_hosts(scope, "spokes", groups, topo["spokes"])
    hub_over = _endpoint_overrides(scope, "hub_endpoint", topo.get("hub_endpoint"))
    spoke_over = _endpoint_overrides(scope, "spoke_endpoint", topo.get("spoke_endpoint"))
    psk_var = auth.get("psk_var") if isinstance(auth, dict) else None
    if psk_var is not None and not isinstance(psk_var, str):
        _fail(scope, "auth.psk_var", "must be a host variable name")
    if isinstance(auth, dict) and psk_var is not None and "psk" in auth:
        _fail(scope, "auth", "give psk or psk_var, not both")
    hub_set = set(hubs)
    # a hub listed among the spokes is still only a hub
    spoke_set = set(spokes) - hub_set
    if not spoke_set:
        _fail(scope, "spokes", "group %r has no host other than the hub" % topo["spokes"])
    if only_host is not None:
        if only_host in hub_set:
            hub_set = set([only_host])
        elif only_host in spoke_set:
            spoke_set = set([only_host])
        else:
            return []
    out = []
    for h in sorted(hub_set):
        for s in sorted(spoke_set):
            raw = dict(defaults)
            raw["name"] = generated_name(name, h, s)
            raw["a"] = dict(hub_over, host=h)
            raw["b"] = dict(spoke_over, host=s)
            if psk_var is not None:
                tunnel_auth = dict((k, v) for k, v in auth.items() if k != "psk_var")
                # read when the tunnel is validated: planning one spoke must not template every
                # other spoke's secret
                tunnel_auth["psk"] = HostVarRef(s, psk_var)
                raw["auth"] = tunnel_auth
            out.append((raw, name))
    return out


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
        if _is_undefined(tunnels) or not isinstance(tunnels, (list, tuple)):
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
                _fail(scope, "name", "is required")
            check_name(scope, "name", name, NAME_MAX)
            if name in names:
                first = names[name]
                _fail(scope, "name", "duplicate tunnel name (also %s)"
                      % ("from topology '%s'" % first if first else "in ipsec_tunnels"))
            names[name] = origin
            hosts = set()
            for side in ("a", "b"):
                hosts.add(endpoint_host(scope, side, raw.get(side)))
            if only_host is not None and only_host not in hosts:
                continue
            for host in hosts:
                self.by_host.setdefault(host, []).append(position)

    def hosts(self):
        return sorted(self.by_host)

    def tunnels_of(self, host):
        """Validated tunnels of one host, checked against each other."""
        tunnels = [normalize_tunnel(self.entries[i][0], self.hostvars, self.entries[i][1])
                   for i in self.by_host.get(host, ())]
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
            per_host.setdefault(t.a.host, []).append(t)
            per_host.setdefault(t.b.host, []).append(t)
        if not errors:
            for host in sorted(per_host):
                try:
                    check_host(host, per_host[host])
                except IntentError as exc:
                    errors.extend(exc.errors)
        if errors:
            raise IntentError("; ".join(errors) if len(errors) == 1 else
                              "%d problems in the IPsec intent:\n- %s" % (len(errors), "\n- ".join(errors)),
                              errors)
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
        key = (remote.address, t.exchange_mode)
        if key in peers:
            other = peers[key]
            _fail(tunnel_scope(t.name, t.origin), "%s.address" % ("b" if remote is t.b else "a"),
                  "host %s already has tunnel '%s' to %s with exchange mode %s; RouterOS cannot tell "
                  "the two peers apart" % (host, other, remote.address, t.exchange_mode))
        peers[key] = t.name
    _check_selector_overlaps(scope, host, tunnels)


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
                    _fail(tunnel_scope(name), "prefixes", "%s on host %s" % (what, host))
                _fail(scope, "ipsec_tunnels", "%s: tunnels '%s' and '%s' (RouterOS would use only the "
                                              "first policy)" % (what, other[5], name))
        active.append(item)
