"""Independent fidelity audit, firewall (routeros7-behaviour.md §3, §6), unmodified librouteros.

See ``test_conformance_reference`` for the approach and the shared helpers.
"""

import pytest

from test_conformance_reference import (ADDRESS_LIST, CURRENT, FASTTRACK_DUMMY_COMMENT, FILTER,
                                        VERSIONS, VersionLab, add, by_id, expect_trap, ids_of,
                                        rows, run, unique)

NAT = "/ip/firewall/nat"
RAW = "/ip/firewall/raw"
MANGLE = "/ip/firewall/mangle"


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    lab = VersionLab(tmp_path_factory.mktemp("reflab-fw"))
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def api(versions):
    return versions.api(CURRENT)


def rule(api, menu=FILTER, **kwargs):
    """Add a rule in a chain of its own (unless given) and return its printed row."""
    kwargs.setdefault("chain", unique("c"))
    return by_id(api, menu, add(api, menu, **kwargs))


# ================================================================================================
# filter


@pytest.mark.parametrize("chain", ["forward", "input", "output", "my-chain"])
def test_filter_chains(api, chain):
    assert rule(api, chain=chain, action="accept", comment=unique())["chain"] == chain


@pytest.mark.parametrize("action,extra", [
    ("accept", {}), ("add-dst-to-address-list", {"address-list": "seen"}),
    ("add-src-to-address-list", {"address-list": "seen"}), ("drop", {}),
    ("fasttrack-connection", {"connection-state": "established,related"}),
    ("jump", {"jump-target": "my-chain"}), ("log", {}), ("passthrough", {}), ("reject", {}),
    ("return", {}), ("tarpit", {"protocol": "tcp"})])
def test_filter_actions(api, action, extra):
    assert rule(api, action=action, **extra)["action"] == action


def test_filter_bad_action(api):
    trap = expect_trap(api, FILTER + "/add", chain="input", action="allow")
    assert (trap.message, trap.category) == ("input does not match any value of action", 1)


def test_filter_action_defaults_to_accept(api):
    assert rule(api, protocol="udp", port="500,4500")["action"] == "accept"


@pytest.mark.parametrize("value", ["established,related", "invalid", "new", "untracked",
                                   "!invalid", "established,related,untracked"])
def test_filter_connection_state(api, value):
    assert rule(api, action="accept", **{"connection-state": value})["connection-state"] == value


@pytest.mark.parametrize("value", ["ipsec-esp", "ipsec-ah", "udp", "tcp", "gre", "ipencap",
                                   "icmp", "!tcp"])
def test_filter_protocol_names(api, value):
    assert rule(api, action="accept", protocol=value)["protocol"] == value


def test_filter_port_matcher_exists(api):
    # guide §6: "protocol=udp port=500,4500" is valid: port matches source OR destination
    row = rule(api, chain="input", action="accept", protocol="udp", port="500,4500")
    assert row["port"] == "500,4500" and "dst-port" not in row


def test_filter_dst_and_src_port(api):
    row = rule(api, action="accept", protocol="udp", **{"dst-port": "500,4500", "src-port": "500"})
    assert (row["dst-port"], str(row["src-port"])) == ("500,4500", "500")


@pytest.mark.parametrize("value", ["in,ipsec", "out,ipsec", "in,none", "out,none", "in", "out"])
def test_filter_ipsec_policy(api, value):
    assert rule(api, action="accept", **{"ipsec-policy": value})["ipsec-policy"] == value


@pytest.mark.parametrize("value", ["sideways,ipsec", "in,maybe"])
def test_filter_ipsec_policy_bad_value(api, value):
    chain = unique("c")
    expect_trap(api, FILTER + "/add", chain=chain, action="accept", **{"ipsec-policy": value})
    assert rows(api, FILTER, "?chain=" + chain) == ()


@pytest.mark.parametrize("value", ["10,5", "10,5:packet", "10/1m,5:packet", "1M,5:bit"])
def test_filter_limit_forms(api, value):
    # guide §6: limit=10,5 is valid; whether print adds ":packet" is UNCONFIRMED
    row = rule(api, action="accept", limit=value)
    if value == "10,5":
        assert row["limit"] in ("10,5", "10,5:packet")
    else:
        assert row["limit"].startswith(value.split(":")[0])


def test_filter_dst_limit(api):
    assert "dst-limit" in rule(api, action="accept", **{"dst-limit": "10/1m,5,dst-address/1m"})


@pytest.mark.parametrize("value", ["none-dynamic", "none-static", "1d"])
def test_filter_address_list_timeout(api, value):
    row = rule(api, action="add-src-to-address-list",
               **{"address-list": "scanners", "address-list-timeout": value})
    assert row["address-list-timeout"] == value


def test_filter_log_prefix_max_31_characters(api):
    assert rule(api, action="log", **{"log-prefix": "p" * 31})["log-prefix"] == "p" * 31
    chain = unique("c")
    expect_trap(api, FILTER + "/add", chain=chain, action="log", **{"log-prefix": "p" * 32})
    assert rows(api, FILTER, "?chain=" + chain) == ()


@pytest.mark.parametrize("arg,value", [("src-address", "!10.0.0.0/8"),
                                       ("dst-address", "!192.168.0.0/16"),
                                       ("in-interface", "!ether1"),
                                       ("dst-port", "!22")])
def test_filter_matchers_accept_negation(api, arg, value):
    extra = {"protocol": "tcp"} if "port" in arg else {}
    assert rule(api, action="accept", **{arg: value}, **extra)[arg] == value


@pytest.mark.parametrize("field", ["bytes", "packets", "dynamic", "invalid"])
def test_filter_read_only_fields(api, field):
    trap = expect_trap(api, FILTER + "/add", chain="input", action="accept", **{field: "1"})
    assert trap.message == "unknown parameter " + field


@pytest.mark.parametrize("version", VERSIONS)
def test_fasttrack_dummy_rule_tops_the_filter_table(versions, version):
    found = rows(versions.api(version), FILTER)
    dummy = found[0]
    assert dummy.get("comment") == FASTTRACK_DUMMY_COMMENT
    assert (dummy["chain"], dummy["action"], dummy["dynamic"]) == ("forward", "passthrough", True)
    assert sum(r.get("comment") == FASTTRACK_DUMMY_COMMENT for r in found) == 1


def test_defconf_filter_rules(api):
    accept_in = rule(api, chain="forward", action="accept",
                     **{"ipsec-policy": "in,ipsec", "comment": "defconf: accept in ipsec policy"})
    accept_out = rule(api, chain="forward", action="accept",
                      **{"ipsec-policy": "out,ipsec",
                         "comment": "defconf: accept out ipsec policy"})
    fasttrack = rule(api, chain="forward", action="fasttrack-connection",
                     **{"connection-state": "established,related"})
    assert (accept_in["ipsec-policy"], accept_out["ipsec-policy"]) == ("in,ipsec", "out,ipsec")
    assert fasttrack["connection-state"] == "established,related"


@pytest.mark.parametrize("version", VERSIONS)
def test_fasttrack_hw_offload_until_7_20(versions, version):
    # defconf exports carry hw-offload=yes; the inspect trees drop the argument from 7.21.5 on
    api = versions.api(version)
    args = {"chain": unique("ft"), "action": "fasttrack-connection",
            "connection-state": "established,related", "hw-offload": "yes"}
    if tuple(int(p) for p in version.split(".")[:2]) <= (7, 20):
        assert rule(api, **args)["hw-offload"] is True
    else:
        assert expect_trap(api, FILTER + "/add", **args).message == "unknown parameter hw-offload"


def test_accept_rules_placed_before_the_fasttrack_rule(api):
    fasttrack = add(api, FILTER, chain="forward", action="fasttrack-connection",
                    comment=unique("ft"), **{"connection-state": "established,related"})
    bypass = add(api, FILTER, chain="forward", action="accept", comment=unique("bp"),
                 **{"src-address": "10.10.0.0/24", "dst-address": "10.20.0.0/24",
                    "connection-state": "established,related", "place-before": fasttrack})
    order = ids_of(rows(api, FILTER))
    assert order.index(bypass) == order.index(fasttrack) - 1


# ================================================================================================
# nat, raw, mangle


@pytest.mark.parametrize("chain", ["srcnat", "dstnat", "input", "output"])
def test_nat_chains(api, chain):
    assert rule(api, NAT, chain=chain, action="accept")["chain"] == chain


@pytest.mark.parametrize("action,extra", [
    ("accept", {}), ("masquerade", {}), ("src-nat", {"to-addresses": "198.51.100.1"}),
    ("dst-nat", {"to-addresses": "10.10.0.5"}), ("netmap", {"to-addresses": "10.99.0.0/24"}),
    ("redirect", {"protocol": "tcp", "to-ports": "8080"}), ("same", {"to-addresses": "10.1.1.1"}),
    ("endpoint-independent-nat", {"protocol": "udp"}), ("jump", {"jump-target": "x"}),
    ("return", {}), ("log", {}), ("passthrough", {}),
    ("add-src-to-address-list", {"address-list": "n"}),
    ("add-dst-to-address-list", {"address-list": "n"})])
def test_nat_actions(api, action, extra):
    chain = "dstnat" if action in ("dst-nat", "redirect", "netmap", "same") else "srcnat"
    assert rule(api, NAT, chain=chain, action=action, comment=unique(), **extra)["action"] == action


def test_defconf_masquerade_with_ipsec_policy_out_none(api):
    row = rule(api, NAT, chain="srcnat", action="masquerade", comment=unique(),
               **{"ipsec-policy": "out,none"})
    assert (row["action"], row["ipsec-policy"]) == ("masquerade", "out,none")


def test_nat_bypass_placed_before_masquerade(api):
    masquerade = add(api, NAT, chain="srcnat", action="masquerade", comment=unique("mq"))
    bypass = add(api, NAT, chain="srcnat", action="accept", comment=unique("bp"),
                 **{"src-address": "10.10.0.0/24", "dst-address": "10.20.0.0/24",
                    "place-before": masquerade})
    order = ids_of(rows(api, NAT))
    assert order.index(bypass) == order.index(masquerade) - 1


@pytest.mark.parametrize("chain", ["prerouting", "output"])
def test_raw_notrack(api, chain):
    row = rule(api, RAW, chain=chain, action="notrack",
               **{"src-address": "10.10.0.0/24", "dst-address": "10.20.0.0/24"})
    assert (row["chain"], row["action"]) == (chain, "notrack")


@pytest.mark.parametrize("chain", ["prerouting", "input", "forward", "output", "postrouting"])
def test_mangle_chains(api, chain):
    assert rule(api, MANGLE, chain=chain, action="passthrough", comment=unique())["chain"] == chain


@pytest.mark.parametrize("direction", ["out,ipsec", "in,ipsec"])
def test_mangle_change_mss_tunnel_rule(api, direction):
    row = rule(api, MANGLE, chain="forward", action="change-mss", protocol="tcp",
               **{"tcp-flags": "syn", "ipsec-policy": direction, "new-mss": "1360",
                  "tcp-mss": "!0-1360", "passthrough": "yes"})
    assert {k: row[k] for k in ("action", "new-mss", "tcp-mss", "tcp-flags", "ipsec-policy",
                                "passthrough")} == \
        {"action": "change-mss", "new-mss": 1360, "tcp-mss": "!0-1360", "tcp-flags": "syn",
         "ipsec-policy": direction, "passthrough": True}


def test_mangle_change_mss_clamp_to_pmtu(api):
    row = rule(api, MANGLE, chain="forward", action="change-mss", protocol="tcp",
               **{"tcp-flags": "syn", "new-mss": "clamp-to-pmtu"})
    assert row["new-mss"] == "clamp-to-pmtu"


@pytest.mark.parametrize("menu", [NAT, RAW, MANGLE])
def test_other_tables_have_no_fasttrack_dummy_rule(api, menu):
    assert not any(r.get("comment") == FASTTRACK_DUMMY_COMMENT for r in rows(api, menu))


@pytest.mark.parametrize("menu", [NAT, RAW, MANGLE])
def test_other_tables_move(api, menu):
    chain = "output" if menu != NAT else "srcnat"
    tag = unique("mv")
    ids = [add(api, menu, chain=chain, action="passthrough" if menu != RAW else "accept",
               comment=tag) for _ in range(3)]
    run(api, menu + "/move", numbers=ids[2], destination=ids[0])
    assert ids_of(rows(api, menu, "?comment=" + tag)) == [ids[2], ids[0], ids[1]]


# ================================================================================================
# address lists


def entry(api, **kwargs):
    kwargs.setdefault("list", unique("al"))
    return by_id(api, ADDRESS_LIST, add(api, ADDRESS_LIST, **kwargs))


@pytest.mark.parametrize("address", ["192.0.2.60", "10.60.0.0/16", "192.0.2.61-192.0.2.69",
                                     "vpn.example.com"])
def test_address_list_address_forms(api, address):
    assert entry(api, address=address)["address"] == address


@pytest.mark.parametrize("given,stored", [("203.0.113.77/24", "203.0.113.0/24"),
                                          ("10.1.2.3/8", "10.0.0.0/8"),
                                          ("192.0.2.77/32", "192.0.2.77")])
def test_address_list_host_bits_normalised(api, given, stored):
    assert entry(api, address=given)["address"] == stored


def test_address_list_duplicate_after_normalisation(api):
    name = unique("al")
    add(api, ADDRESS_LIST, list=name, address="203.0.113.77/24")
    trap = expect_trap(api, ADDRESS_LIST + "/add", list=name, address="203.0.113.0/24")
    assert trap.message == "failure: already have such entry"


def test_address_list_same_address_in_another_list_is_fine(api):
    add(api, ADDRESS_LIST, list=unique("al"), address="192.0.2.88")
    assert entry(api, address="192.0.2.88")["address"] == "192.0.2.88"


def test_address_list_unparseable_text_is_a_dns_name(api):
    assert entry(api, address="300.1.2.3")["address"] == "300.1.2.3"


def test_address_list_timeout_makes_entry_dynamic(api):
    row = entry(api, address="192.0.2.90", timeout="1h")
    assert row["dynamic"] is True
    assert entry(api, address="192.0.2.91")["dynamic"] is False


def test_address_list_maximum_timeout(api):
    assert entry(api, address="192.0.2.92", timeout="35w3d13h13m56s")["dynamic"] is True
    name = unique("al")
    expect_trap(api, ADDRESS_LIST + "/add", list=name, address="192.0.2.93",
                timeout="35w3d13h13m57s")
    assert rows(api, ADDRESS_LIST, "?list=" + name) == ()


def test_address_list_dynamic_yes(api):
    assert entry(api, address="192.0.2.94", dynamic="yes")["dynamic"] is True


def test_address_list_creation_time_is_read_only(api):
    assert "creation-time" in entry(api, address="192.0.2.95")
    trap = expect_trap(api, ADDRESS_LIST + "/add", list=unique("al"), address="192.0.2.96",
                       **{"creation-time": "2026-01-01 00:00:00"})
    assert trap.message == "unknown parameter creation-time"


def test_address_list_list_is_mandatory(api):
    expect_trap(api, ADDRESS_LIST + "/add", address="192.0.2.97", comment=unique())


def test_dynamic_address_list_entries_are_not_saved(versions):
    version = "7.16.1"
    api = versions.api(version)
    name = unique("al")
    static = add(api, ADDRESS_LIST, list=name, address="192.0.2.98")
    add(api, ADDRESS_LIST, list=name, address="192.0.2.99", timeout="1d")
    versions.reboot(version)
    api = versions.api(version)
    assert ids_of(rows(api, ADDRESS_LIST, "?list=" + name)) == [static]
