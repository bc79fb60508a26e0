# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security audit: from the inventory (no router) and from a router's gathered configuration,
hand-made items included. Pure functions.

A finding is a dict: ``rule`` (one of RULES), ``severity`` (critical, high, medium, low, info),
``object`` (what it is about: ``/ip/ipsec/proposal ipsecfleet-x`` or ``tunnel t1``), ``message``,
``fix``, ``source`` (inventory | router), ``owned`` (False: an item not made by the collection).

The policy file (YAML, see docs/observe.md) decides which findings fail the run:

    fail_on: high                 # the lowest severity that fails (default: high)
    require_certificates: false   # PSK authentication is a finding that fails
    min_psk_length: 20
    min_dh_group: 14
    max_phase2_lifetime: 24h
    ignore: [cipher_below_aes256] # rules not reported at all
    severity: {missing_pfs: high} # a rule's severity changed

The rules cover the seed guide's "Security Best Practices" point by point (BEST_PRACTICES).

Kept Python 3.8+ compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import default_of, parse_duration
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites

SEVERITIES = ("info", "low", "medium", "high", "critical")

# rule -> (default severity, fix)
RULES = {
    "weak_cipher": ("high", "use aes-256 (IKE) and aes-256-gcm or aes-256-cbc (ESP); remove des/3des/blowfish/null"),
    "cipher_below_aes256": ("low", "the guide's practice is AES-256: prefer aes-256 / aes-256-gcm"),
    "weak_hash": ("high", "use sha256 or stronger (or an AEAD cipher for ESP); remove md5/sha1"),
    "dh_below_14": ("high", "use DH group 14 (modp2048) or stronger: ecp256, ecp384, modp3072, x25519"),
    "missing_pfs": ("medium", "set pfs-group on the proposal (ecp256, modp2048 or stronger)"),
    "phase2_lifetime_over_24h": ("medium", "set the proposal lifetime to 24h or less (e.g. 1h)"),
    "peer_any_address": ("high", "give the peer the remote router's address (/32), never 0.0.0.0/0 or ::/0"),
    "psk_not_certificate": ("medium", "use certificate authentication (auth-method=digital-signature)"),
    "short_psk": ("high", "use a random pre-shared key of at least {min_psk_length} characters"),
    "insecure_vpn_server": ("high", "disable PPTP, and L2TP without IPsec; use IPsec (IKEv2) instead"),
    "ipsec_logging_off": ("medium", "log topic ipsec (or error) to memory/remote: /system logging add topics=ipsec,!debug"),
    "api_without_tls": ("high", "disable the plain api service and use api-ssl (ipsec_api_tls: true)"),
    "api_ssl_anonymous": ("high", "import a certificate for the router, set it on api-ssl (/ip service set api-ssl "
                                  "certificate=...) and validate it (ipsec_api_validate_certs, ipsec_api_ca_path); "
                                  "do not use ipsec_api_force_no_cert"),
    "api_open_to_world": ("high", "restrict the API service's address= (and the input chain) to the management "
                                  "networks (ipsec_firewall_management_sources)"),
    "insecure_management": ("medium", "disable telnet, ftp and www (use ssh, www-ssl)"),
    "allow_weak_crypto": ("medium", "remove allow_weak_crypto and move the tunnel to a strong suite"),
}

# the seed guide's "Security Best Practices" list -> the rules that check it
BEST_PRACTICES = (
    ("Use Strong Encryption: Always use AES-256 with SHA-256 or stronger",
     ("weak_cipher", "cipher_below_aes256", "weak_hash", "allow_weak_crypto")),
    ("Implement Perfect Forward Secrecy (PFS): Use DH groups 14 or higher", ("missing_pfs", "dh_below_14")),
    ("Regular Key Rotation: Set lifetime limits under 24 hours for Phase 2", ("phase2_lifetime_over_24h",)),
    ("Restrict Peer Addresses: Never use 0.0.0.0/0 for peer addresses", ("peer_any_address",)),
    ("Enable Logging: Monitor failed authentication attempts", ("ipsec_logging_off",)),
    ("Use Certificate Authentication: Prefer certificates over PSK for production",
     ("psk_not_certificate", "short_psk")),
)

DEFAULT_POLICY = {
    "fail_on": "high",
    "require_certificates": False,
    "min_psk_length": 20,
    "min_dh_group": 14,
    "max_phase2_lifetime": "24h",
    "ignore": [],
    "severity": {},
}

# RouterOS DH names -> IANA group numbers (RFC 3526/5114/5903/8031)
DH_GROUP_NUMBERS = {
    "modp768": 1, "modp1024": 2, "ec2n155": 3, "ec2n185": 4, "modp1536": 5, "modp2048": 14, "modp3072": 15,
    "modp4096": 16, "modp6144": 17, "modp8192": 18, "ecp256": 19, "ecp384": 20, "ecp521": 21, "x25519": 31,
}
BELOW_AES256 = frozenset(("aes-128", "aes-192", "aes-128-cbc", "aes-192-cbc", "aes-128-ctr", "aes-192-ctr",
                          "aes-128-gcm", "aes-192-gcm", "camellia-128", "camellia-192"))
ANY_ADDRESS = ("0.0.0.0/0", "::/0", "0.0.0.0", "::")


class PolicyError(ValueError):
    """The audit policy file is malformed (the message names the key)."""


def load_policy(data):
    """The policy with defaults filled; ``data`` is the parsed YAML (a mapping or None)."""
    policy = dict(DEFAULT_POLICY)
    if data is None:
        return policy
    if not isinstance(data, dict):
        raise PolicyError("audit policy: must be a mapping, got %s" % type(data).__name__)
    for key, value in data.items():
        if key not in DEFAULT_POLICY:
            raise PolicyError("audit policy: unknown key %r (known: %s)" % (key, ", ".join(sorted(DEFAULT_POLICY))))
        policy[key] = value
    if policy["fail_on"] not in SEVERITIES + ("never",):
        raise PolicyError("audit policy: fail_on must be one of %s or never" % ", ".join(SEVERITIES))
    for rule in list(policy["ignore"] or []) + list((policy["severity"] or {}).keys()):
        if rule not in RULES:
            raise PolicyError("audit policy: unknown rule %r" % rule)
    for rule, severity in (policy["severity"] or {}).items():
        if severity not in SEVERITIES:
            raise PolicyError("audit policy: severity.%s must be one of %s" % (rule, ", ".join(SEVERITIES)))
    if parse_duration(policy["max_phase2_lifetime"]) is None:
        raise PolicyError("audit policy: max_phase2_lifetime is not a RouterOS time: %r" % policy["max_phase2_lifetime"])
    for key in ("min_psk_length", "min_dh_group"):
        if not isinstance(policy[key], int) or isinstance(policy[key], bool):
            raise PolicyError("audit policy: %s must be an integer" % key)
    return policy


def _finding(policy, rule, obj, message, source, host=None, owned=True):
    severity, fix = RULES[rule]
    severity = (policy.get("severity") or {}).get(rule, severity)
    return {"rule": rule, "severity": severity, "object": obj, "message": message,
            "fix": fix.format(min_psk_length=policy["min_psk_length"]), "source": source, "host": host,
            "owned": owned}


def _split(value):
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


# --- the checks on RouterOS values (shared by the inventory and the router audit) ---------------------

def _crypto_findings(policy, obj, source, host, owned, enc=(), hashes=(), dh=(), pfs=None, lifetime=None):
    found = []
    weak = [v for v in enc if v in crypto_suites.WEAK_ENCRYPTION]
    if weak:
        found.append(_finding(policy, "weak_cipher", obj, "weak encryption %s" % ", ".join(weak), source, host, owned))
    below = [v for v in enc if v in BELOW_AES256]
    if below:
        found.append(_finding(policy, "cipher_below_aes256", obj, "encryption below AES-256: %s" % ", ".join(below),
                              source, host, owned))
    weak = [v for v in hashes if v in crypto_suites.WEAK_HASH]
    if weak:
        found.append(_finding(policy, "weak_hash", obj, "weak hash %s" % ", ".join(weak), source, host, owned))
    low = [v for v in dh if DH_GROUP_NUMBERS.get(v, 99) < policy["min_dh_group"]]
    if pfs not in (None, "", "none") and DH_GROUP_NUMBERS.get(pfs, 99) < policy["min_dh_group"]:
        low.append("pfs-group " + pfs)
    if low:
        found.append(_finding(policy, "dh_below_14", obj, "DH group below %d: %s" % (policy["min_dh_group"], ", ".join(low)),
                              source, host, owned))
    if pfs == "none":
        found.append(_finding(policy, "missing_pfs", obj, "no PFS (pfs-group=none)", source, host, owned))
    if lifetime is not None:
        seconds = parse_duration(lifetime)
        if seconds is not None and seconds > parse_duration(policy["max_phase2_lifetime"]):
            found.append(_finding(policy, "phase2_lifetime_over_24h", obj, "phase-2 lifetime %s is over %s"
                                  % (lifetime, policy["max_phase2_lifetime"]), source, host, owned))
    return found


# --- from the inventory --------------------------------------------------------------------------------

def audit_intent(tunnels, hostvars=None, policy=None):
    """Findings from validated intent.Tunnel objects and the routers' inventory variables (no router)."""
    policy = policy or load_policy(None)
    found = []
    for tunnel in tunnels:
        obj = "tunnel %s" % tunnel.name
        suite = tunnel.suite
        found += _crypto_findings(policy, obj + " (phase 1, suite %s)" % suite.name, "inventory", None, True,
                                  enc=_split(suite.profile.get("enc_algorithm")),
                                  hashes=_split(suite.profile.get("hash_algorithm")),
                                  dh=_split(suite.profile.get("dh_group")))
        auth = _split(suite.proposal.get("auth_algorithms"))
        found += _crypto_findings(policy, obj + " (phase 2, suite %s)" % suite.name, "inventory", None, True,
                                  enc=_split(suite.proposal.get("enc_algorithms")), hashes=auth,
                                  pfs=suite.proposal.get("pfs_group"), lifetime="%ds" % tunnel.phase2_lifetime)
        if tunnel.allow_weak_crypto:
            found.append(_finding(policy, "allow_weak_crypto", obj, "allow_weak_crypto: true", "inventory"))
        for end in (tunnel.a, tunnel.b):
            if str(end.address) in ANY_ADDRESS:
                found.append(_finding(policy, "peer_any_address", obj, "%s's address is %s" % (end.host, end.address),
                                      "inventory"))
        if policy["require_certificates"]:
            found.append(_finding(policy, "psk_not_certificate", obj, "authenticates with a pre-shared key",
                                  "inventory"))
        if tunnel.psk is not None and len(tunnel.psk) < policy["min_psk_length"]:
            found.append(_finding(policy, "short_psk", obj, "the pre-shared key has %d characters (minimum %d)"
                                  % (len(tunnel.psk), policy["min_psk_length"]), "inventory"))
    for host in sorted(set(e.host for t in tunnels for e in (t.a, t.b))):
        found += audit_host_vars(host, (hostvars or {}).get(host) or {}, policy)
    return found


def audit_host_vars(host, variables, policy):
    """API access as the inventory configures it for ``host``."""
    found = []
    tls = variables.get("ipsec_api_tls", False)
    if str(tls).lower() not in ("true", "yes", "1"):
        found.append(_finding(policy, "api_without_tls", "host %s" % host, "the collection reaches the API without "
                              "TLS (ipsec_api_tls is not true)", "inventory", host))
    elif str(variables.get("ipsec_api_force_no_cert", False)).lower() in ("true", "yes", "1"):
        found.append(_finding(policy, "api_ssl_anonymous", "host %s" % host, "the collection reaches api-ssl with "
                              "anonymous DH (ipsec_api_force_no_cert): anyone on the path can pose as the router "
                              "and read the API password", "inventory", host))
    sources = variables.get("ipsec_firewall_management_sources") or []
    for source in sources:
        address = source.get("address") if isinstance(source, dict) else source
        if str(address) in ANY_ADDRESS:
            found.append(_finding(policy, "api_open_to_world", "host %s" % host, "management source %s admits "
                                  "everyone" % address, "inventory", host))
    return found


# --- from a router -------------------------------------------------------------------------------------

def _value(path, row, name):
    value = row.get(name)
    if value in (None, ""):
        default = default_of(path, name)
        return "" if default is None else default
    return value


def _owned(path, row):
    menu = menus.MENUS.get(path)
    return menu is not None and menus.owner_key(menu, row) is not None


def _label(path, row):
    for name in ("name", "comment", "peer", ".id"):
        if row.get(name):
            return "%s %s" % (path, row[name])
    return path


def _enabled(row):
    return str(row.get("disabled", "false")).lower() not in ("true", "yes") and \
        str(row.get("dynamic", "false")).lower() not in ("true", "yes")


def audit_router(host, config, policy=None):
    """Findings from one router's gathered configuration (observe.gather: every item, owned or not).

    ``config`` keys (each a list of printed rows, missing: not readable): profiles, proposals,
    peers, identities, policies, services (/ip/service), logging (/system/logging), pptp_server,
    l2tp_server, sstp_server (their singleton rows)."""
    policy = policy or load_policy(None)
    found = []
    used_proposals = set(_value("/ip/ipsec/policy", p, "proposal") for p in config.get("policies") or ()
                         if _enabled(p) and str(p.get("template", "false")) not in ("true", "yes"))
    used_profiles = set(_value("/ip/ipsec/peer", p, "profile") for p in config.get("peers") or () if _enabled(p))
    path = "/ip/ipsec/profile"
    for row in config.get("profiles") or ():
        if row.get("name") not in used_profiles and row.get("name") == "default":
            continue   # the built-in default is only a finding when a peer uses it
        found += _crypto_findings(policy, _label(path, row), "router", host, _owned(path, row),
                                  enc=_split(_value(path, row, "enc-algorithm")),
                                  hashes=_split(_value(path, row, "hash-algorithm")),
                                  dh=_split(_value(path, row, "dh-group")))
    path = "/ip/ipsec/proposal"
    for row in config.get("proposals") or ():
        if not _enabled(row) or (row.get("name") == "default" and "default" not in used_proposals):
            continue
        enc = _split(_value(path, row, "enc-algorithms"))
        auth = [] if all(e in crypto_suites.AEAD_ALGORITHMS for e in enc) else _split(_value(path, row, "auth-algorithms"))
        found += _crypto_findings(policy, _label(path, row), "router", host, _owned(path, row), enc=enc, hashes=auth,
                                  pfs=_value(path, row, "pfs-group"), lifetime=_value(path, row, "lifetime"))
    path = "/ip/ipsec/peer"
    for row in config.get("peers") or ():
        if _enabled(row) and str(row.get("address", "")).strip() in ANY_ADDRESS + ("",):
            found.append(_finding(policy, "peer_any_address", _label(path, row), "peer address %s"
                                  % (row.get("address") or "not set (any)"), "router", host, _owned(path, row)))
    path = "/ip/ipsec/identity"
    for row in config.get("identities") or ():
        if not _enabled(row):
            continue
        method = _value(path, row, "auth-method")
        owned = _owned(path, row)
        if method.startswith("pre-shared-key"):
            if policy["require_certificates"]:
                found.append(_finding(policy, "psk_not_certificate", _label(path, row), "auth-method=%s" % method,
                                      "router", host, owned))
            secret = row.get("secret")
            if secret is not None and len(secret) < policy["min_psk_length"]:
                found.append(_finding(policy, "short_psk", _label(path, row), "the secret has %d characters (minimum %d)"
                                      % (len(secret), policy["min_psk_length"]), "router", host, owned))
    found += _audit_vpn_servers(host, config, policy)
    found += _audit_logging(host, config, policy)
    found += _audit_services(host, config, policy)
    return found


def _audit_vpn_servers(host, config, policy):
    found = []
    for key, path in (("pptp_server", "/interface/pptp-server/server"), ("l2tp_server", "/interface/l2tp-server/server")):
        for row in config.get(key) or ():
            if str(row.get("enabled", "no")).lower() not in ("yes", "true"):
                continue
            if key == "pptp_server":
                found.append(_finding(policy, "insecure_vpn_server", path, "PPTP server enabled (MPPE is broken)",
                                      "router", host, False))
            elif str(row.get("use-ipsec", "no")).lower() in ("no", "false"):
                found.append(_finding(policy, "insecure_vpn_server", path, "L2TP server enabled without IPsec "
                                      "(use-ipsec=%s)" % row.get("use-ipsec", "no"), "router", host, False))
    return found


def _audit_logging(host, config, policy):
    rules = config.get("logging")
    if rules is None:
        return []     # not readable: no claim either way
    for row in rules:
        if str(row.get("disabled", "false")).lower() in ("true", "yes"):
            continue
        topics = _split(row.get("topics"))
        if ("ipsec" in topics or "error" in topics) and "!ipsec" not in topics:
            return []
    return [_finding(policy, "ipsec_logging_off", "/system/logging", "no enabled logging rule takes topic ipsec "
                     "(or error): failed authentications are not recorded", "router", host, False)]


def _audit_services(host, config, policy):
    found = []
    for row in config.get("services") or ():
        if not _enabled(row):
            continue
        name = row.get("name")
        obj = "/ip/service %s" % name
        if name == "api":
            found.append(_finding(policy, "api_without_tls", obj, "the plain-text API (port %s) is enabled"
                                  % row.get("port", "8728"), "router", host, False))
        if name == "api-ssl" and (row.get("certificate") or "none") == "none":
            # manual "Services": without a certificate api-ssl is anonymous-DH TLS (no server identity)
            found.append(_finding(policy, "api_ssl_anonymous", obj, "certificate=none: api-ssl speaks only "
                                  "anonymous DH, so nothing proves the router's identity", "router", host, False))
        if name in ("api", "api-ssl"):
            addresses = _split(row.get("address"))
            if not addresses or any(a in ANY_ADDRESS for a in addresses):
                found.append(_finding(policy, "api_open_to_world", obj, "address=%s: any source may connect"
                                      % (row.get("address") or "(empty)"), "router", host, False))
        if name in ("telnet", "ftp", "www"):
            found.append(_finding(policy, "insecure_management", obj, "%s is enabled (clear text)" % name,
                                  "router", host, False))
    return found


# --- the verdict ---------------------------------------------------------------------------------------

def apply_policy(findings, policy):
    """(reported findings, failing findings) under ``policy`` (ignore, fail_on)."""
    ignored = set(policy.get("ignore") or [])
    reported = [f for f in findings if f["rule"] not in ignored]
    if policy["fail_on"] == "never":
        return reported, []
    threshold = SEVERITIES.index(policy["fail_on"])
    failing = [f for f in reported if SEVERITIES.index(f["severity"]) >= threshold
               or (f["rule"] == "psk_not_certificate" and policy["require_certificates"])]
    return reported, failing


def summary(findings):
    """Counts by severity, highest first."""
    counts = dict((s, 0) for s in SEVERITIES)
    for item in findings:
        counts[item["severity"]] += 1
    return [(s, counts[s]) for s in reversed(SEVERITIES) if counts[s]]
