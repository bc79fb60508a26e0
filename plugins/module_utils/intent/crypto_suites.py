# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crypto suites: named presets and custom suites, checked against what RouterOS 7 accepts.

A suite fixes phase 1 (the IKE ``/ip/ipsec/profile`` algorithms) and phase 2 (the ESP
``/ip/ipsec/proposal`` algorithms). Allowed values are RouterOS facts from /console/inspect
7.9.2-7.24 (see /work/shared/reference); the weak-algorithm list is this collection's policy: RouterOS
still accepts all of them.

Everything here is pure data and pure functions; errors are reported as plain strings so that the
intent validator can attach the tunnel and field to them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.menus import VALUE_VERSIONS

# --- RouterOS facts ------------------------------------------------------------------------------

# /ip/ipsec/profile enc-algorithm (list): no blowfish/camellia although old manuals list them.
PROFILE_ENC_ALGORITHMS = ("aes-256", "aes-192", "aes-128", "3des", "des")
PROFILE_HASH_ALGORITHMS = ("md5", "sha1", "sha256", "sha384", "sha512")
PROFILE_PRF_ALGORITHMS = ("auto", "sha1", "sha256", "sha384", "sha512")
# ec2n155/ec2n185 exist only before 7.12 (see VERSION_REMOVED)
PROFILE_DH_GROUPS = ("x25519", "ecp256", "ecp384", "ecp521", "modp8192", "modp6144", "modp4096",
                     "modp3072", "modp2048", "modp1536", "modp1024", "modp768", "ec2n155", "ec2n185")

# /ip/ipsec/proposal
PROPOSAL_ENC_ALGORITHMS = (
    "chacha20poly1305", "aes-256-cbc", "aes-256-ctr", "aes-256-gcm", "camellia-256", "aes-192-cbc",
    "aes-192-ctr", "aes-192-gcm", "camellia-192", "aes-128-cbc", "aes-128-ctr", "aes-128-gcm",
    "camellia-128", "3des", "blowfish", "twofish", "des", "null",
)
PROPOSAL_AUTH_ALGORITHMS = ("sha512", "sha256", "sha1", "md5", "null")
# The proposal has no x25519 (only the profile has).
PROPOSAL_PFS_GROUPS = ("none", "ecp256", "ecp384", "ecp521", "modp768", "modp1024", "modp1536",
                       "modp2048", "modp3072", "modp4096", "modp6144", "modp8192")

# Ciphers that authenticate on their own: the proposal's auth-algorithms is "" for these.
AEAD_ALGORITHMS = frozenset(("aes-256-gcm", "aes-192-gcm", "aes-128-gcm", "chacha20poly1305"))

# Values that appeared or disappeared within RouterOS 7 (first version with / without them).
# (from the device table: device/menus.py VALUE_VERSIONS)
VERSION_REMOVED = dict((value, removed) for value, (_since, removed)
                       in VALUE_VERSIONS[("/ip/ipsec/profile", "dh-group")].items() if removed)

# --- collection policy: weak unless allow_weak_crypto ----------------------------------------------

WEAK_ENCRYPTION = frozenset(("des", "3des", "null", "blowfish"))
WEAK_HASH = frozenset(("md5", "sha1", "null"))
# below 2048-bit MODP, and the binary curves removed in 7.12
WEAK_DH = frozenset(("modp768", "modp1024", "modp1536", "ec2n155", "ec2n185"))
MAX_STRONG_PHASE2_LIFETIME = 24 * 3600

# --- presets ---------------------------------------------------------------------------------------

PRESETS = {
    "ikev2-aes256gcm-ecp384": {
        "description": "Default. IKEv2, AES-256 with SHA-384 in phase 1, AES-256-GCM with ECP-384 PFS "
                       "in phase 2 (CNSA-style).",
        "ike_versions": (2,),
        "profile": {"enc_algorithm": ("aes-256",), "hash_algorithm": "sha384",
                    "prf_algorithm": "sha384", "dh_group": ("ecp384",)},
        "proposal": {"enc_algorithms": ("aes-256-gcm",), "auth_algorithms": (),
                     "pfs_group": "ecp384"},
    },
    "ikev2-aes256gcm-modp3072": {
        "description": "IKEv2, AES-256/SHA-256 and MODP-3072 in phase 1, AES-256-GCM with MODP-3072 "
                       "PFS; for peers without elliptic curves.",
        "ike_versions": (2,),
        "profile": {"enc_algorithm": ("aes-256",), "hash_algorithm": "sha256",
                    "prf_algorithm": "sha256", "dh_group": ("modp3072",)},
        "proposal": {"enc_algorithms": ("aes-256-gcm",), "auth_algorithms": (),
                     "pfs_group": "modp3072"},
    },
    "ikev2-aes128gcm-ecp256": {
        "description": "IKEv2, AES-128/SHA-256 and ECP-256, AES-128-GCM with ECP-256 PFS; lighter "
                       "on small routers without AES hardware.",
        "ike_versions": (2,),
        "profile": {"enc_algorithm": ("aes-128",), "hash_algorithm": "sha256",
                    "prf_algorithm": "sha256", "dh_group": ("ecp256",)},
        "proposal": {"enc_algorithms": ("aes-128-gcm",), "auth_algorithms": (),
                     "pfs_group": "ecp256"},
    },
    "ikev2-aes256cbc-sha256-modp2048": {
        "description": "Compatible IKEv2: AES-256-CBC with HMAC-SHA-256 and MODP-2048, what most "
                       "third-party gateways accept.",
        "ike_versions": (2,),
        "profile": {"enc_algorithm": ("aes-256",), "hash_algorithm": "sha256",
                    "prf_algorithm": "sha256", "dh_group": ("modp2048",)},
        "proposal": {"enc_algorithms": ("aes-256-cbc",), "auth_algorithms": ("sha256",),
                     "pfs_group": "modp2048"},
    },
    "ikev1-aes256cbc-sha256-modp2048": {
        "description": "Compatible IKEv1 (main mode) for legacy peers: AES-256-CBC, SHA-256, "
                       "MODP-2048 with PFS.",
        "ike_versions": (1,),
        "profile": {"enc_algorithm": ("aes-256",), "hash_algorithm": "sha256",
                    "prf_algorithm": "auto", "dh_group": ("modp2048",)},
        "proposal": {"enc_algorithms": ("aes-256-cbc",), "auth_algorithms": ("sha256",),
                     "pfs_group": "modp2048"},
    },
}

DEFAULT_SUITE = "ikev2-aes256gcm-ecp384"

_SECTION_FIELDS = {
    "profile": {
        "enc_algorithm": (PROFILE_ENC_ALGORITHMS, True),
        "hash_algorithm": (PROFILE_HASH_ALGORITHMS, False),
        "prf_algorithm": (PROFILE_PRF_ALGORITHMS, False),
        "dh_group": (PROFILE_DH_GROUPS, True),
    },
    "proposal": {
        "enc_algorithms": (PROPOSAL_ENC_ALGORITHMS, True),
        "auth_algorithms": (PROPOSAL_AUTH_ALGORITHMS, True),
        "pfs_group": (PROPOSAL_PFS_GROUPS, False),
    },
}
# what a custom suite may leave out, and what it then gets
_CUSTOM_DEFAULTS = {"profile": {"prf_algorithm": "auto"}, "proposal": {}}


class SuiteError(ValueError):
    """A suite is malformed; ``field`` names the offending key (dotted, relative to the suite)."""

    def __init__(self, field, message):
        super(SuiteError, self).__init__(message)
        self.field = field
        self.message = message


class Suite(object):
    """A resolved suite: RouterOS values ready for the profile and the proposal."""

    def __init__(self, name, ike_versions, profile, proposal, preset):
        self.name = name
        self.ike_versions = tuple(ike_versions)
        self.profile = profile
        self.proposal = proposal
        self.preset = preset

    def as_dict(self):
        return {"name": self.name, "ike_versions": list(self.ike_versions), "preset": self.preset,
                "profile": dict((k, list(v) if isinstance(v, tuple) else v) for k, v in self.profile.items()),
                "proposal": dict((k, list(v) if isinstance(v, tuple) else v) for k, v in self.proposal.items())}


def _as_list(value, field):
    """RouterOS lists may be given as "a,b" or as a YAML list; "" and [] mean an empty list."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if not isinstance(v, str):
                raise SuiteError(field, "must be a list of strings, got %r" % (v,))
            items.append(v.strip())
        return tuple(items)
    raise SuiteError(field, "must be a string or a list of strings, got %s" % type(value).__name__)


def _check_section(section, given, defaults):
    known = _SECTION_FIELDS[section]
    if not isinstance(given, dict):
        raise SuiteError(section, "must be a mapping with keys %s" % ", ".join(sorted(known)))
    for key in given:
        if key not in known:
            raise SuiteError("%s.%s" % (section, key), "unknown key (expected one of %s)"
                             % ", ".join(sorted(known)))
    resolved = {}
    for key, (allowed, is_list) in sorted(known.items()):
        field = "%s.%s" % (section, key)
        if key in given:
            value = given[key]
        elif key in defaults:
            value = defaults[key]
        else:
            raise SuiteError(field, "is required in a custom suite")
        if is_list:
            values = _as_list(value, field)
            if not values and key != "auth_algorithms":
                raise SuiteError(field, "must name at least one algorithm")
            if len(set(values)) != len(values):
                raise SuiteError(field, "lists an algorithm twice")
        else:
            if not isinstance(value, str):
                raise SuiteError(field, "must be a string, got %s" % type(value).__name__)
            values = (value.strip(),)
        for v in values:
            if v not in allowed:
                hint = ""
                if key == "pfs_group" and v == "x25519":
                    hint = " (RouterOS proposals have no x25519 PFS; use ecp256 or ecp384)"
                raise SuiteError(field, "%r is not a RouterOS value (allowed: %s)%s"
                                 % (v, ", ".join(allowed), hint))
        resolved[key] = values if is_list else values[0]
    return resolved


def resolve_suite(suite):
    """Turn a preset name or a custom suite dict into a Suite; raise SuiteError if malformed."""
    if suite is None:
        suite = DEFAULT_SUITE
    if isinstance(suite, str):
        if suite not in PRESETS:
            raise SuiteError("", "unknown suite %r (presets: %s)" % (suite, ", ".join(sorted(PRESETS))))
        p = PRESETS[suite]
        return Suite(suite, p["ike_versions"], dict(p["profile"]), dict(p["proposal"]), True)
    if not isinstance(suite, dict):
        raise SuiteError("", "must be a preset name or a mapping, got %s" % type(suite).__name__)
    for key in suite:
        if key not in ("profile", "proposal", "name"):
            raise SuiteError(key, "unknown key in a custom suite (expected profile, proposal, name)")
    for section in ("profile", "proposal"):
        if section not in suite:
            raise SuiteError(section, "is required in a custom suite")
    profile = _check_section("profile", suite["profile"], _CUSTOM_DEFAULTS["profile"])
    proposal = _check_section("proposal", suite["proposal"], _CUSTOM_DEFAULTS["proposal"])
    enc = proposal["enc_algorithms"]
    non_aead = [a for a in enc if a not in AEAD_ALGORITHMS]
    if non_aead and not proposal["auth_algorithms"]:
        raise SuiteError("proposal.auth_algorithms", "is empty but %s needs an integrity algorithm "
                         "(only GCM and chacha20poly1305 authenticate on their own)" % ", ".join(non_aead))
    name = suite.get("name", "custom")
    if not isinstance(name, str):
        raise SuiteError("name", "must be a string")
    return Suite(name, (1, 2), profile, proposal, False)


def weaknesses(suite, phase2_lifetime_seconds=None):
    """List (field, reason) for every weak choice in a resolved suite."""
    found = []
    for a in suite.profile["enc_algorithm"]:
        if a in WEAK_ENCRYPTION:
            found.append(("profile.enc_algorithm", "%s is weak encryption" % a))
    if suite.profile["hash_algorithm"] in WEAK_HASH:
        found.append(("profile.hash_algorithm", "%s is a weak hash" % suite.profile["hash_algorithm"]))
    if suite.profile["prf_algorithm"] in WEAK_HASH:
        found.append(("profile.prf_algorithm", "%s is a weak PRF" % suite.profile["prf_algorithm"]))
    for g in suite.profile["dh_group"]:
        if g in WEAK_DH:
            found.append(("profile.dh_group", "%s is a weak Diffie-Hellman group" % g))
    for a in suite.proposal["enc_algorithms"]:
        if a in WEAK_ENCRYPTION:
            found.append(("proposal.enc_algorithms", "%s is weak encryption" % a))
    for a in suite.proposal["auth_algorithms"]:
        if a in WEAK_HASH:
            found.append(("proposal.auth_algorithms", "%s is a weak integrity algorithm" % a))
    pfs = suite.proposal["pfs_group"]
    if pfs == "none":
        found.append(("proposal.pfs_group", "no PFS (pfs_group none)"))
    elif pfs in WEAK_DH:
        found.append(("proposal.pfs_group", "%s is a weak PFS group" % pfs))
    if phase2_lifetime_seconds is not None and phase2_lifetime_seconds > MAX_STRONG_PHASE2_LIFETIME:
        found.append(("phase2_lifetime", "phase-2 lifetime over 24h"))
    return found


def version_problems(suite, version):
    """List (field, reason) for values the given RouterOS version (a tuple) does not accept."""
    problems = []
    for g in suite.profile["dh_group"]:
        removed = VERSION_REMOVED.get(g)
        if removed and version >= removed:
            problems.append(("profile.dh_group", "%s was removed in RouterOS %d.%d" % ((g,) + removed)))
    return problems
