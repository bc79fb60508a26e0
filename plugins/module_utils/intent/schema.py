# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The intent schema: every field of ``ipsec_tunnels``, ``ipsec_topologies`` and the host variables the
planner reads, with its kind, default, choices and range — the one table that both the field checker
(``check_field``) and the generated reference in docs/intent.md (tools/gen_intent_docs.py) read.

Also the error type of the whole intent package: ``IntentError`` names the tunnel (or topology, or host)
and the field of every problem."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.menus import MENUS
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import format_duration
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites

# --- schema ------------------------------------------------------------------------------------


class Field(object):
    """One intent field: its type, default and documentation."""

    def __init__(self, name, kind, doc, required=False, default=None, choices=None, minimum=None,
                 maximum=None, default_doc=None, words=None):
        self.name = name
        self.kind = kind          # str, int, bool, list, dict, duration, endpoint, suite, secret
        self.doc = doc
        self.required = required
        self.default = default
        self.choices = choices
        # int: the value's range; duration: the range in seconds
        self.minimum = minimum
        self.maximum = maximum
        # how the default is described in docs when it is not a constant
        self.default_doc = default_doc
        # duration: words that stand for a value (e.g. dpd_interval `disabled` -> None)
        self.words = dict(words or {})

    def range_text(self):
        """The range as the docs and the errors write it (``1..100``, ``1m..1w``), or None."""
        if self.minimum is None and self.maximum is None:
            return None
        if self.kind == "str":
            return "at most %d characters" % self.maximum
        show = format_duration if self.kind == "duration" else str
        return "%s..%s" % (show(self.minimum) if self.minimum is not None else "",
                           show(self.maximum) if self.maximum is not None else "")


_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK_RE = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")


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


NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
NAME_MAX = 40
TOPOLOGY_NAME_MAX = 20
DESCRIPTION_MAX = 80
PSK_MIN_LENGTH = 20
DPD_MAX_SECONDS = 3600
LIFETIME_MIN_SECONDS = 60
LIFETIME_MAX_SECONDS = 7 * 86400
MIN_ROUTEROS = (7, 12)
# tunnel modes: policy-based, or route-based over a GRE / IPIP interface (docs/route-based.md)
MODES = ("policy", "gre", "ipip")
ROUTE_BASED_MODES = ("gre", "ipip")
# feature -> first RouterOS version that has it
# (from the device table: the first version with the profile's ppk argument)
FEATURE_VERSIONS = {"ppk": MENUS["/ip/ipsec/profile"].field("ppk").since}

ENDPOINT_FIELDS = (
    Field("host", "str", "Inventory hostname of the router at this end.", required=True),
    Field("prefixes", "list", "Local LAN prefixes protected at this end (list of IPv4/IPv6 "
          "networks, no host bits). One policy is made per (local, remote) pair of the same "
          "address family.", default_doc="host var `ipsec_lan_prefixes`"),
    Field("address", "str", "Public (WAN) address of this end; the other end's peer points at it "
          "as a /32 or /128. `dynamic`: this end has no fixed address (DSL/LTE, behind NAT): it "
          "always initiates (NAT-T), and the other end answers on one passive `0.0.0.0/0` peer with "
          "an identity and policy template per dynamic end, matched by its `ipsec_ike_id` (IKEv2, "
          "IPv4).", default_doc="host var `ipsec_wan_address`"),
    Field("dns_name", "str", "A DNS name the other end's peer points at instead of `address` (a hub "
          "reached by name; RouterOS resolves peer addresses itself).", default_doc="host var "
          "`ipsec_dns_name`, else unset"),
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
    Field("auth", "dict", "Authentication. `{psk: <key>}` (method `psk`): a pre-shared key of at "
          "least 20 characters, normally a vault variable. In a hub_and_spoke topology "
          "`{psk_var: <var>}` reads the key from each spoke's host var instead. "
          "`{method: certificate}`: IKEv2 `digital-signature` with a certificate per router issued "
          "by the fleet CA on the controller (see docs/certificates.md); each end sends its "
          "`ipsec_ike_id` (`fqdn:`) and expects the other's.", required=True),
    Field("ike_version", "int", "IKE version: 2, or 1 for legacy peers.", default=2,
          choices=(1, 2)),
    Field("exchange_mode", "str", "IKEv1 only: `main` or `aggressive` (peer `exchange-mode`). "
          "IKEv2 always uses `ike2`.", choices=("main", "aggressive"),
          default_doc="`main` with IKEv1"),
    Field("phase1_lifetime", "duration", "IKE SA lifetime (profile `lifetime`).",
          default="1d", minimum=LIFETIME_MIN_SECONDS, maximum=LIFETIME_MAX_SECONDS),
    Field("phase2_lifetime", "duration", "Child/ESP SA lifetime (proposal `lifetime`); "
          "over 24h counts as weak crypto.", default="30m", minimum=LIFETIME_MIN_SECONDS,
          maximum=LIFETIME_MAX_SECONDS),
    Field("dpd_interval", "duration", "Dead peer detection interval, or `disabled`.",
          default="2m", minimum=0, maximum=DPD_MAX_SECONDS,
          words={"disabled": None, "disable": None, "disable-dpd": None}),
    Field("dpd_failures", "int", "DPD failures before the peer is declared dead ("
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
          "(printable characters, one line).", default_doc="unset", maximum=DESCRIPTION_MAX),
    Field("backup", "dict", "High availability (docs/ha.md): a backup for one end, see the backup "
          "fields. The other end keeps a peer to each and moves the tunnel's policies to the backup "
          "when the primary is lost.", default_doc="unset (no backup)"),
    Field("failover", "dict", "How the end that is not backed up detects the loss of the primary "
          "and whether it fails back, see the failover fields. Only with `backup`.",
          default_doc="the failover defaults when `backup` is set"),
    # route-based tunnels (docs/route-based.md)
    Field("mode", "str", "`policy`: policy-based, one tunnel-mode IPsec policy per LAN prefix pair. "
          "`gre` / `ipip`: route-based, a GRE or IPIP interface on both ends protected by an IPsec "
          "transport-mode policy between the two WAN addresses, with a point-to-point address and "
          "static routes to the remote prefixes (docs/route-based.md).", default="policy",
          choices=MODES),
    Field("tunnel_address", "str", "Route-based: the point-to-point link subnet, an IPv4 /30 or /31 "
          "(`a` takes its first usable address, `b` the second).",
          default_doc="from `tunnel_pool`"),
    Field("tunnel_pool", "str", "Route-based: an IPv4 pool the link subnet is taken from: the "
          "`tunnel_slot`-th /`tunnel_prefix_length` of the pool. In a topology the slot of each "
          "generated tunnel follows the sorted host names (or the spoke's host var "
          "`ipsec_tunnel_slot`), so both ends always agree.", default_doc="unset"),
    Field("tunnel_slot", "int", "Route-based: the position of the link subnet in `tunnel_pool` "
          "(0 is the first). Set by topologies; give it to pin a hand-written tunnel.",
          minimum=0, maximum=(1 << 24) - 1, default_doc="set by the topology"),
    Field("tunnel_prefix_length", "int", "Route-based: the link subnet size taken from `tunnel_pool`, "
          "30 or 31 (RFC 3021).", default=30, choices=(30, 31)),
    Field("keepalive", "duration", "Route-based: interface keepalive interval 1s..1h (RouterOS "
          "`keepalive`; the interface is down when the far end stops answering).", default="10s",
          minimum=1, maximum=3600),
    Field("keepalive_retries", "int", "Route-based: keepalive replies missed before the interface is "
          "down (1..255).", default=10, minimum=1, maximum=255),
    Field("route_distance", "int", "Route-based: `distance` of the static routes to the remote "
          "prefixes (1..255); a backup tunnel to the same prefixes takes a higher one.", default=1,
          minimum=1, maximum=255),
    Field("check_gateway", "str", "Route-based: `check-gateway` of the static routes: `ping`, `arp` "
          "or `none`.", default="ping", choices=("ping", "arp", "none")),
    Field("wan_mtu", "int", "Route-based: MTU of the WAN path the tunnel runs over (576..9000).",
          default=1500, minimum=576, maximum=9000),
    Field("tunnel_mtu", "str", "Route-based: the interface `mtu`; `auto` computes it from `wan_mtu`, "
          "the encapsulation and the worst ESP transform of the suite (plan/mtu.py), or an integer.",
          default="auto"),
)

BACKUP_FIELDS = (
    Field("end", "str", "Which end the backup stands in for.", default="a", choices=("a", "b")),
    Field("host", "str", "A second router taking over that end: a second hub sharing its LAN, or the "
          "other router of a VRRP pair. It gets the same tunnel (same prefixes and auth) and is "
          "otherwise an ordinary end. Exactly one of `host` and `address`."),
    Field("address", "str", "A backup WAN address of the same router (a second uplink). Exactly one "
          "of `host` and `address`."),
)

FAILOVER_DETECT = ("netwatch", "dpd")
FAILOVER_INTERVAL_MIN = 1        # seconds: netwatch interval 1s.. (7.22.2 inspect)
FAILOVER_INTERVAL_MAX = 3600
FAILOVER_FIELDS = (
    Field("detect", "str", "How the loss is detected: `netwatch` probes `health_address` every "
          "`interval` and runs the generated switch scripts; `dpd` checks every `interval` (a "
          "scheduler) whether the IKE SA with the primary is still established, so the loss is "
          "seen once DPD (`dpd_interval`) has removed it.", default="netwatch",
          choices=FAILOVER_DETECT),
    Field("health_address", "str", "The address probed (netwatch `host`); `detect: netwatch` only.",
          default_doc="the primary's WAN address (backup `end`'s address)"),
    Field("interval", "duration", "Probe interval (netwatch `interval`). The lab measures "
          "a failover within one interval plus the IKE negotiation (docs/ha.md).", default="10s",
          minimum=FAILOVER_INTERVAL_MIN, maximum=FAILOVER_INTERVAL_MAX),
    Field("timeout", "duration", "How long a probe waits for its answer (netwatch `timeout`), "
          "less than `interval`.", default="1s"),
    Field("preempt", "bool", "Fail back to the primary when it answers again.", default=True),
)

VRRP_FIELDS = (
    Field("group", "str", "Name of the pair: the two routers with the same group are one site "
          "(lower-case letters, digits, `-`).", required=True),
    Field("interface", "str", "LAN interface VRRP runs on.", required=True),
    Field("vrid", "int", "Virtual router id, the same on both routers.", default=1, minimum=1, maximum=255),
    Field("priority", "int", "This router's priority; the higher one is master.", required=True,
          minimum=1, maximum=254),
    # VRRP advertisements carry the interval in whole seconds, 1..255 (RFC 3768)
    Field("interval", "duration", "VRRP advertisement interval.", default="1s", minimum=1, maximum=255),
    Field("preempt", "bool", "A higher priority router takes the master role back (VRRP "
          "`preemption-mode`).", default=True),
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
# (one link subnet or slot cannot serve every generated tunnel: the topology assigns slots)
TOPOLOGY_TUNNEL_EXCLUDED = ("name", "a", "b", "tunnel_address", "tunnel_slot")

HOST_VARS = (
    Field("ipsec_wan_address", "str", "The router's public address; default endpoint `address`."),
    Field("ipsec_lan_prefixes", "list", "The router's LAN prefixes; default endpoint `prefixes`."),
    Field("ipsec_vrrp", "dict", "The router is one of a VRRP pair (see the VRRP fields, docs/ha.md): "
          "its IPsec peers and policies are enabled only while it is VRRP master."),
    Field("ipsec_tunnel_slot", "int", "Route-based hub_and_spoke with a `tunnel_pool`: pins this "
          "spoke's slot in the pool (default: its position among the sorted spokes)."),
    Field("ipsec_ike_id", "str", "The router's IKE identity as a DNS name (`my-id=fqdn:<id>`, the "
          "certificate's subject alternative name) for `auth: {method: certificate}`; default the "
          "inventory hostname."),
    Field("ipsec_dns_name", "str", "A DNS name other routers' peers use to reach this router "
          "instead of its address (default endpoint `dns_name`). `ipsec_wan_address: dynamic` marks "
          "a router without a fixed address."),
    Field("ipsec_pki_dir", "str", "Controller directory of the fleet CA and the routers' "
          "certificates (keys encrypted with `ipsec_pki_passphrase`); needed by certificate "
          "tunnels."),
    Field("ipsec_pki_passphrase", "str", "Vault secret encrypting every private key the controller "
          "keeps (CA and routers) and unlocking a user's own CA key."),
    Field("ipsec_pki_ca_cert", "str", "Path of a user's existing CA certificate (PEM) to use "
          "instead of the generated fleet CA (with `ipsec_pki_ca_key`)."),
    Field("ipsec_pki_ca_key", "str", "Path of that CA's private key (PEM, encrypted with "
          "`ipsec_pki_passphrase`)."),
    Field("ipsec_pki_validity_days", "str", "Lifetime of a router certificate in days (default 365)."),
    Field("ipsec_pki_renew_before_days", "str", "Rotation window: a router certificate is replaced "
          "this many days before it expires (default 30)."),
    Field("routeros_version", "str", "RouterOS version running on the router (e.g. `7.22.2`); "
          "gates version-dependent features (PPK needs 7.21). RouterOS 7.12 or later is required."),
)

TUNNEL_BY_NAME = dict((f.name, f) for f in TUNNEL_FIELDS)
ENDPOINT_BY_NAME = dict((f.name, f) for f in ENDPOINT_FIELDS)
TOPOLOGY_BY_NAME = dict((f.name, f) for f in TOPOLOGY_FIELDS)
BACKUP_BY_NAME = dict((f.name, f) for f in BACKUP_FIELDS)
FAILOVER_BY_NAME = dict((f.name, f) for f in FAILOVER_FIELDS)
VRRP_BY_NAME = dict((f.name, f) for f in VRRP_FIELDS)
AUTH_KEYS = ("method", "psk", "psk_var")
AUTH_METHODS = ("psk", "certificate")
# an IKE ID / certificate DNS name: labels of letters, digits and '-', dot-separated
FQDN_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class IntentError(ValueError):
    """Invalid intent. ``errors`` lists every problem found (one message each)."""

    def __init__(self, message, errors=None):
        super(IntentError, self).__init__(message)
        self.errors = list(errors) if errors else [message]


def _where(scope, field):
    return "%s: field '%s'" % (scope, field) if field else scope


def fail(scope, field, message):
    raise IntentError("%s: %s" % (_where(scope, field), message))


def tunnel_scope(name, origin=None):
    scope = "tunnel '%s'" % (name,)
    return scope + (" (from topology '%s')" % origin if origin else "")


_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")


def is_undefined(value):
    # Jinja2 Undefined and ansible-core 2.19 markers (UndefinedMarker subclasses jinja2's Undefined),
    # recognised by class name so that module_utils does not import jinja2
    if isinstance(value, (str, dict, list, tuple, int, float)) or value is None:
        return False
    return any(c.__name__ in ("Undefined", "Marker") or c.__name__.endswith("Undefined")
               for c in type(value).__mro__)


def undefined_reason(value):
    for attribute in ("_undefined_message", "_undefined_name"):
        try:
            reason = getattr(value, attribute)
        except Exception:
            continue
        if isinstance(reason, str) and reason:
            return " (%s)" % (reason if attribute == "_undefined_message" else "'%s' is undefined" % reason)
    return ""


def check_type(scope, field, kind, value):
    """Return value coerced to ``kind`` or raise IntentError."""
    if is_undefined(value):
        fail(scope, field, "is undefined")
    if kind == "str":
        if not isinstance(value, str):
            fail(scope, field, "must be a string, got %s" % type(value).__name__)
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        fail(scope, field, "must be a boolean (true/false), got %r" % (value,))
    if kind == "int":
        if isinstance(value, bool):
            fail(scope, field, "must be an integer, got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        fail(scope, field, "must be an integer, got %r" % (value,))
    if kind == "list":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            fail(scope, field, "must be a list, got %s" % type(value).__name__)
        return list(value)
    if kind == "dict":
        if not isinstance(value, dict):
            fail(scope, field, "must be a mapping, got %s" % type(value).__name__)
        return value
    return value


def check_field(scope, field, value, label=None):
    """``value`` of the intent field ``field`` (a Field of this table) coerced to its kind and checked
    against the field's choices and range; the field's default when the value is None.

    This is the one checker of the table's kinds, choices and ranges: what the docs say about a field
    (tools/gen_intent_docs.py reads the same Field) is what is enforced."""
    label = label or field.name
    if value is None:
        value = field.default
        if value is None:
            return None
    if field.kind == "duration":
        if isinstance(value, str) and value.strip() in field.words:
            return field.words[value.strip()]
        if is_undefined(value):
            fail(scope, label, "is undefined")
        try:
            value = parse_duration(value)
        except ValueError as exc:
            fail(scope, label, str(exc))
        shown = format_duration(value)
    else:
        value = check_type(scope, label, field.kind, value)
        shown = "%r" % (value,) if field.kind == "str" else str(value)
    if field.choices is not None and value not in field.choices:
        fail(scope, label, "must be %s, got %s" % (_one_of(field.choices), shown))
    if field.kind == "str":
        if field.maximum is not None and len(value) > field.maximum:
            fail(scope, label, "is %d characters; at most %d are allowed" % (len(value), field.maximum))
    elif ((field.minimum is not None and value < field.minimum)
          or (field.maximum is not None and value > field.maximum)):
        fail(scope, label, "%s is out of range %s" % (shown, field.range_text()))
    return value


def _one_of(choices):
    words = [str(c) for c in choices]
    if len(words) == 2:
        return "%s or %s" % tuple(words)
    return "one of " + ", ".join(words)


def check_known(scope, given, known, what):
    """Refuse every key of ``given`` that is not in ``known`` (all of them in one IntentError)."""
    problems = Problems()
    for key in given:
        if key not in known:
            close = _closest(key, known)
            problems.add(scope, key if isinstance(key, str) else repr(key),
                         "unknown %s field%s (known: %s)" % (what, (", did you mean '%s'?" % close) if close else "",
                                                             ", ".join(sorted(known))))
    problems.raise_any()


FAILED = type("Failed", (object,), {"__repr__": lambda self: "FAILED", "__bool__": lambda self: False})()


class Problems(object):
    """Every problem of one scope (a tunnel, an endpoint), so that one run reports them all.

    ``attempt`` runs one check and returns its value, or ``FAILED`` after recording its IntentError;
    checks that need a failed value are skipped by the caller (``ok``)."""

    def __init__(self):
        self.errors = []

    def add(self, scope, field, message):
        self.errors.append("%s: %s" % (_where(scope, field), message))

    def attempt(self, check, *args, **kwargs):
        try:
            return check(*args, **kwargs)
        except IntentError as exc:
            self.errors.extend(exc.errors)
            return FAILED

    @staticmethod
    def ok(*values):
        return not any(v is FAILED for v in values)

    def raise_any(self):
        if self.errors:
            raise_errors(self.errors)


def raise_errors(errors):
    """One IntentError listing ``errors`` (a list of messages)."""
    if len(errors) == 1:
        raise IntentError(errors[0])
    raise IntentError("%d problems in the IPsec intent:\n- %s" % (len(errors), "\n- ".join(errors)), errors)


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
