"""Firewall evaluation over rows as RouterOS prints them (reference §3)."""

import pytest

from roslab.firewall_eval import (FirewallError, LimitState, Packet, address_in, evaluate, ports_match,
                                  raw_notrack)


def ike(src="198.51.100.2", dst="198.51.100.1", **kw):
    return Packet(protocol="udp", src_address=src, dst_address=dst, src_port=500, dst_port=500,
                  in_interface="ether1", **kw)


def rule(rid, **kw):
    row = {".id": rid, "disabled": "false"}
    row.update({k.replace("_", "-"): v for k, v in kw.items()})
    return row


def test_empty_chain_accepts_with_no_rule():
    verdict = evaluate([], "input", ike())
    assert (verdict.action, verdict.rule_id) == ("accept", None)


def test_first_terminal_rule_decides_in_order():
    rules = [
        rule("*1", chain="forward", action="drop"),                 # other chain: ignored
        rule("*2", chain="input", action="log"),                    # non-terminal: continues
        rule("*3", chain="input", action="accept", protocol="udp", dst_port="500,4500"),
        rule("*4", chain="input", action="drop"),
    ]
    verdict = evaluate(rules, "input", ike())
    assert (verdict.action, verdict.rule_id, verdict.matched) == ("accept", "*3", ["*2", "*3"])
    esp = Packet(protocol="ipsec-esp", src_address="198.51.100.2", dst_address="198.51.100.1")
    assert evaluate(rules, "input", esp).rule_id == "*4"


def test_disabled_and_invalid_rules_are_skipped():
    rules = [rule("*1", chain="input", action="drop", disabled="true"),
             rule("*2", chain="input", action="drop", invalid="true"),
             rule("*3", chain="input", action="reject")]
    assert evaluate(rules, "input", ike()).rule_id == "*3"


@pytest.mark.parametrize("spec,address,expected", [
    ("198.51.100.0/24", "198.51.100.7", True),
    ("198.51.100.0/24", "198.51.101.7", False),
    ("198.51.100.7", "198.51.100.7", True),
    ("10.0.0.5-10.0.0.9", "10.0.0.9", True),
    ("10.0.0.5-10.0.0.9", "10.0.0.10", False),
    ("vpn.example.net", "10.0.0.1", False),
])
def test_address_specs(spec, address, expected):
    assert address_in(spec, address) is expected


@pytest.mark.parametrize("spec,port,expected", [
    ("500", 500, True), ("500,4500", 4500, True), ("1000-2000", 1500, True),
    ("1000-2000,3000", 2500, False), ("22", None, False),
])
def test_port_specs(spec, port, expected):
    assert ports_match(spec, port) is expected


def test_negation_of_address_and_protocol():
    rules = [rule("*1", chain="input", action="drop", src_address="!198.51.100.0/24"),
             rule("*2", chain="input", action="drop", protocol="!udp")]
    assert evaluate(rules, "input", ike()).rule_id is None
    assert evaluate(rules, "input", ike(src="203.0.113.9")).rule_id == "*1"


def test_port_matches_source_or_destination_and_needs_tcp_udp():
    rules = [rule("*1", chain="input", action="drop", protocol="udp", port="4500")]
    from_natt = Packet(protocol="udp", src_address="1.1.1.1", dst_address="2.2.2.2", src_port=4500,
                       dst_port=1234)
    assert evaluate(rules, "input", from_natt).rule_id == "*1"
    rules = [rule("*1", chain="input", action="drop", port="4500")]
    esp = Packet(protocol="ipsec-esp", src_address="1.1.1.1", dst_address="2.2.2.2")
    assert evaluate(rules, "input", esp).rule_id is None


def test_address_lists_and_negation():
    lists = [{".id": "*1", "list": "peers", "address": "198.51.100.0/28", "disabled": "false"},
             {".id": "*2", "list": "peers", "address": "203.0.113.5", "disabled": "true"}]
    rules = [rule("*A", chain="input", action="accept", src_address_list="peers"),
             rule("*B", chain="input", action="drop", src_address_list="!peers")]
    assert evaluate(rules, "input", ike(), address_lists=lists).rule_id == "*A"
    assert evaluate(rules, "input", ike(src="203.0.113.5"), address_lists=lists).rule_id == "*B"


def test_connection_state_list_and_negation():
    rules = [rule("*1", chain="input", action="accept", connection_state="established,related"),
             rule("*2", chain="input", action="drop", connection_state="!new")]
    assert evaluate(rules, "input", ike(connection_state="related")).rule_id == "*1"
    assert evaluate(rules, "input", ike(connection_state="invalid")).rule_id == "*2"
    assert evaluate(rules, "input", ike(connection_state="new")).rule_id is None


def test_ipsec_policy_matcher():
    rules = [rule("*1", chain="forward", action="accept", ipsec_policy="in,ipsec"),
             rule("*2", chain="forward", action="drop", ipsec_policy="out,none")]
    lan = Packet(protocol="tcp", src_address="10.20.0.5", dst_address="10.10.0.5", src_port=40000,
                 dst_port=22)
    assert evaluate(rules, "forward", lan).rule_id == "*2"
    lan.ipsec_in = True
    assert evaluate(rules, "forward", lan).rule_id == "*1"
    lan.ipsec_in, lan.ipsec_out = False, True
    assert evaluate(rules, "forward", lan).rule_id is None


def test_interfaces_and_interface_lists():
    rules = [rule("*1", chain="input", action="drop", in_interface="!ether1"),
             rule("*2", chain="input", action="drop", in_interface_list="WAN")]
    assert evaluate(rules, "input", ike(), interface_lists={"WAN": ["ether2"]}).rule_id is None
    assert evaluate(rules, "input", ike(), interface_lists={"WAN": ["ether1"]}).rule_id == "*2"


def test_jump_return_and_fallthrough():
    rules = [
        rule("*1", chain="input", action="jump", jump_target="ipsec", protocol="udp"),
        rule("*2", chain="input", action="drop"),
        rule("*3", chain="ipsec", action="return", src_address="203.0.113.0/24"),
        rule("*4", chain="ipsec", action="accept", dst_port="500"),
    ]
    assert evaluate(rules, "input", ike()).rule_id == "*4"
    # return comes back to the rule after the jump
    assert evaluate(rules, "input", ike(src="203.0.113.1")).rule_id == "*2"
    # end of the user chain without a decision also comes back
    natt = Packet(protocol="udp", src_address="1.1.1.1", dst_address="2.2.2.2", src_port=4500,
                  dst_port=4500)
    assert evaluate(rules, "input", natt).rule_id == "*2"


def test_jump_loop_is_reported():
    rules = [rule("*1", chain="input", action="jump", jump_target="a"),
             rule("*2", chain="a", action="jump", jump_target="input")]
    with pytest.raises(FirewallError):
        evaluate(rules, "input", ike())


def test_limit_token_bucket_over_lab_time():
    rules = [rule("*1", chain="input", action="accept", protocol="udp", limit="2/1m,1:packet"),
             rule("*2", chain="input", action="drop", protocol="udp")]
    limits = LimitState()
    decisions = [evaluate(rules, "input", ike(time=0.0), limits=limits).rule_id for _ in range(4)]
    assert decisions == ["*1", "*1", "*1", "*2"]          # rate 2 + burst 1, then limited
    assert evaluate(rules, "input", ike(time=30.0), limits=limits).rule_id == "*1"  # 1 token back
    assert evaluate(rules, "input", ike(time=30.0), limits=limits).rule_id == "*2"


def test_limit_without_mode_defaults_to_packets():
    assert LimitState.parse("10,5") == (10.0, 1.0, 5.0, "packet")
    assert LimitState.parse("1000/1s,0:bit") == (1000.0, 1.0, 0.0, "bit")


def test_unknown_matcher_fails_loudly():
    with pytest.raises(FirewallError, match="layer7-protocol"):
        evaluate([rule("*1", chain="input", action="drop", layer7_protocol="x")], "input", ike())


def test_lenient_mode_skips_what_it_cannot_evaluate():
    rules = [rule("*1", chain="input", action="drop", layer7_protocol="x"),
             rule("*2", chain="input", action="mark-connection-foo"),
             rule("*3", chain="input", action="accept", protocol="udp")]
    verdict = evaluate(rules, "input", ike(), strict=False)
    assert verdict.rule_id == "*3"
    assert [rule_id for rule_id, _reason in verdict.skipped] == ["*1", "*2"]
    with pytest.raises(FirewallError, match="rule \\*2: action mark-connection-foo"):
        evaluate(rules[1:], "input", ike())


@pytest.mark.parametrize("matchers,packet_changes,expected", [
    ({"protocol": "icmp", "icmp_options": "8:0"}, {"protocol": "icmp"}, "*1"),
    ({"protocol": "icmp", "icmp_options": "0"}, {"protocol": "icmp"}, None),
    ({"dst_address_type": "local"}, {"dst_address_type": "local"}, "*1"),
    ({"dst_address_type": "!local"}, {"dst_address_type": "local"}, None),
    ({"packet_size": "0-500"}, {"size": 1400}, None),
    ({"ttl": "less-than:65"}, {}, "*1"),
    ({"connection_limit": "10,32"}, {}, None),
    ({"fragment": "no"}, {}, "*1"),
])
def test_more_matchers(matchers, packet_changes, expected):
    packet = ike()
    for key, value in packet_changes.items():
        setattr(packet, key, value)
    assert evaluate([rule("*1", chain="input", action="drop", **matchers)], "input", packet).rule_id == expected


def test_dst_limit_buckets_per_destination():
    rules = [rule("*1", chain="input", action="accept", dst_limit="1/1m,0,dst-address/1m"),
             rule("*2", chain="input", action="drop")]
    limits = LimitState()
    first = [evaluate(rules, "input", ike(dst=dst), limits=limits).rule_id for dst in ("1.1.1.1", "1.1.1.1",
                                                                                      "2.2.2.2")]
    assert first == ["*1", "*2", "*1"]


def test_defconf_style_matchers():
    rules = [rule("*1", chain="input", action="drop", connection_nat_state="!dstnat",
                  connection_state="new", in_interface="ether1", protocol="tcp", tcp_flags="syn"),
             rule("*2", chain="input", action="drop", connection_mark="!no-mark")]
    api = Packet(protocol="tcp", src_address="1.1.1.1", dst_address="2.2.2.2", src_port=40000,
                 dst_port=8728, in_interface="ether1", tcp_flags="syn")
    assert evaluate(rules, "input", api).rule_id == "*1"
    assert evaluate(rules, "input", ike()).rule_id is None     # not tcp: tcp-flags cannot match


def test_raw_notrack_marks_untracked():
    rules = [rule("*1", chain="prerouting", action="notrack", src_address="10.20.0.0/24")]
    lan = Packet(protocol="tcp", src_address="10.20.0.5", dst_address="10.10.0.5")
    verdict, untracked = raw_notrack(rules, "prerouting", lan)
    assert verdict.action == "accept" and untracked
    assert raw_notrack(rules, "prerouting", ike())[1] is False


# --- properties ----------------------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

_MATCHERS = st.fixed_dictionaries({}, optional={
    "protocol": st.sampled_from(["udp", "tcp", "ipsec-esp", "!udp"]),
    "dst-port": st.sampled_from(["500", "4500", "500,4500", "1-1000"]),
    "src-address": st.sampled_from(["198.51.100.0/24", "!198.51.100.2", "203.0.113.0/24"]),
    "connection-state": st.sampled_from(["new", "established,related", "!new"]),
})
_ACTIONS = st.sampled_from(["accept", "drop", "reject", "passthrough", "log"])
_RULES = st.lists(st.tuples(_MATCHERS, _ACTIONS), max_size=6)
_PACKETS = st.builds(Packet, protocol=st.sampled_from(["udp", "tcp", "ipsec-esp"]),
                     src_address=st.sampled_from(["198.51.100.2", "203.0.113.9"]),
                     dst_address=st.just("198.51.100.1"), src_port=st.just(500),
                     dst_port=st.sampled_from([500, 4500, 8728]),
                     connection_state=st.sampled_from(["new", "established"]))


def _table(chain, specs, prefix):
    rows = []
    for index, (matchers, action) in enumerate(specs):
        row = {".id": "*%s%d" % (prefix, index), "chain": chain, "action": action, "disabled": "false"}
        row.update(matchers)
        if "dst-port" in matchers and "protocol" not in matchers:
            row["protocol"] = "udp"           # RouterOS takes ports only with a tcp/udp protocol
        rows.append(row)
    return rows


@settings(max_examples=150, deadline=None)
@given(head=_RULES, body=_RULES, tail=_RULES, packet=_PACKETS)
def test_jump_to_a_chain_decides_like_the_chain_inlined(head, body, tail, packet):
    """A jump to a user chain without `return` is the same as writing its rules in place."""
    jumping = _table("input", head, "H") + [{".id": "*J", "chain": "input", "action": "jump",
                                             "jump-target": "user", "disabled": "false"}] \
        + _table("input", tail, "T") + _table("user", body, "B")
    inlined = _table("input", head, "H") + _table("input", body, "B") + _table("input", tail, "T")
    with_jump = evaluate(jumping, "input", packet)
    flat = evaluate(inlined, "input", packet)
    assert (with_jump.action, with_jump.rule_id) == (flat.action, flat.rule_id)
    assert [rid for rid in with_jump.matched if rid != "*J"] == flat.matched


@settings(max_examples=150, deadline=None)
@given(rules=_RULES, packet=_PACKETS)
def test_disabled_rules_never_change_the_verdict(rules, packet):
    table = _table("input", rules, "R")
    disabled = [dict(row, disabled="true", **{".id": row[".id"] + "X"}) for row in table]
    mixed = [row for pair in zip(table, disabled) for row in pair]
    assert evaluate(mixed, "input", packet).rule_id == evaluate(table, "input", packet).rule_id
    assert evaluate(disabled, "input", packet).rule_id is None
