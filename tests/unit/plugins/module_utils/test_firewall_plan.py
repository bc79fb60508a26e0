"""Firewall rule derivation from tunnels, overrides, and the MSS arithmetic."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import firewall as fp

HUB_TUNNELS = [
    {"peer_address": "203.0.113.2", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.20.0.0/24"]},
    {"peer_address": "203.0.113.3", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.30.0.0/24", "10.31.0.0/24"],
     "enc_algorithms": "aes-256-gcm"},
]


def by_key(plan, section):
    return dict((fp.item_key(item), item) for item in plan.sections[section])


def test_peer_address_list_has_one_entry_per_peer():
    plan = fp.derive(HUB_TUNNELS + [dict(HUB_TUNNELS[0])])
    entries = plan.sections["address_lists"]
    assert [(e["list"], e["address"]) for e in entries] == [
        ("ipsecfleet-peers", "203.0.113.2"), ("ipsecfleet-peers", "203.0.113.3")]
    assert all(e["comment"].startswith("ipsecfleet:fw-peer-") for e in entries)


def test_input_accepts_ipsec_only_from_peers_and_drops_the_rest():
    plan = fp.derive(HUB_TUNNELS)
    rules = plan.sections["filter"]
    inputs = [r for r in rules if r["chain"] == "input"]
    accepts = [r for r in inputs if r["action"] == "accept"]
    assert accepts and all(r["src_address_list"] == "ipsecfleet-peers" for r in accepts)
    assert {r.get("protocol") for r in accepts} == {"udp", "ipsec-esp"}  # no AH: no tunnel uses it
    rules_by_key = by_key(plan, "filter")
    assert rules_by_key["fw-in-ike-new"]["limit"] == "10,5:packet"
    assert rules_by_key["fw-in-ike-new"]["connection_state"] == "new"
    # the rate-limit drop comes right after the limited accept, before the blanket drops
    keys = [fp.item_key(r) for r in inputs]
    assert keys.index("fw-in-ike-new") + 1 == keys.index("fw-in-ike-excess")
    assert keys.index("fw-in-esp") < keys.index("fw-in-esp-other")
    drops = [r for r in inputs if r["action"] == "drop" and "src_address_list" not in r]
    assert {(r["protocol"], r.get("dst_port")) for r in drops} == {
        ("udp", "500,4500"), ("ipsec-esp", None), ("ipsec-ah", None)}
    assert all(plan.blocks[k] == "input" for k in keys)


def test_ah_accepted_only_when_a_tunnel_uses_it():
    plan = fp.derive([dict(HUB_TUNNELS[0], ipsec_protocols="ah")])
    assert by_key(plan, "filter")["fw-in-ah"]["protocol"] == "ipsec-ah"
    assert "fw-in-ah" not in by_key(fp.derive(HUB_TUNNELS), "filter")


def test_forward_rules_and_blocks():
    plan = fp.derive(HUB_TUNNELS)
    rules = by_key(plan, "filter")
    assert rules["fw-fwd-ipsec-in"]["ipsec_policy"] == "in,ipsec"
    assert rules["fw-fwd-ipsec-out"]["ipsec_policy"] == "out,ipsec"
    assert plan.blocks["fw-fwd-ipsec-in"] == "forward-ipsec"
    assert rules["fw-fwd-established"]["connection_state"] == "established,related"
    assert rules["fw-fwd-invalid"]["action"] == "drop"
    assert plan.blocks["fw-fwd-invalid"] == "forward-state"


def test_raw_notrack_covers_both_directions_of_every_prefix_pair():
    plan = fp.derive(HUB_TUNNELS)
    pairs = {(r["src_address"], r["dst_address"]) for r in plan.sections["raw"]}
    expected = set()
    for remote in ("10.20.0.0/24", "10.30.0.0/24", "10.31.0.0/24"):
        expected |= {("10.10.0.0/24", remote), (remote, "10.10.0.0/24")}
    assert pairs == expected
    assert all(r["action"] == "notrack" and r["chain"] == "prerouting" for r in plan.sections["raw"])


def test_fasttrack_accept_mode_puts_accepts_before_fasttrack_instead_of_raw():
    plan = fp.derive(HUB_TUNNELS, {"fasttrack_bypass": "accept"})
    assert plan.sections["raw"] == []
    tunnel_accepts = [r for r in plan.sections["filter"] if fp.item_key(r).startswith("fw-fwd-tunnel-")]
    assert len(tunnel_accepts) == 6
    assert all(plan.blocks[fp.item_key(r)] == "forward-ipsec" for r in tunnel_accepts)
    assert all(r["connection_state"] == "established,related" for r in tunnel_accepts)


def test_nat_bypass_modes():
    assert [(r["action"], r["ipsec_policy"]) for r in fp.derive(HUB_TUNNELS).sections["nat"]] == [("accept", "out,ipsec")]
    prefixes = fp.derive(HUB_TUNNELS, {"nat_bypass": "prefixes"}).sections["nat"]
    assert [(r["src_address"], r["dst_address"]) for r in prefixes] == [
        ("10.10.0.0/24", "10.20.0.0/24"), ("10.10.0.0/24", "10.30.0.0/24"), ("10.10.0.0/24", "10.31.0.0/24")]
    assert fp.derive(HUB_TUNNELS, {"nat_bypass": "none"}).sections["nat"] == []
    with pytest.raises(fp.PlanError):
        fp.derive(HUB_TUNNELS, {"nat_bypass": "masquerade"})


def test_mss_rules_use_the_worst_tunnel():
    plan = fp.derive(HUB_TUNNELS)
    # default proposal: aes-*-cbc with sha1 (1382) beats aes-256-gcm (1398)
    assert plan.mss == 1382
    mangle = plan.sections["mangle"]
    assert [r["ipsec_policy"] for r in mangle] == ["out,ipsec", "in,ipsec"]
    assert all(r["new_mss"] == "1382" and r["tcp_mss"] == "!0-1382" and r["tcp_flags"] == "syn" for r in mangle)
    assert fp.derive(HUB_TUNNELS, {"mss": "none"}).sections["mangle"] == []
    assert fp.derive(HUB_TUNNELS, {"mss": 1300}).mss == 1300


@pytest.mark.parametrize("enc, auth, natt, version, mss", [
    # 1500-20-8-8-16-12 = 1436 -> /16 = 1424 -> -2 = 1422 -> -40 = 1382
    ("aes-256-cbc", "sha1", True, 4, 1382),
    # 1500-20-0-8-16-12 = 1444 -> 1440 -> 1438 -> 1398
    ("aes-256-cbc", "sha1", False, 4, 1398),
    # 1500-20-8-8-16-16 = 1432 -> 1424 -> 1382
    ("aes-128-cbc", "sha256", True, 4, 1382),
    # sha512 ICV 32: 1500-20-8-8-16-32 = 1416 -> 1408 -> 1406 -> 1366
    ("aes-256-cbc", "sha512", True, 4, 1366),
    # GCM: 1500-20-8-8-8-16 = 1440 -> /4 = 1440 -> 1438 -> 1398 (auth ignored)
    ("aes-256-gcm", "sha512", True, 4, 1398),
    # 3DES: 1500-20-8-8-8-12 = 1444 -> /8 = 1440 -> 1438 -> 1398
    ("3des", "md5", True, 4, 1398),
    # IPv6 outer header: 1500-40-8-8-16-12 = 1416 -> 1408 -> 1406 -> 1366
    ("aes-256-cbc", "sha1", True, 6, 1366),
    ("chacha20poly1305", "null", False, 4, 1406),  # 1500-20-8-8-16 = 1448 -> 1446 -> 1406
])
def test_mss_arithmetic(enc, auth, natt, version, mss):
    value, explanation = fp.esp_overhead_mss(1500, enc, auth, natt, version)
    assert value == mss
    assert explanation.endswith("MSS %d" % mss)


def test_mss_arithmetic_fits_exactly():
    # property: the largest inner packet fits the MTU and one byte more would not (CBC alignment)
    def outer(inner):
        return 20 + 8 + 8 + 16 + -(-(inner + 2) // 16) * 16 + 16

    for mtu in range(1280, 1501, 7):
        mss, _text = fp.esp_overhead_mss(mtu, "aes-128-cbc", "sha256", True, 4)
        assert outer(mss + 40) <= mtu
        assert outer(mss + 40 + 16) > mtu


def test_aead_proposals_with_empty_auth_list():
    # the planner writes GCM proposals with auth-algorithms="" (routeros7-behaviour.md, proposal)
    for empty in ([], ""):
        tunnel = dict(HUB_TUNNELS[0], enc_algorithms=["aes-256-gcm"], auth_algorithms=empty)
        assert fp.tunnels_mss([tunnel])[0] == 1398


def test_mss_rejects_unknown_algorithms():
    with pytest.raises(fp.PlanError):
        fp.esp_overhead_mss(1500, "rot13", "sha1")
    with pytest.raises(fp.PlanError):
        fp.derive([dict(HUB_TUNNELS[0], auth_algorithms="crc32")])


def test_overrides_replace_remove_and_add():
    overrides = {
        "filter": [
            {"key": "in-ike-new", "limit": "50,50:packet"},
            {"key": "fw-in-ah-other", "state": "absent"},
            {"key": "in-mgmt", "chain": "input", "action": "accept", "protocol": "tcp", "dst_port": "8291",
             "text": "winbox"},
            {"key": "fwd-audit", "chain": "forward", "action": "log", "block": "forward-state"},
        ],
        "mangle": [{"key": "mss-out", "new_mss": "1300", "tcp_mss": "!0-1300"}],
    }
    plan = fp.build_plan(HUB_TUNNELS, overrides=overrides)
    rules = by_key(plan, "filter")
    assert rules["fw-in-ike-new"]["limit"] == "50,50:packet"
    assert "fw-in-ah-other" not in rules and "fw-in-ah-other" not in plan.blocks
    assert rules["fw-in-mgmt"]["comment"] == "ipsecfleet:fw-in-mgmt winbox"
    keys = [fp.item_key(r) for r in plan.sections["filter"]]
    # a user rule is appended to its block, not to the end of the table
    assert keys.index("fw-in-mgmt") == keys.index("fw-in-esp-other") + 1
    assert plan.blocks["fw-in-mgmt"] == "input"
    assert keys[-1] == "fw-fwd-audit" and plan.blocks["fw-fwd-audit"] == "forward-state"
    assert by_key(plan, "mangle")["fw-mss-out"]["new_mss"] == "1300"


@pytest.mark.parametrize("overrides", [
    {"bogus": []},
    {"filter": [{"chain": "input"}]},
    {"filter": [{"key": "x", "action": "accept"}]},
    {"filter": [{"key": "x", "chain": "output", "action": "accept"}]},
])
def test_bad_overrides_are_refused(overrides):
    with pytest.raises(fp.PlanError):
        fp.build_plan(HUB_TUNNELS, overrides=overrides)


def test_ipv6_and_dns_peers():
    plan = fp.derive([
        {"peer_address": "2001:db8::2", "local_prefixes": ["10.1.0.0/24"], "remote_prefixes": ["2001:db8:1::/64"]},
        {"peer_address": "vpn.example.net", "local_prefixes": ["10.1.0.0/24"], "remote_prefixes": ["10.2.0.0/24"]},
    ])
    assert [e["address"] for e in plan.sections["address_lists"]] == ["vpn.example.net"]
    assert len(plan.warnings) == 2


def test_no_tunnels_no_rules_and_bad_tunnels_refused():
    plan = fp.derive([])
    assert all(items == [] for items in plan.sections.values())
    with pytest.raises(fp.PlanError):
        fp.derive([{"local_prefixes": []}])
    with pytest.raises(fp.PlanError):
        fp.derive([{"peer_address": "1.2.3.4", "local_prefixes": ["not-a-prefix"]}])


def test_every_rule_uses_only_arguments_the_menu_table_allows():
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
    plan = fp.derive(HUB_TUNNELS, {"fasttrack_bypass": "accept", "nat_bypass": "prefixes"})
    for section, items in plan.sections.items():
        fields = menus.MENUS_BY_SECTION[section].fields
        for item in items:
            assert set(fp.to_row(item)) <= set(fields), item
