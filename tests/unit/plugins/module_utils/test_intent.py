"""Intent validation: every kind of bad input is refused with a message naming tunnel and field."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError, FleetIndex

from test_intent_fixtures import PSK, PSK2, groups, hostvars, tunnel

T = "tunnel 'hq-br1'"


def validate(tunnels, hv=None, topologies=None, grp=None):
    index = FleetIndex(tunnels, hv if hv is not None else hostvars(), topologies,
                       grp if grp is not None else groups())
    return index.validate_all()


def custom_suite(**changes):
    suite = {"profile": {"enc_algorithm": "aes-256", "hash_algorithm": "sha256", "dh_group": "ecp384"},
             "proposal": {"enc_algorithms": "aes-256-gcm", "auth_algorithms": "", "pfs_group": "ecp384"}}
    for path, value in changes.items():
        section, key = path.split("__")
        if value is None:
            suite[section].pop(key, None)
        else:
            suite[section][key] = value
    return suite


def hv_with(host, **values):
    hv = hostvars()
    for key, value in values.items():
        if value is None:
            hv[host].pop(key, None)
        else:
            hv[host][key] = value
    return hv


class FakeUndefined(object):
    """Stands in for Jinja2/Ansible's Undefined (matched by class name, as in Ansible)."""


FakeUndefined.__name__ = "AnsibleUndefined"


class Undefined(object):
    """Named like jinja2.Undefined."""


class UndefinedMarker(Undefined):
    """Like ansible-core 2.19's marker for an undefined variable inside a templated value."""


# (id, kwargs for validate, fragments the message must contain)
BAD = [
    # hosts and endpoints
    ("unknown-host", dict(tunnels=[tunnel(b="nosuch")]), [T, "field 'b.host'", "unknown inventory host 'nosuch'"]),
    ("same-host-both-ends", dict(tunnels=[tunnel(b="hq")]), [T, "field 'b'", "same host"]),
    ("endpoint-missing", dict(tunnels=[tunnel(b=None)]), [T, "field 'b'", "required"]),
    ("endpoint-wrong-type", dict(tunnels=[tunnel(b=["br1"])]), [T, "field 'b'", "hostname or a mapping"]),
    ("endpoint-host-missing", dict(tunnels=[tunnel(b={"passive": True})]), [T, "field 'b.host'", "required"]),
    ("endpoint-unknown-field", dict(tunnels=[tunnel(a={"host": "hq", "prefix": ["10.0.0.0/16"]})]),
     [T, "field 'a.prefix'", "unknown endpoint field", "did you mean 'a.prefixes'"]),
    ("both-passive", dict(tunnels=[tunnel(a={"host": "hq", "passive": True}, b={"host": "br1", "passive": True})]),
     [T, "field 'b.passive'", "both ends are passive"]),
    ("passive-not-bool", dict(tunnels=[tunnel(a={"host": "hq", "passive": "maybe"})]),
     [T, "field 'a.passive'", "must be a boolean"]),
    ("host-without-wan", dict(tunnels=[tunnel(b="bare")]), [T, "field 'b.prefixes'", "ipsec_lan_prefixes"]),
    ("host-without-wan-address", dict(tunnels=[tunnel(b={"host": "bare", "prefixes": ["10.9.0.0/24"]})]),
     [T, "field 'b.address'", "no ipsec_wan_address"]),
    # tunnel fields
    ("unknown-field-typo", dict(tunnels=[tunnel(sutie="ikev2-aes256gcm-ecp384")]),
     [T, "field 'sutie'", "unknown tunnel field", "did you mean 'suite'"]),
    ("name-missing", dict(tunnels=[tunnel(name=None)]), ["field 'name'", "is required"]),
    ("name-wrong-type", dict(tunnels=[tunnel(name=7)]), ["field 'name'", "must be a string"]),
    ("name-bad-chars", dict(tunnels=[tunnel(name="HQ_br1")]), ["field 'name'", "may only contain"]),
    ("name-too-long", dict(tunnels=[tunnel(name="x" * 41)]), ["field 'name'", "longer than 40"]),
    ("duplicate-names", dict(tunnels=[tunnel(), tunnel(b="br2")]), [T, "field 'name'", "duplicate tunnel name"]),
    ("ipsec-tunnels-not-list", dict(tunnels={"name": "x"}), ["ipsec_tunnels", "must be a list"]),
    ("tunnel-not-mapping", dict(tunnels=["hq-br1"]), ["ipsec_tunnels[0]", "must be a mapping"]),
    ("ike-version-wrong-type", dict(tunnels=[tunnel(ike_version="two")]), [T, "field 'ike_version'", "integer"]),
    ("ike-version-out-of-range", dict(tunnels=[tunnel(ike_version=3)]), [T, "field 'ike_version'", "1 or 2"]),
    ("exchange-mode-with-ikev2", dict(tunnels=[tunnel(exchange_mode="aggressive")]),
     [T, "field 'exchange_mode'", "IKEv1 option"]),
    ("exchange-mode-invalid", dict(tunnels=[tunnel(ike_version=1, suite="ikev1-aes256cbc-sha256-modp2048",
                                                   exchange_mode="base")]),
     [T, "field 'exchange_mode'", "main or aggressive"]),
    ("policy-level-invalid", dict(tunnels=[tunnel(policy_level="always")]), [T, "field 'policy_level'", "require"]),
    ("nat-traversal-not-bool", dict(tunnels=[tunnel(nat_traversal=[True])]), [T, "field 'nat_traversal'", "boolean"]),
    ("description-multiline", dict(tunnels=[tunnel(description="a\nb")]), [T, "field 'description'", "one line"]),
    # prefixes
    ("prefixes-not-list", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": "10.0.0.0/16"})]),
     [T, "field 'a.prefixes'", "got a string"]),
    ("prefixes-empty", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": []})]), [T, "field 'a.prefixes'", "empty"]),
    ("prefix-invalid", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": ["10.0.0.0/33"]})]),
     [T, "field 'a.prefixes[0]'", "not an IPv4/IPv6 prefix"]),
    ("prefix-host-bits", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": ["10.0.0.1/16"]})]),
     [T, "field 'a.prefixes[0]'", "host bits set", "did you mean 10.0.0.0/16"]),
    ("prefix-without-length", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": ["10.0.0.0"]})]),
     [T, "field 'a.prefixes[0]'", "no prefix length"]),
    ("prefix-wrong-type", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": [10]})]),
     [T, "field 'a.prefixes[0]'", "prefix string"]),
    ("host-var-prefix-bad", dict(tunnels=[tunnel()], hv=hv_with("br1", ipsec_lan_prefixes=["10.1.0.7/24"])),
     [T, "host var ipsec_lan_prefixes of br1", "host bits"]),
    ("prefix-duplicate", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": ["10.0.0.0/16", "10.0.0.0/16"]})]),
     [T, "field 'a.prefixes'", "twice"]),
    ("prefix-overlap-same-end", dict(tunnels=[tunnel(a={"host": "hq", "prefixes": ["10.0.0.0/16", "10.0.5.0/24"]})]),
     [T, "field 'a.prefixes'", "overlap"]),
    ("local-remote-overlap", dict(tunnels=[tunnel(b={"host": "br1", "prefixes": ["10.0.1.0/24"]})]),
     [T, "field 'b.prefixes'", "overlaps a's prefix 10.0.0.0/16"]),
    ("prefix-family-mismatch", dict(tunnels=[tunnel(b={"host": "br1", "prefixes": ["fd00:1::/64"]})]),
     [T, "field 'b.prefixes'", "address family mismatch"]),
    ("selectors-duplicate-across-tunnels",
     dict(tunnels=[tunnel(), tunnel(name="hq-br2", b={"host": "br2", "prefixes": ["10.1.0.0/24"]})]),
     ["host 'hq'", "duplicate selector 10.0.0.0/16 -> 10.1.0.0/24", "'hq-br1' and 'hq-br2'"]),
    ("selectors-overlap-across-tunnels",
     dict(tunnels=[tunnel(), tunnel(name="hq-br2", b={"host": "br2", "prefixes": ["10.1.0.128/25"]})]),
     ["host 'hq'", "overlapping selectors", "'hq-br1' and 'hq-br2'"]),
    ("same-peer-twice",
     dict(tunnels=[tunnel(), tunnel(name="hq-br1-extra", a={"host": "hq", "prefixes": ["10.200.0.0/24"]},
                                    b={"host": "br1", "prefixes": ["10.201.0.0/24"]})]),
     ["tunnel 'hq-br1-extra'", "203.0.113.10", "cannot tell"]),
    # RouterOS keeps a peer's address and exchange mode unique; binding IKE to another local address
    # does not make a second peer for the same remote address possible
    ("same-peer-from-another-local-address",
     dict(tunnels=[tunnel(), tunnel(name="hq-br1-wan2",
                                    a={"host": "hq", "prefixes": ["10.200.0.0/24"], "address": "198.51.100.7",
                                       "local_address": "198.51.100.7"},
                                    b={"host": "br1", "prefixes": ["10.201.0.0/24"]})]),
     ["tunnel 'hq-br1-wan2'", "field 'b.address'", "203.0.113.10", "cannot tell"]),
    # addresses
    ("address-invalid", dict(tunnels=[tunnel(b={"host": "br1", "address": "vpn.example.com"})]),
     [T, "field 'b.address'", "not an IP address"]),
    ("address-is-prefix", dict(tunnels=[tunnel(b={"host": "br1", "address": "203.0.113.0/24"})]),
     [T, "field 'b.address'", "is a prefix"]),
    ("peer-any-v4", dict(tunnels=[tunnel(b={"host": "br1", "address": "0.0.0.0/0"})]),
     [T, "field 'b.address'", "any peer"]),
    ("peer-any-v6", dict(tunnels=[tunnel(a={"host": "v6a"}, b={"host": "v6b", "address": "::/0"}, name="hq-br1")]),
     [T, "field 'b.address'", "any peer"]),
    ("peer-unspecified", dict(tunnels=[tunnel(b={"host": "br1", "address": "0.0.0.0"})]),
     [T, "field 'b.address'", "any address"]),
    ("address-multicast", dict(tunnels=[tunnel(b={"host": "br1", "address": "239.1.1.1"})]),
     [T, "field 'b.address'", "multicast"]),
    ("address-family-mismatch", dict(tunnels=[tunnel(b={"host": "br1", "address": "2001:db8::1"})]),
     [T, "field 'b.address'", "address family mismatch"]),
    ("same-address-both-ends", dict(tunnels=[tunnel(b={"host": "br1", "address": "198.51.100.1"})]),
     [T, "field 'b.address'", "both ends"]),
    ("local-address-family", dict(tunnels=[tunnel(a={"host": "hq", "local_address": "2001:db8::9"})]),
     [T, "field 'a.local_address'", "IPv6"]),
    ("wan-address-host-var-bad", dict(tunnels=[tunnel()], hv=hv_with("br1", ipsec_wan_address="203.0.113.300")),
     [T, "host var ipsec_wan_address of br1", "not an IP address"]),
    # secrets
    ("auth-missing", dict(tunnels=[tunnel(auth=None)]), [T, "field 'auth'", "required"]),
    ("auth-not-mapping", dict(tunnels=[tunnel(auth=PSK)]), [T, "field 'auth'", "must be a mapping"]),
    ("auth-method-unsupported", dict(tunnels=[tunnel(auth={"method": "rsa-key", "psk": PSK})]),
     [T, "field 'auth.method'", "must be one of psk, certificate"]),
    ("auth-certificate-with-psk", dict(tunnels=[tunnel(auth={"method": "certificate", "psk": PSK})]),
     [T, "field 'auth.psk'", "method certificate takes none"]),
    ("auth-certificate-ikev1", dict(tunnels=[tunnel(auth={"method": "certificate"}, ike_version=1,
                                                    suite="ikev1-aes256cbc-sha256-modp2048")]),
     [T, "field 'auth.method'", "IKEv2"]),
    ("auth-unknown-key", dict(tunnels=[tunnel(auth={"pks": PSK})]), [T, "field 'auth.pks'", "did you mean 'auth.psk'"]),
    ("psk-short", dict(tunnels=[tunnel(auth={"psk": "short-key-123"})]), [T, "field 'auth.psk'", "at least 20"]),
    ("psk-missing", dict(tunnels=[tunnel(auth={})]), [T, "field 'auth.psk'", "undefined"]),
    ("psk-none", dict(tunnels=[tunnel(auth={"psk": None})]), [T, "field 'auth.psk'", "undefined"]),
    ("psk-undefined-object", dict(tunnels=[tunnel(auth={"psk": FakeUndefined()})]), [T, "field 'auth.psk'", "undefined"]),
    ("psk-undefined-marker", dict(tunnels=[tunnel(auth={"psk": UndefinedMarker()})]),
     [T, "field 'auth.psk'", "undefined"]),
    ("psk-empty", dict(tunnels=[tunnel(auth={"psk": ""})]), [T, "field 'auth.psk'", "empty"]),
    ("psk-unrendered-template", dict(tunnels=[tunnel(auth={"psk": "{{ vault_psk_hq_br1 }}"})]),
     [T, "field 'auth.psk'", "unrendered template"]),
    ("psk-vault-placeholder", dict(tunnels=[tunnel(auth={"psk": "CHANGEME-BEFORE-PRODUCTION-USE"})]),
     [T, "field 'auth.psk'", "placeholder"]),
    ("psk-vault-angle-placeholder", dict(tunnels=[tunnel(auth={"psk": "<put the vault secret here>"})]),
     [T, "field 'auth.psk'", "placeholder"]),
    ("psk-still-encrypted", dict(tunnels=[tunnel(auth={"psk": "$ANSIBLE_VAULT;1.1;AES256\n6162636465"})]),
     [T, "field 'auth.psk'", "vault-encrypted"]),
    ("psk-bad-hex", dict(tunnels=[tunnel(auth={"psk": "0x" + "zz" * 24})]), [T, "field 'auth.psk'", "hex"]),
    ("psk-short-hex", dict(tunnels=[tunnel(auth={"psk": "0x" + "ab" * 12})]), [T, "field 'auth.psk'", "12 bytes"]),
    ("psk-blanks", dict(tunnels=[tunnel(auth={"psk": PSK + " "})]), [T, "field 'auth.psk'", "blanks"]),
    ("psk-var-outside-topology", dict(tunnels=[tunnel(auth={"psk_var": "ipsec_psk"})]),
     [T, "field 'auth.psk_var'", "hub_and_spoke"]),
    # crypto
    ("suite-unknown", dict(tunnels=[tunnel(suite="ikev2-aes512-quantum")]), [T, "field 'suite'", "unknown suite"]),
    ("suite-wrong-type", dict(tunnels=[tunnel(suite=42)]), [T, "field 'suite'", "preset name or a mapping"]),
    ("suite-custom-missing-section", dict(tunnels=[tunnel(suite={"profile": custom_suite()["profile"]})]),
     [T, "field 'suite.proposal'", "required"]),
    ("suite-custom-unknown-key", dict(tunnels=[tunnel(suite=custom_suite(profile__encryption="aes-256"))]),
     [T, "field 'suite.profile.encryption'", "unknown key"]),
    ("suite-profile-enc-not-routeros", dict(tunnels=[tunnel(suite=custom_suite(profile__enc_algorithm="blowfish"))]),
     [T, "field 'suite.profile.enc_algorithm'", "not a RouterOS value"]),
    ("suite-proposal-enc-not-routeros", dict(tunnels=[tunnel(suite=custom_suite(proposal__enc_algorithms="aes-512-gcm"))]),
     [T, "field 'suite.proposal.enc_algorithms'", "not a RouterOS value"]),
    ("suite-pfs-x25519", dict(tunnels=[tunnel(suite=custom_suite(proposal__pfs_group="x25519"))]),
     [T, "field 'suite.proposal.pfs_group'", "no x25519"]),
    ("suite-cbc-without-integrity",
     dict(tunnels=[tunnel(suite=custom_suite(proposal__enc_algorithms="aes-256-cbc"))]),
     [T, "field 'suite.proposal.auth_algorithms'", "integrity"]),
    ("suite-empty-dh", dict(tunnels=[tunnel(suite=custom_suite(profile__dh_group=[]))]),
     [T, "field 'suite.profile.dh_group'", "at least one"]),
    ("suite-ike-version-mismatch", dict(tunnels=[tunnel(suite="ikev1-aes256cbc-sha256-modp2048")]),
     [T, "field 'suite'", "IKEv1"]),
    ("weak-des", dict(tunnels=[tunnel(suite=custom_suite(profile__enc_algorithm="des"))]),
     [T, "field 'suite.profile.enc_algorithm'", "des is weak", "allow_weak_crypto"]),
    ("weak-3des", dict(tunnels=[tunnel(suite=custom_suite(proposal__enc_algorithms="3des", proposal__auth_algorithms="sha256"))]),
     [T, "field 'suite.proposal.enc_algorithms'", "3des is weak"]),
    ("weak-md5", dict(tunnels=[tunnel(suite=custom_suite(profile__hash_algorithm="md5"))]),
     [T, "field 'suite.profile.hash_algorithm'", "md5"]),
    ("weak-sha1", dict(tunnels=[tunnel(suite=custom_suite(proposal__enc_algorithms="aes-256-cbc", proposal__auth_algorithms="sha1"))]),
     [T, "field 'suite.proposal.auth_algorithms'", "sha1"]),
    ("weak-modp768", dict(tunnels=[tunnel(suite=custom_suite(profile__dh_group="modp768"))]),
     [T, "field 'suite.profile.dh_group'", "modp768"]),
    ("weak-modp1024-pfs", dict(tunnels=[tunnel(suite=custom_suite(proposal__pfs_group="modp1024"))]),
     [T, "field 'suite.proposal.pfs_group'", "modp1024"]),
    ("weak-no-pfs", dict(tunnels=[tunnel(suite=custom_suite(proposal__pfs_group="none"))]),
     [T, "field 'suite.proposal.pfs_group'", "no PFS"]),
    ("weak-long-phase2", dict(tunnels=[tunnel(phase2_lifetime="2d")]),
     [T, "field 'phase2_lifetime'", "over 24h"]),
    ("allow-weak-not-bool", dict(tunnels=[tunnel(allow_weak_crypto="sure")]), [T, "field 'allow_weak_crypto'", "boolean"]),
    ("removed-dh-group", dict(tunnels=[tunnel(allow_weak_crypto=True, suite=custom_suite(profile__dh_group="ec2n155"))]),
     [T, "field 'suite.profile.dh_group'", "removed in RouterOS 7.12"]),
    # durations
    ("lifetime-unparsable", dict(tunnels=[tunnel(phase1_lifetime="forever")]),
     [T, "field 'phase1_lifetime'", "not a duration"]),
    ("lifetime-zero", dict(tunnels=[tunnel(phase2_lifetime="0s")]), [T, "field 'phase2_lifetime'", "out of range"]),
    ("lifetime-too-long", dict(tunnels=[tunnel(phase1_lifetime="2w")]), [T, "field 'phase1_lifetime'", "out of range"]),
    ("lifetime-negative", dict(tunnels=[tunnel(phase1_lifetime=-5)]), [T, "field 'phase1_lifetime'", "negative"]),
    ("lifetime-bool", dict(tunnels=[tunnel(phase1_lifetime=True)]), [T, "field 'phase1_lifetime'", "boolean"]),
    ("ikev1-phase2-longer", dict(tunnels=[tunnel(ike_version=1, suite="ikev1-aes256cbc-sha256-modp2048",
                                                 phase1_lifetime="1h", phase2_lifetime="8h")]),
     [T, "field 'phase2_lifetime'", "longer than phase1_lifetime"]),
    ("dpd-interval-out-of-range", dict(tunnels=[tunnel(dpd_interval="2h")]), [T, "field 'dpd_interval'", "0s..1h"]),
    ("dpd-interval-garbage", dict(tunnels=[tunnel(dpd_interval="often")]), [T, "field 'dpd_interval'", "not a duration"]),
    ("dpd-failures-zero", dict(tunnels=[tunnel(dpd_failures=0)]), [T, "field 'dpd_failures'", "1..100"]),
    ("dpd-failures-too-many", dict(tunnels=[tunnel(dpd_failures=101)]), [T, "field 'dpd_failures'", "1..100"]),
    # RouterOS versions
    ("ppk-old-routeros", dict(tunnels=[tunnel(b="br2", name="hq-br1", ppk_secret=PSK2)]),
     [T, "field 'ppk_secret'", "7.21", "br2 runs 7.20.8"]),
    ("ppk-unknown-version", dict(tunnels=[tunnel(b="br3", ppk_secret=PSK2)]),
     [T, "field 'ppk_secret'", "br3 has no routeros_version"]),
    ("ppk-ikev1", dict(tunnels=[tunnel(ike_version=1, suite="ikev1-aes256cbc-sha256-modp2048", ppk_secret=PSK2)]),
     [T, "field 'ppk_secret'", "IKEv2"]),
    ("ppk-same-as-psk", dict(tunnels=[tunnel(ppk_secret=PSK)]), [T, "field 'ppk_secret'", "differ"]),
    ("routeros-6", dict(tunnels=[tunnel()], hv=hv_with("br1", routeros_version="6.49.10")),
     ["host 'br1'", "routeros_version", "not supported"]),
    ("routeros-too-old-7", dict(tunnels=[tunnel()], hv=hv_with("br1", routeros_version="7.9.2")),
     ["host 'br1'", "routeros_version", "not supported"]),
    ("routeros-version-garbage", dict(tunnels=[tunnel()], hv=hv_with("br1", routeros_version="latest")),
     ["host 'br1'", "routeros_version", "not a RouterOS version"]),
    # topologies
    ("topology-spokes-empty", dict(tunnels=[], topologies=[{"name": "hs", "type": "hub_and_spoke", "hub": "hq",
                                                            "spokes": "empty", "auth": {"psk": PSK}}]),
     ["topology 'hs'", "field 'spokes'", "group 'empty' is empty"]),
    ("topology-group-unknown", dict(tunnels=[], topologies=[{"name": "hs", "type": "hub_and_spoke", "hub": "hq",
                                                             "spokes": "nosuch", "auth": {"psk": PSK}}]),
     ["topology 'hs'", "field 'spokes'", "unknown group 'nosuch'"]),
    ("topology-hub-unknown", dict(tunnels=[], topologies=[{"name": "hs", "type": "hub_and_spoke", "hub": "hq9",
                                                           "spokes": "branches", "auth": {"psk": PSK}}]),
     ["topology 'hs'", "field 'hub'", "neither an inventory host nor a group"]),
    ("topology-hub-missing", dict(tunnels=[], topologies=[{"name": "hs", "type": "hub_and_spoke",
                                                           "spokes": "branches", "auth": {"psk": PSK}}]),
     ["topology 'hs'", "field 'hub'", "required"]),
    ("topology-type-unknown", dict(tunnels=[], topologies=[{"name": "hs", "type": "star", "members": "mesh"}]),
     ["topology 'hs'", "field 'type'", "hub_and_spoke or full_mesh"]),
    ("topology-unknown-field", dict(tunnels=[], topologies=[{"name": "hs", "type": "full_mesh", "members": "mesh",
                                                             "auth": {"psk": PSK}, "spoke": "x"}]),
     ["topology 'hs'", "field 'spoke'", "unknown topology field"]),
    ("topology-mesh-too-small", dict(tunnels=[], topologies=[{"name": "m", "type": "full_mesh", "members": "hubs",
                                                              "auth": {"psk": PSK}}]),
     ["topology 'm'", "field 'members'", "at least two"]),
    ("topology-psk-var-missing", dict(tunnels=[], topologies=[{"name": "hs", "type": "hub_and_spoke", "hub": "hq",
                                                               "spokes": "mesh", "auth": {"psk_var": "ipsec_psk"}}]),
     ["tunnel 'hs-hq-br3' (from topology 'hs')", "field 'auth.psk'", "undefined"]),
    ("topology-psk-var-in-mesh", dict(tunnels=[], topologies=[{"name": "m", "type": "full_mesh", "members": "mesh",
                                                               "auth": {"psk_var": "ipsec_psk"}}]),
     ["topology 'm'", "field 'auth.psk_var'", "hub_and_spoke"]),
    ("topology-name-collision", dict(tunnels=[tunnel(name="hs-hq-br1")],
                                     topologies=[{"name": "hs", "type": "hub_and_spoke", "hub": "hq",
                                                  "spokes": "branches", "auth": {"psk": PSK}}]),
     ["tunnel 'hs-hq-br1' (from topology 'hs')", "duplicate tunnel name", "in ipsec_tunnels"]),
    ("topology-wrong-kind-field", dict(tunnels=[], topologies=[{"name": "m", "type": "full_mesh", "members": "mesh",
                                                                "hub": "hq", "auth": {"psk": PSK}}]),
     ["topology 'm'", "field 'hub'", "belongs to hub_and_spoke"]),
    ("topology-endpoint-override-host", dict(tunnels=[], topologies=[{"name": "hs", "type": "hub_and_spoke",
                                                                      "hub": "hq", "spokes": "branches",
                                                                      "auth": {"psk": PSK},
                                                                      "hub_endpoint": {"host": "br3"}}]),
     ["topology 'hs'", "field 'hub_endpoint.host'", "set by the topology"]),
    ("topology-duplicate-name", dict(tunnels=[], topologies=[
        {"name": "m", "type": "full_mesh", "members": "mesh", "auth": {"psk": PSK}},
        {"name": "m", "type": "full_mesh", "members": "mesh", "auth": {"psk": PSK}}]),
     ["topology 'm'", "field 'name'", "two topologies"]),
    ("topology-tunnel-field-invalid", dict(tunnels=[], topologies=[{"name": "hs", "type": "hub_and_spoke",
                                                                    "hub": "hq", "spokes": "branches",
                                                                    "auth": {"psk": PSK}, "dpd_failures": 500}]),
     ["tunnel 'hs-hq-br1' (from topology 'hs')", "field 'dpd_failures'", "1..100"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_refused_with_a_precise_message(case):
    _id, kwargs, fragments = case
    with pytest.raises(IntentError) as raised:
        validate(**kwargs)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, "%r not in %r" % (fragment, message)


def test_at_least_forty_distinct_kinds_of_bad_input():
    assert len(set(c[0] for c in BAD)) == len(BAD) >= 40


def test_every_bad_case_differs_from_a_valid_fleet_only_by_its_defect():
    # the base data itself must be valid, or the cases above would prove nothing
    tunnels, per_host = validate([tunnel()])
    assert [t.name for t in tunnels] == ["hq-br1"]
    assert sorted(per_host) == ["br1", "hq"]
    validate([], topologies=[{"name": "hs", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
                              "auth": {"psk_var": "ipsec_psk"}}])


def test_validate_all_reports_every_problem_at_once():
    with pytest.raises(IntentError) as raised:
        validate([tunnel(auth={"psk": "short"}), tunnel(name="hq-br2", b="br2", dpd_failures=0)])
    assert len(raised.value.errors) == 2
    assert "2 problems" in str(raised.value)
    assert "tunnel 'hq-br1'" in raised.value.errors[0] and "tunnel 'hq-br2'" in raised.value.errors[1]


def test_defaults_and_shorthand_endpoints():
    t = intent.normalize_tunnel(tunnel(), hostvars())
    assert t.a.host == "hq" and str(t.b.address) == "203.0.113.10"
    assert [str(p) for p in t.a.prefixes] == ["10.0.0.0/16"]
    assert t.ike_version == 2 and t.exchange_mode == "ike2"
    assert t.suite.name == "ikev2-aes256gcm-ecp384"
    assert (t.phase1_lifetime, t.phase2_lifetime, t.dpd_interval, t.dpd_failures) == (86400, 1800, 120, 5)
    assert t.nat_traversal is True and t.allow_weak_crypto is False and t.policy_level == "require"
    assert t.a.version == (7, 22, 2)


def test_endpoint_fields_override_host_vars():
    t = intent.normalize_tunnel(tunnel(a={"host": "hq", "prefixes": ["10.0.1.0/24", "fd00:1::/64"],
                                          "address": "198.51.100.9/32", "local_address": "198.51.100.9",
                                          "passive": "yes"},
                                       b={"host": "br1", "prefixes": ["10.1.0.0/24", "fd00:2::/64"]}), hostvars())
    assert str(t.a.address) == "198.51.100.9" and str(t.a.local_address) == "198.51.100.9"
    assert t.a.passive is True
    assert [(str(s), str(d)) for s, d in t.selectors("hq")] == [("10.0.1.0/24", "10.1.0.0/24"),
                                                                ("fd00:1::/64", "fd00:2::/64")]


def test_weak_crypto_accepted_with_explicit_opt_in():
    weak = {"profile": {"enc_algorithm": "3des", "hash_algorithm": "sha1", "dh_group": "modp1024"},
            "proposal": {"enc_algorithms": "3des", "auth_algorithms": "md5", "pfs_group": "none"}}
    t = intent.normalize_tunnel(tunnel(suite=weak, allow_weak_crypto=True, phase2_lifetime="2d"), hostvars())
    assert t.suite.profile["enc_algorithm"] == ("3des",)


def test_ikev1_defaults_to_main_mode_and_aggressive_is_allowed():
    t = intent.normalize_tunnel(tunnel(ike_version=1, suite="ikev1-aes256cbc-sha256-modp2048"), hostvars())
    assert t.exchange_mode == "main"
    t = intent.normalize_tunnel(tunnel(ike_version=1, suite="ikev1-aes256cbc-sha256-modp2048",
                                       exchange_mode="aggressive"), hostvars())
    assert t.exchange_mode == "aggressive"


def test_ppk_on_new_enough_routeros():
    t = intent.normalize_tunnel(tunnel(name="v6", a="v6a", b="v6b", ppk_secret=PSK2), hostvars())
    assert t.ppk_secret == PSK2


def test_dpd_can_be_disabled():
    assert intent.normalize_tunnel(tunnel(dpd_interval="disabled"), hostvars()).dpd_interval is None


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("1d", 86400), ("1h30m", 5400), ("01:30:00", 5400),
                                          ("90", 90), (90, 90), ("1w2d", 777600), ("0s", 0)])
def test_parse_duration(text, seconds):
    assert intent.parse_duration(text) == seconds


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (1800, "30m"), (86400, "1d"), (5400, "1h30m"),
                                          (604800, "1w"), (3661, "1h1m1s")])
def test_format_duration_is_routeros_compact(seconds, text):
    assert intent.format_duration(seconds) == text
    assert intent.parse_duration(text) == seconds


def test_hub_and_spoke_expansion_is_deterministic():
    topo = [{"name": "hs", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
             "auth": {"psk_var": "ipsec_psk"}, "hub_endpoint": {"passive": True}, "dpd_interval": "30s"}]
    first = intent.expand_topologies(topo, groups(), hostvars())
    grp = groups()
    grp["branches"].reverse()
    second = intent.expand_topologies(topo, grp, hostvars())
    assert first == second
    assert [(raw["name"], raw["a"], raw["b"]["host"], raw["auth"]["psk"].resolve(hostvars()), origin)
            for raw, origin in first] == [
        ("hs-hq-br1", {"passive": True, "host": "hq"}, "br1", PSK, "hs"),
        ("hs-hq-br2", {"passive": True, "host": "hq"}, "br2", PSK2, "hs")]
    assert all(raw["dpd_interval"] == "30s" for raw, _origin in first)


def test_hub_group_gives_every_spoke_a_tunnel_to_each_hub():
    grp = groups()
    grp["hubs"] = ["hq", "br3"]
    topo = [{"name": "dual", "type": "hub_and_spoke", "hub": "hubs", "spokes": "branches", "auth": {"psk": PSK}}]
    names = [raw["name"] for raw, _origin in intent.expand_topologies(topo, grp, hostvars())]
    assert names == ["dual-br3-br1", "dual-br3-br2", "dual-hq-br1", "dual-hq-br2"]


def test_full_mesh_has_one_tunnel_per_pair():
    topo = [{"name": "m", "type": "full_mesh", "members": "mesh", "auth": {"psk": PSK}}]
    generated = intent.expand_topologies(topo, groups(), hostvars())
    assert [raw["name"] for raw, _origin in generated] == ["m-br1-br2", "m-br1-br3", "m-br2-br3"]


def test_generated_names_are_sanitised_and_bounded():
    assert intent.generated_name("hs", "HQ.example.com", "branch_01") == "hs-hq-example-com-branch-01"
    long_name = intent.generated_name("hs", "a" * 30, "b" * 30)
    assert len(long_name) <= intent.NAME_MAX and intent.NAME_RE.match(long_name)
    assert long_name != intent.generated_name("hs", "a" * 30, "b" * 31)


def test_plan_host_only_validates_the_hosts_own_tunnels():
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
    broken_elsewhere = [tunnel(), tunnel(name="br2-br3", a="br2", b="br3", dpd_failures=0)]
    plan = ipsec_plan.plan_host("br1", broken_elsewhere, hostvars())
    assert len(plan["peers"]) == 1
    with pytest.raises(IntentError, match="br2-br3"):
        ipsec_plan.plan_host("br3", broken_elsewhere, hostvars())
    with pytest.raises(IntentError, match="br2-br3"):
        validate(broken_elsewhere)


class LazyHostVars(dict):
    """Like Ansible's HostVars: reading an undefined templated variable raises."""

    def __getitem__(self, host):
        values = dict.__getitem__(self, host)

        class Vars(dict):
            def __getitem__(self, key):
                if key == "ipsec_psk":
                    raise RuntimeError("'vault_ipsec_psk_br1' is undefined")
                return dict.__getitem__(self, key)
        return Vars(values)


def test_psk_var_is_read_only_for_the_planned_hosts_tunnels():
    class CountingHostVars(dict):
        reads = []

        def __getitem__(self, host):
            values = dict.__getitem__(self, host)
            reads = self.reads

            class Vars(dict):
                def __getitem__(self, key):
                    reads.append((host, key))
                    return dict.__getitem__(self, key)
            return Vars(values)

    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
    hv = CountingHostVars(hostvars())
    topo = [{"name": "hs", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
             "auth": {"psk_var": "ipsec_psk"}}]
    ipsec_plan.plan_host("br1", [], hv, topo, groups())
    assert ("br1", "ipsec_psk") in hv.reads and ("br2", "ipsec_psk") not in hv.reads
    assert not [read for read in hv.reads if read[0] == "br2"]


def test_undefined_vault_variable_behind_hostvars_is_reported():
    topo = [{"name": "hs", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
             "auth": {"psk_var": "ipsec_psk"}}]
    with pytest.raises(IntentError) as raised:
        validate([], hv=LazyHostVars(hostvars()), topologies=topo)
    assert "host 'br1': host var 'ipsec_psk'" in str(raised.value)
    assert "vault_ipsec_psk_br1' is undefined" in str(raised.value)
