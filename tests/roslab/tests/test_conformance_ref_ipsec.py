"""Independent fidelity audit, IPsec menus (routeros7-behaviour.md §2, §6, §7) per RouterOS version.

Claims are checked through unmodified librouteros only; see ``test_conformance_reference``.
"""

import itertools

import pytest

from test_conformance_reference import (CURRENT, VERSIONS, VersionLab, add, expect_trap, rows,
                                        run, unique)

PROFILE = "/ip/ipsec/profile"
PEER = "/ip/ipsec/peer"
PROPOSAL = "/ip/ipsec/proposal"
IDENTITY = "/ip/ipsec/identity"
POLICY = "/ip/ipsec/policy"
GROUP = "/ip/ipsec/policy/group"
MODE_CONFIG = "/ip/ipsec/mode-config"
SETTINGS = "/ip/ipsec/settings"

# What a print shows of a profile at its defaults. prf-algorithm=auto and lifebytes=0 are left
# out (terraform-provider-routeros resource_ip_ipsec_profile.go: the recorded print of the default
# profile has neither; community.routeros _api_data: can_disable, remove_value auto / 0).
PROFILE_DEFAULTS = {"hash-algorithm": "sha1", "enc-algorithm": "aes-128,3des",
                    "dh-group": "modp2048,modp1024", "lifetime": "1d", "proposal-check": "obey",
                    "nat-traversal": True}
PROFILE_HIDDEN_AT_DEFAULT = ("prf-algorithm", "lifebytes")
# identity properties a print leaves out at their defaults (terraform-provider-routeros
# resource_ip_ipsec_identity.go recorded print; community.routeros _api_data remove_value)
IDENTITY_HIDDEN_AT_DEFAULT = ("my-id", "remote-id", "match-by", "mode-config",
                              "policy-template-group")
PROPOSAL_DEFAULTS = {"auth-algorithms": "sha1",
                     "enc-algorithms": "aes-256-cbc,aes-192-cbc,aes-128-cbc",
                     "lifetime": "30m", "pfs-group": "modp1024"}


def at_least(version, minimum):
    return tuple(int(p) for p in version.split(".")[:2]) >= minimum


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    lab = VersionLab(tmp_path_factory.mktemp("reflab-ipsec"))
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def api(versions):
    return versions.api(CURRENT)


def one(api, menu, name):
    found = rows(api, menu, "?name=" + name)
    assert len(found) == 1, found
    return found[0]


_peer_hosts = itertools.count(1)


def new_peer(api, **kwargs):
    """A peer at an address no other peer uses (address + exchange mode identify a peer)."""
    name = unique("peer")
    host = next(_peer_hosts)
    kwargs.setdefault("address", "100.64.%d.%d/32" % (host // 250, host % 250 + 1))
    add(api, PEER, name=name, **kwargs)
    return name


# ================================================================================================
# §2 menus per version


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("menu", ["active-peers", "identity", "installed-sa", "mode-config",
                                  "peer", "policy", "policy/group", "profile", "proposal",
                                  "settings", "statistics"])
def test_ipsec_menu_exists(versions, version, menu):
    run(versions.api(version), "/ip/ipsec/%s/print" % menu)


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_peers_is_no_such_command_prefix(versions, version):
    trap = expect_trap(versions.api(version), "/ip/ipsec/remote-peers/print", detail="")
    assert trap.message == "no such command prefix"


@pytest.mark.parametrize("version", VERSIONS)
def test_no_peer_profile_menu(versions, version):
    trap = expect_trap(versions.api(version), "/ip/ipsec/peer/profile/print")
    assert trap.message.startswith("no such command")


@pytest.mark.parametrize("version", VERSIONS)
def test_key_menu_layout(versions, version):
    api = versions.api(version)
    if at_least(version, (7, 20)):
        run(api, "/ip/ipsec/key/rsa/print")
        assert expect_trap(api, "/ip/ipsec/key/print").message.startswith("no such command")
    else:
        run(api, "/ip/ipsec/key/print")
        assert expect_trap(api, "/ip/ipsec/key/rsa/print").message == "no such command prefix"


@pytest.mark.parametrize("version", VERSIONS)
def test_key_psk_from_7_21(versions, version):
    api = versions.api(version)
    if at_least(version, (7, 21)):
        run(api, "/ip/ipsec/key/psk/print")
    else:
        assert expect_trap(api, "/ip/ipsec/key/psk/print").message == "no such command prefix"


@pytest.mark.parametrize("version", VERSIONS)
def test_key_qkd_only_in_7_21_to_7_23(versions, version):
    api = versions.api(version)
    if at_least(version, (7, 21)) and not at_least(version, (7, 24)):
        run(api, "/ip/ipsec/key/qkd/print")
    else:
        assert expect_trap(api, "/ip/ipsec/key/qkd/print").message == "no such command prefix"


@pytest.mark.parametrize("version", VERSIONS)
def test_profile_ppk_from_7_21(versions, version):
    api = versions.api(version)
    name = unique("ppk")
    if at_least(version, (7, 21)):
        add(api, PROFILE, name=name, ppk="psk")
        assert one(api, PROFILE, name)["ppk"] == "psk"
    else:
        assert expect_trap(api, PROFILE + "/add", name=name, ppk="psk").message \
            == "unknown parameter ppk"


@pytest.mark.parametrize("version", VERSIONS)
def test_peer_ppk_secret_from_7_21(versions, version):
    api = versions.api(version)
    name = unique("ppks")
    if at_least(version, (7, 21)):
        add(api, PEER, name=name, address="203.0.113.80/32", **{"ppk-secret": "s3cret"})
        assert one(api, PEER, name)["name"] == name
    else:
        trap = expect_trap(api, PEER + "/add", name=name, address="203.0.113.80/32",
                           **{"ppk-secret": "s3cret"})
        assert trap.message == "unknown parameter ppk-secret"


@pytest.mark.parametrize("version", VERSIONS)
def test_settings_per_version(versions, version):
    api = versions.api(version)
    (settings,) = rows(api, SETTINGS)
    expected = {"accounting": True, "interim-update": "0s", "xauth-use-radius": False}
    if at_least(version, (7, 22)):
        expected["ddos-cookie-threshold"] = 20
    else:
        trap = expect_trap(api, SETTINGS + "/set", **{"ddos-cookie-threshold": "30"})
        assert trap.message == "unknown parameter ddos-cookie-threshold"
    assert {k: v for k, v in settings.items() if not k.startswith(".")} == expected


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("group", ["ec2n155", "ec2n185"])
def test_ec2n_dh_groups_are_gone(versions, version, group):
    trap = expect_trap(versions.api(version), PROFILE + "/add", name=unique(),
                       **{"dh-group": group})
    assert (trap.message, trap.category) == ("input does not match any value of dh-group", 1)


@pytest.mark.parametrize("version", ["7.22.2", "7.24"])
def test_weak_algorithms_still_accepted(versions, version):
    api = versions.api(version)
    profile = unique("weak")
    add(api, PROFILE, name=profile, **{"enc-algorithm": "3des,des", "hash-algorithm": "md5",
                                       "dh-group": "modp768,modp1024"})
    row = one(api, PROFILE, profile)
    assert (row["enc-algorithm"], row["hash-algorithm"], row["dh-group"]) == \
        ("3des,des", "md5", "modp768,modp1024")
    proposal = unique("weak")
    add(api, PROPOSAL, name=proposal, **{"enc-algorithms": "3des,des,null",
                                         "auth-algorithms": "md5,null", "pfs-group": "modp768"})
    row = one(api, PROPOSAL, proposal)
    assert (row["enc-algorithms"], row["auth-algorithms"], row["pfs-group"]) == \
        ("3des,des,null", "md5,null", "modp768")


@pytest.mark.parametrize("version", ["7.22.2", "7.24"])
def test_policy_sa_addresses_still_accepted(versions, version):
    api = versions.api(version)
    item = add(api, POLICY, **{"src-address": "10.91.0.0/24", "dst-address": "10.92.0.0/24",
                               "sa-src-address": "198.51.100.1", "sa-dst-address": "203.0.113.51",
                               "tunnel": "yes"})
    (row,) = rows(api, POLICY, "?.id=" + item)
    assert row["sa-dst-address"] == "203.0.113.51"


# ================================================================================================
# §2 profile


@pytest.mark.parametrize("arg", ["comment", "disabled"])
def test_profile_has_no_comment_or_disabled(api, arg):
    trap = expect_trap(api, PROFILE + "/add", name=unique(), **{arg: "x" if arg == "comment"
                                                                 else "no"})
    assert trap.message == "unknown parameter " + arg


def test_profile_default_flag_is_read_only(api):
    assert expect_trap(api, PROFILE + "/add", name=unique(), default="yes").message \
        == "unknown parameter default"


@pytest.mark.parametrize("version", VERSIONS)
def test_new_profile_defaults(versions, version):
    api = versions.api(version)
    name = unique("prof")
    add(api, PROFILE, name=name)
    row = one(api, PROFILE, name)
    expected = dict(PROFILE_DEFAULTS, **{"dpd-interval": "8s", "dpd-maximum-failures": 4})
    if at_least(version, (7, 21)):
        expected["ppk"] = False  # "no"
    else:
        assert "ppk" not in row
    assert {k: row.get(k) for k in expected} == expected
    assert [k for k in PROFILE_HIDDEN_AT_DEFAULT if k in row] == []
    assert row["default"] is False


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_default_profile(versions, version):
    api = versions.api(version)
    row = one(api, PROFILE, "default")
    expected = dict(PROFILE_DEFAULTS, **{"dpd-interval": "2m", "dpd-maximum-failures": 5,
                                         "default": True})
    if at_least(version, (7, 21)):
        expected["ppk"] = False
    assert {k: row.get(k) for k in expected} == expected
    assert [k for k in PROFILE_HIDDEN_AT_DEFAULT if k in row] == []


@pytest.mark.parametrize("arg,value", [
    ("hash-algorithm", v) for v in ("md5", "sha1", "sha256", "sha384", "sha512")] + [
    ("prf-algorithm", v) for v in ("auto", "sha1", "sha256", "sha384", "sha512")] + [
    ("enc-algorithm", v) for v in ("aes-256", "aes-192", "aes-128", "3des", "des",
                                   "aes-256,aes-128")] + [
    ("dh-group", v) for v in ("x25519", "ecp256", "ecp384", "ecp521", "modp8192", "modp6144",
                              "modp4096", "modp3072", "modp2048", "modp1536", "modp1024",
                              "modp768", "x25519,ecp256")] + [
    ("proposal-check", v) for v in ("obey", "strict", "claim", "exact")] + [
    ("ppk", v) for v in ("no", "psk", "psk-ike-initial", "qkd")] + [
    ("dpd-interval", v) for v in ("disable-dpd", "0s", "1h", "30s")] + [
    ("dpd-maximum-failures", v) for v in ("1", "100")] + [
    ("lifebytes", "1000000"), ("lifetime", "8h"), ("nat-traversal", "no")])
def test_profile_accepts_documented_values(api, arg, value):
    name = unique("pv")
    add(api, PROFILE, name=name, **{arg: value})
    printed = one(api, PROFILE, name).get(arg)
    expected = {"no": False, "yes": True}.get(value, value)
    if arg in ("lifebytes", "dpd-maximum-failures"):
        expected = int(value)
    if (arg, value) == ("prf-algorithm", "auto"):
        expected = None  # the default: a print leaves it out
    assert printed == expected


@pytest.mark.parametrize("value", ["blowfish", "camellia-128", "aes-128-cbc"])
def test_profile_enc_algorithm_has_no_blowfish_or_camellia(api, value):
    trap = expect_trap(api, PROFILE + "/add", name=unique(), **{"enc-algorithm": value})
    assert (trap.message, trap.category) == ("input does not match any value of enc-algorithm",
                                             1)


@pytest.mark.parametrize("arg,value", [("dpd-interval", "2h"), ("dpd-maximum-failures", "0"),
                                       ("dpd-maximum-failures", "101")])
def test_profile_dpd_out_of_range(api, arg, value):
    name = unique("dpdx")
    expect_trap(api, PROFILE + "/add", name=name, **{arg: value})
    assert rows(api, PROFILE, "?name=" + name) == ()


# ================================================================================================
# §2 peer


def test_new_peer_defaults(api):
    name = new_peer(api, address="100.65.0.1/32")
    row = one(api, PEER, name)
    assert {k: row.get(k) for k in ("passive", "profile", "exchange-mode",
                                    "send-initial-contact", "address")} == \
        {"passive": False, "profile": "default", "exchange-mode": "main",
         "send-initial-contact": True, "address": "100.65.0.1/32"}


def test_peer_address_may_be_a_dns_name(api):
    name = new_peer(api, address="vpn.example.net")
    assert one(api, PEER, name)["address"] == "vpn.example.net"


@pytest.mark.parametrize("mode", ["main", "aggressive", "ike2", "base"])
def test_peer_exchange_modes(api, mode):
    name = new_peer(api, **{"exchange-mode": mode})
    assert one(api, PEER, name)["exchange-mode"] == mode


def test_peer_exchange_mode_bad_value(api):
    trap = expect_trap(api, PEER + "/add", name=unique(), address="203.0.113.78/32",
                       **{"exchange-mode": "ikev2"})
    assert (trap.message, trap.category) == ("input does not match any value of exchange-mode", 1)


def test_peers_may_share_an_address_with_different_exchange_modes(api):
    first = new_peer(api, address="203.0.113.90/32", **{"exchange-mode": "main"})
    second = new_peer(api, address="203.0.113.90/32", **{"exchange-mode": "ike2"})
    assert one(api, PEER, first)["address"] == one(api, PEER, second)["address"]


@pytest.mark.parametrize("field", ["dynamic", "responder", "current-address"])
def test_peer_read_only_fields(api, field):
    trap = expect_trap(api, PEER + "/add", name=unique(), address="203.0.113.79/32",
                       **{field: "yes" if field != "current-address" else "203.0.113.1"})
    assert trap.message == "unknown parameter " + field


def test_peer_comment_and_disabled(api):
    name = new_peer(api, comment="branch", disabled="yes")
    row = one(api, PEER, name)
    assert (row["comment"], row["disabled"]) == ("branch", True)


def test_peer_profile_reference(api):
    profile = unique("pp")
    add(api, PROFILE, name=profile)
    name = new_peer(api, profile=profile)
    assert one(api, PEER, name)["profile"] == profile


# ================================================================================================
# §2 proposal


def test_new_proposal_defaults(api):
    name = unique("prop")
    add(api, PROPOSAL, name=name)
    row = one(api, PROPOSAL, name)
    assert {k: row.get(k) for k in PROPOSAL_DEFAULTS} == PROPOSAL_DEFAULTS
    assert row["disabled"] is False and row["default"] is False


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_default_proposal(versions, version):
    row = one(versions.api(version), PROPOSAL, "default")
    expected = dict(PROPOSAL_DEFAULTS, disabled=False, default=True)
    assert {k: row.get(k) for k in expected} == expected


@pytest.mark.parametrize("value", [
    "chacha20poly1305", "aes-256-cbc", "aes-192-cbc", "aes-128-cbc", "aes-256-ctr", "aes-192-ctr",
    "aes-128-ctr", "aes-256-gcm", "aes-192-gcm", "aes-128-gcm", "camellia-256", "camellia-192",
    "camellia-128", "3des", "blowfish", "twofish", "des", "null"])
def test_proposal_enc_algorithms(api, value):
    name = unique("pe")
    add(api, PROPOSAL, name=name, **{"enc-algorithms": value})
    assert one(api, PROPOSAL, name)["enc-algorithms"] == value


@pytest.mark.parametrize("value", ["sha512", "sha256", "sha1", "md5", "null"])
def test_proposal_auth_algorithms(api, value):
    name = unique("pa")
    add(api, PROPOSAL, name=name, **{"auth-algorithms": value})
    assert one(api, PROPOSAL, name)["auth-algorithms"] == value


@pytest.mark.parametrize("value", ["none", "ecp256", "ecp384", "ecp521", "modp768", "modp1024",
                                   "modp1536", "modp2048", "modp3072", "modp4096", "modp6144",
                                   "modp8192"])
def test_proposal_pfs_groups(api, value):
    name = unique("pg")
    add(api, PROPOSAL, name=name, **{"pfs-group": value})
    assert one(api, PROPOSAL, name)["pfs-group"] == value


def test_proposal_pfs_group_has_no_x25519(api):
    trap = expect_trap(api, PROPOSAL + "/add", name=unique(), **{"pfs-group": "x25519"})
    assert (trap.message, trap.category) == ("input does not match any value of pfs-group", 1)


def test_proposal_gcm_with_empty_auth_algorithms(api):
    name = unique("gcm")
    add(api, PROPOSAL, name=name, **{"enc-algorithms": "aes-256-gcm", "auth-algorithms": ""})
    row = one(api, PROPOSAL, name)
    assert row["enc-algorithms"] == "aes-256-gcm"
    assert row.get("auth-algorithms", "") == ""


# ================================================================================================
# §2 identity


def test_identity_has_no_name(api):
    peer = new_peer(api)
    assert expect_trap(api, IDENTITY + "/add", peer=peer, name="x").message \
        == "unknown parameter name"


def test_identity_peer_address_is_unknown(api):
    # guide error §6: identity add peer-address=203.0.113.50
    trap = expect_trap(api, IDENTITY + "/add", **{"peer-address": "203.0.113.50",
                                                  "secret": "x"})
    assert trap.message == "unknown parameter peer-address"


def test_identity_peer_is_mandatory(api):
    expect_trap(api, IDENTITY + "/add", secret="only-a-secret")


def test_identity_missing_peer(api):
    trap = expect_trap(api, IDENTITY + "/add", peer="not-created-yet", secret="x")
    assert (trap.message, trap.category) == ("input does not match any value of peer", 1)


def test_new_identity_defaults(api):
    peer = new_peer(api)
    item = add(api, IDENTITY, peer=peer, secret="psk")
    (row,) = rows(api, IDENTITY, "?.id=" + item)
    expected = {"peer": peer, "auth-method": "pre-shared-key", "generate-policy": False,
                "secret": "psk", "disabled": False, "dynamic": False}
    assert {k: row.get(k) for k in expected} == expected
    assert [k for k in IDENTITY_HIDDEN_AT_DEFAULT if k in row] == []


def test_identity_dynamic_is_read_only(api):
    peer = new_peer(api)
    assert expect_trap(api, IDENTITY + "/add", peer=peer, secret="x", dynamic="yes").message \
        == "unknown parameter dynamic"


@pytest.mark.parametrize("arg,value", [
    ("generate-policy", "port-override"), ("generate-policy", "port-strict"),
    ("my-id", "address:198.51.100.1"), ("my-id", "fqdn:hub.example.net"),
    ("my-id", "user-fqdn:vpn@example.net"), ("my-id", "key-id:abc"),
    ("remote-id", "fqdn:spoke.example.net"), ("remote-id", "ignore"),
    ("mode-config", "request-only"), ("policy-template-group", "default"),
])
def test_identity_accepts_documented_values(api, arg, value):
    peer = new_peer(api)
    item = add(api, IDENTITY, peer=peer, secret="x", **{arg: value})
    (row,) = rows(api, IDENTITY, "?.id=" + item)
    # the default group is left out of a print like the other defaults
    assert row.get(arg) == (None if (arg, value) == ("policy-template-group", "default") else value)


def test_identity_bad_auth_method(api):
    peer = new_peer(api)
    trap = expect_trap(api, IDENTITY + "/add", peer=peer, **{"auth-method": "psk"})
    assert (trap.message, trap.category) == ("input does not match any value of auth-method", 1)


# ================================================================================================
# §2 policy


def test_new_policy_defaults(api):
    item = add(api, POLICY, **{"src-address": "10.61.0.0/24", "dst-address": "10.62.0.0/24"})
    (row,) = rows(api, POLICY, "?.id=" + item)
    # terraform-provider-routeros resource_ip_ipsec_policy.go recorded print of a non-template
    # policy: sa-src/dst-address ::, ph2-state no-phase2, ph2-count 0, and no group or template
    expected = {"tunnel": False, "src-port": "any", "dst-port": "any",
                "protocol": "all", "action": "encrypt", "level": "require",
                "ipsec-protocols": "esp", "proposal": "default", "sa-src-address": "::",
                "sa-dst-address": "::", "ph2-state": "no-phase2", "ph2-count": 0}
    assert {k: row.get(k) for k in expected} == expected
    assert [k for k in ("group", "template") if k in row] == []


def test_template_policy_prints_group_and_template(api):
    # spec §2 built-in template: `T * group=default ... template=yes`
    group = unique("tg")
    add(api, GROUP, name=group)
    item = add(api, POLICY, group=group, template="yes",
               **{"src-address": "10.61.9.0/24", "dst-address": "10.62.9.0/24"})
    (row,) = rows(api, POLICY, "?.id=" + item)
    assert (row["group"], row["template"]) == (group, True)
    assert [k for k in ("sa-src-address", "ph2-state", "ph2-count") if k in row] == []


def test_policy_missing_peer(api):
    trap = expect_trap(api, POLICY + "/add", peer="not-created-yet",
                       **{"src-address": "10.63.0.0/24", "dst-address": "10.64.0.0/24"})
    assert (trap.message, trap.category) == ("input does not match any value of peer", 1)


def test_policy_binds_to_peer_by_name(api):
    peer = new_peer(api)
    item = add(api, POLICY, peer=peer, tunnel="yes",
               **{"src-address": "10.65.0.0/24", "dst-address": "10.66.0.0/24"})
    (row,) = rows(api, POLICY, "?.id=" + item)
    assert (row["peer"], row["tunnel"]) == (peer, True)


def policy_ids(api, comment):
    return [r[".id"] for r in rows(api, POLICY, "?comment=" + comment)]


def test_policy_move(api):
    tag = unique("pm")
    ids = [add(api, POLICY, comment=tag, **{"src-address": "10.70.%d.0/24" % i,
                                            "dst-address": "10.71.%d.0/24" % i})
           for i in range(3)]
    run(api, POLICY + "/move", numbers=ids[2], destination=ids[0])
    assert policy_ids(api, tag) == [ids[2], ids[0], ids[1]]


def test_policy_place_before(api):
    tag = unique("pp")
    first = add(api, POLICY, comment=tag, **{"src-address": "10.72.0.0/24",
                                             "dst-address": "10.73.0.0/24"})
    second = add(api, POLICY, comment=tag, **{"src-address": "10.72.1.0/24",
                                              "dst-address": "10.73.1.0/24"})
    placed = add(api, POLICY, comment=tag, **{"src-address": "10.72.2.0/24",
                                              "dst-address": "10.73.2.0/24",
                                              "place-before": second})
    assert policy_ids(api, tag) == [first, placed, second]


@pytest.mark.parametrize("arg,value", [
    ("protocol", "ipsec-esp"), ("protocol", "gre"), ("protocol", "udp"), ("protocol", "253"),
    ("action", "discard"), ("action", "none"), ("level", "use"), ("level", "unique"),
    ("ipsec-protocols", "ah"), ("src-port", "500"), ("dst-port", "4500"),
])
def test_policy_accepts_documented_values(api, arg, value):
    item = add(api, POLICY, **{"src-address": "10.80.0.0/24", "dst-address": "10.81.0.0/24",
                               "comment": unique(), arg: value})
    (row,) = rows(api, POLICY, "?.id=" + item)
    assert str(row[arg]) == value


def test_policy_ipv6_selectors(api):
    item = add(api, POLICY, **{"src-address": "2001:db8:1::/48", "dst-address": "2001:db8:2::/48"})
    (row,) = rows(api, POLICY, "?.id=" + item)
    assert (row["src-address"], row["dst-address"]) == ("2001:db8:1::/48", "2001:db8:2::/48")


@pytest.mark.parametrize("field", ["active", "ph2-count", "ph2-state", "invalid", "dynamic",
                                   "default"])
def test_policy_read_only_fields(api, field):
    trap = expect_trap(api, POLICY + "/add", **{"src-address": "10.82.0.0/24",
                                                "dst-address": "10.83.0.0/24", field: "1"})
    assert trap.message == "unknown parameter " + field


def test_policy_duplicate_selectors_are_marked_invalid(api):
    selectors = {"src-address": "10.84.0.0/24", "dst-address": "10.85.0.0/24"}
    first = add(api, POLICY, **selectors)
    second = add(api, POLICY, **selectors)
    flags = {r[".id"]: r["invalid"] for r in rows(api, POLICY) if r[".id"] in (first, second)}
    assert sorted(flags.values()) == [False, True]


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_template_policy(versions, version):
    api = versions.api(version)
    templates = [r for r in rows(api, POLICY) if r.get("default")]
    assert len(templates) == 1
    row = templates[0]
    expected = {"group": "default", "src-address": "::/0", "dst-address": "::/0",
                "protocol": "all", "proposal": "default", "template": True, "default": True}
    assert {k: row.get(k) for k in expected} == expected


# ================================================================================================
# §2 other menus


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_policy_group(versions, version):
    row = one(versions.api(version), GROUP, "default")
    assert row["default"] is True


def test_policy_group_with_comment_used_by_a_template(api):
    group = unique("grp")
    add(api, GROUP, name=group, comment="spokes")
    assert one(api, GROUP, group)["comment"] == "spokes"
    item = add(api, POLICY, group=group, template="yes",
               **{"src-address": "10.86.0.0/16", "dst-address": "10.87.0.0/16"})
    (row,) = rows(api, POLICY, "?.id=" + item)
    assert (row["group"], row["template"]) == (group, True)


@pytest.mark.parametrize("version", ["7.22.2", "7.24"])
def test_policy_group_has_no_interface_before_7_25(versions, version):
    trap = expect_trap(versions.api(version), GROUP + "/add", name=unique(), interface="ether1")
    assert trap.message == "unknown parameter interface"


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_mode_config_request_only(versions, version):
    row = one(versions.api(version), MODE_CONFIG, "request-only")
    assert (row["responder"], row["use-responder-dns"]) == (False, "exclusively")


def test_mode_config_has_no_comment(api):
    assert expect_trap(api, MODE_CONFIG + "/add", name=unique(), comment="x").message \
        == "unknown parameter comment"


def test_mode_config_responder_with_address_pool(api):
    name = unique("mc")
    add(api, MODE_CONFIG, name=name, responder="yes", address="10.88.0.10",
        **{"split-include": "10.10.0.0/24", "use-responder-dns": "yes"})
    row = one(api, MODE_CONFIG, name)
    assert (row["responder"], row["address"], row["split-include"]) == \
        (True, "10.88.0.10", "10.10.0.0/24")


def test_active_peers_kill_connections_exists(api):
    run(api, "/ip/ipsec/active-peers/kill-connections")


def test_installed_sa_flush_exists(api):
    run(api, "/ip/ipsec/installed-sa/flush")


def test_installed_sa_cannot_be_added(api):
    assert expect_trap(api, "/ip/ipsec/installed-sa/add", spi="1").message == "no such command"


def test_statistics_is_a_single_item_with_the_documented_counters(api):
    (row,) = rows(api, "/ip/ipsec/statistics")
    expected = {
        "in-errors", "in-buffer-errors", "in-header-errors", "in-no-states",
        "in-state-protocol-errors", "in-state-mode-errors", "in-state-sequence-errors",
        "in-state-expired", "in-state-mismatches", "in-state-invalid", "in-template-mismatches",
        "in-no-policies", "in-policy-blocked", "in-policy-errors", "out-errors",
        "out-bundle-errors", "out-bundle-check-errors", "out-no-states",
        "out-state-protocol-errors", "out-state-mode-errors", "out-state-sequence-errors",
        "out-state-expired", "out-policy-blocked", "out-policy-dead", "out-policy-errors"}
    assert expected <= set(row)


# ================================================================================================
# §7 built-ins cannot be removed (text UNCONFIRMED: trap only)


@pytest.mark.parametrize("menu,query", [
    (PROFILE, "?name=default"), (PROPOSAL, "?name=default"), (GROUP, "?name=default"),
    (POLICY, None), (MODE_CONFIG, "?name=request-only")])
def test_builtin_ipsec_items_cannot_be_removed(api, menu, query):
    def builtin():
        found = rows(api, menu, query) if query else rows(api, menu)
        return [r[".id"] for r in found if query or r.get("default")]
    (item,) = builtin()
    expect_trap(api, menu + "/remove", **{".id": item})
    assert builtin() == [item]


# ================================================================================================
# §6 guide statements that ARE valid RouterOS 7


def test_guide_profile_enc_algorithm_list(api):
    name = unique("guide")
    add(api, PROFILE, name=name, **{"enc-algorithm": "aes-256,3des"})
    assert one(api, PROFILE, name)["enc-algorithm"] == "aes-256,3des"


def test_guide_proposal_plural_enc_algorithms(api):
    name = unique("guide")
    add(api, PROPOSAL, name=name, **{"enc-algorithms": "aes-256-cbc"})
    assert one(api, PROPOSAL, name)["enc-algorithms"] == "aes-256-cbc"
    trap = expect_trap(api, PROPOSAL + "/add", name=unique(), **{"enc-algorithm": "aes-256-cbc"})
    assert trap.message == "unknown parameter enc-algorithm"


def test_guide_peer_exchange_mode_and_initial_contact(api):
    name = new_peer(api, **{"exchange-mode": "main", "send-initial-contact": "yes"})
    row = one(api, PEER, name)
    assert (row["exchange-mode"], row["send-initial-contact"]) == ("main", True)


def test_bang_prop_unsets_an_ipsec_property(api):
    name = new_peer(api, **{"local-address": "198.51.100.1", "comment": "gone-soon"})
    (item,) = [r[".id"] for r in rows(api, PEER, "?name=" + name)]
    run(api, PEER + "/set", **{".id": item, "!local-address": "", "!comment": ""})
    row = one(api, PEER, name)
    assert "local-address" not in row and "comment" not in row


def test_identity_eap_methods_default(api):
    peer = new_peer(api)
    item = add(api, IDENTITY, peer=peer, **{"auth-method": "eap", "username": "u",
                                            "password": "p"})
    (row,) = rows(api, IDENTITY, "?.id=" + item)
    assert row.get("eap-methods") == "eap-tls"


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_mode_config_carries_default_flag(versions, version):
    # §7: seed built-ins with a default flag, mode-config request-only among them;
    # inspect 7.22.2: mode-config has the read-only property "default"
    assert one(versions.api(version), MODE_CONFIG, "request-only").get("default") is True
