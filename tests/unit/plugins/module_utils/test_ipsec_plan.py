"""Plan derivation: engine format, mirrored ends, stable keys, dedup, consistency, speed."""
import copy
import random

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError

from test_intent_fixtures import PSK, PSK2, groups, hostvars, tunnel

HUB_TOPOLOGY = [{"name": "hs", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
                 "auth": {"psk_var": "ipsec_psk"}, "hub_endpoint": {"passive": True}}]


def fleet(tunnels=None, topologies="hub", hv=None):
    if topologies == "hub":
        topologies = HUB_TOPOLOGY
    return ipsec_plan.plan_fleet(tunnels or [], hv or hostvars(), topologies, groups())


def keys_of(section, items):
    menu = menus.MENUS_BY_SECTION[section]
    return [menus.owner_key(menu, item) for item in items]


def test_plan_has_the_engine_sections_in_apply_order():
    plan = fleet()["hq"]
    assert list(plan) == ["profiles", "policy_groups", "proposals", "peers", "identities", "policies"]
    assert all(section in menus.MENUS_BY_SECTION for section in plan)


def test_items_use_only_managed_routeros_arguments_and_string_values():
    for host, plan in fleet([tunnel(name="v6", a="v6a", b="v6b", ppk_secret=PSK2)]).items():
        for section, items in plan.items():
            menu = menus.MENUS_BY_SECTION[section]
            for item in items:
                for key, value in item.items():
                    assert "-" not in key
                    assert key.replace("_", "-") in menu.fields, (host, section, key)
                    assert isinstance(value, str), (host, section, key, value)
                    assert value not in ("yes", "no", "True", "False")


def test_every_item_is_owned_and_keys_are_unique_per_host():
    plans = fleet([tunnel(name="direct", a={"host": "br1", "prefixes": ["10.1.50.0/24"]},
                          b={"host": "br2", "prefixes": ["10.2.50.0/24"]}, auth={"psk": PSK})])
    for host, plan in plans.items():
        for section, items in plan.items():
            keys = keys_of(section, items)
            assert None not in keys, (host, section)
            assert len(set(keys)) == len(keys), (host, section, keys)
    hq = plans["hq"]
    assert keys_of("peers", hq["peers"]) == ["peer/hs-hq-br1", "peer/hs-hq-br2"]
    assert keys_of("identities", hq["identities"]) == ["identity/hs-hq-br1", "identity/hs-hq-br2"]
    assert all(k.startswith("policy/hs-hq-br") for k in keys_of("policies", hq["policies"]))
    assert all(p["name"].startswith("ipsecfleet-") for p in hq["profiles"])


def strip(item):
    return dict((k, v) for k, v in item.items() if k != "name")


def test_both_ends_are_mirrored():
    plans = fleet()
    hq, br1 = plans["hq"], plans["br1"]
    hq_peer = [p for p in hq["peers"] if p["comment"].startswith("ipsecfleet:peer/hs-hq-br1 ")][0]
    br_peer = br1["peers"][0]
    assert hq_peer["address"] == "203.0.113.10/32" and br_peer["address"] == "198.51.100.1/32"
    assert hq_peer["passive"] == "true" and br_peer["passive"] == "false"
    assert hq_peer["exchange_mode"] == br_peer["exchange_mode"] == "ike2"
    hq_pol = [p for p in hq["policies"] if p["peer"] == hq_peer["name"]]
    assert [(p["src_address"], p["dst_address"]) for p in hq_pol] == [("10.0.0.0/16", "10.1.0.0/24")]
    assert [(p["src_address"], p["dst_address"]) for p in br1["policies"]] == [("10.1.0.0/24", "10.0.0.0/16")]
    assert [strip(p) for p in hq["profiles"]] == [strip(p) for p in br1["profiles"]]
    assert hq["proposals"] == br1["proposals"]
    hq_id = [i for i in hq["identities"] if i["peer"] == hq_peer["name"]][0]
    assert hq_id["secret"] == br1["identities"][0]["secret"] == PSK
    assert hq_id["auth_method"] == "pre-shared-key"
    assert all(p["tunnel"] == "true" and p["level"] == "require" and p["action"] == "encrypt"
               for p in hq["policies"] + br1["policies"])
    assert br1["policies"][0]["proposal"] == br1["proposals"][0]["name"]
    assert br_peer["profile"] == br1["profiles"][0]["name"]


def test_default_suite_values_are_routeros_print_forms():
    plan = fleet()["br1"]
    assert plan["profiles"][0] == dict(plan["profiles"][0], enc_algorithm="aes-256", hash_algorithm="sha384",
                                       prf_algorithm="sha384", dh_group="ecp384", lifetime="1d",
                                       nat_traversal="true", dpd_interval="2m", dpd_maximum_failures="5")
    assert plan["proposals"][0] == dict(plan["proposals"][0], enc_algorithms="aes-256-gcm", auth_algorithms="",
                                        pfs_group="ecp384", lifetime="30m")


def test_several_prefixes_give_one_policy_per_same_family_pair():
    t = tunnel(a={"host": "hq", "prefixes": ["10.0.0.0/16", "172.16.0.0/12", "fd00::/64"]},
               b={"host": "br1", "prefixes": ["10.1.0.0/24", "fd00:1::/64"]})
    plan = fleet([t], topologies=None)["hq"]
    assert [(p["src_address"], p["dst_address"]) for p in plan["policies"]] == [
        ("10.0.0.0/16", "10.1.0.0/24"), ("172.16.0.0/12", "10.1.0.0/24"), ("fd00::/64", "fd00:1::/64")]


def test_ipv6_peer_address_is_a_128_and_local_address_is_kept():
    t = tunnel(name="v6", a={"host": "v6a", "local_address": "2001:db8::a"}, b="v6b")
    plans = fleet([t], topologies=None)
    assert plans["v6a"]["peers"][0]["address"] == "2001:db8::b/128"
    assert plans["v6a"]["peers"][0]["local_address"] == "2001:db8::a"
    assert "local_address" not in plans["v6b"]["peers"][0]


def test_ikev1_aggressive_exchange_mode():
    t = tunnel(ike_version=1, suite="ikev1-aes256cbc-sha256-modp2048", exchange_mode="aggressive")
    plans = fleet([t], topologies=None)
    assert plans["hq"]["peers"][0]["exchange_mode"] == plans["br1"]["peers"][0]["exchange_mode"] == "aggressive"
    assert plans["hq"]["proposals"][0]["auth_algorithms"] == "sha256"


def test_ppk_sets_profile_and_peer_secret_on_both_ends():
    plans = fleet([tunnel(name="v6", a="v6a", b="v6b", ppk_secret=PSK2)], topologies=None)
    for host in ("v6a", "v6b"):
        assert plans[host]["profiles"][0]["ppk"] == "psk"
        assert plans[host]["peers"][0]["ppk_secret"] == PSK2


def test_identical_profiles_and_proposals_are_shared_and_differing_ones_are_not():
    plans = fleet()
    assert len(plans["hq"]["profiles"]) == 1 and len(plans["hq"]["proposals"]) == 1
    extra = tunnel(name="hq-br3", b="br3", suite="ikev2-aes256gcm-modp3072")
    plans = fleet([extra])
    assert len(plans["hq"]["profiles"]) == 2 and len(plans["hq"]["proposals"]) == 2
    names = set(p["name"] for p in plans["hq"]["proposals"])
    assert set(p["proposal"] for p in plans["hq"]["policies"]) == names


def test_lifetime_change_gives_a_new_proposal_name():
    a = fleet([tunnel()], topologies=None)["hq"]["proposals"][0]["name"]
    b = fleet([tunnel(phase2_lifetime="1h")], topologies=None)["hq"]["proposals"][0]["name"]
    assert a != b and a.startswith("ipsecfleet-ikev2-aes256gcm-ecp384-")


def test_policy_keys_do_not_move_when_a_prefix_is_added():
    before = fleet([tunnel()], topologies=None)["hq"]["policies"]
    t = tunnel(b={"host": "br1", "prefixes": ["10.1.0.0/24", "192.168.5.0/24"]})
    after = fleet([t], topologies=None)["hq"]["policies"]
    before_keys = keys_of("policies", before)
    after_keys = keys_of("policies", after)
    assert set(before_keys) < set(after_keys) and len(after_keys) == 2


def test_plan_is_deterministic_whatever_the_input_order():
    tunnels = [tunnel(), tunnel(name="hq-br2", b="br2", auth={"psk": PSK2}),
               tunnel(name="hq-br3", b="br3", suite="ikev2-aes128gcm-ecp256")]
    reference = fleet(tunnels, topologies=None)
    for seed in range(3):
        shuffled = list(tunnels)
        random.Random(seed).shuffle(shuffled)
        assert fleet(copy.deepcopy(shuffled), topologies=None) == reference


def test_host_without_tunnels_gets_empty_sections():
    plan = ipsec_plan.plan_host("br3", [tunnel()], hostvars())
    assert plan == dict((s, []) for s in ipsec_plan.PLAN_SECTIONS)


def test_unknown_host_is_refused():
    with pytest.raises(IntentError, match="host 'nosuch'"):
        ipsec_plan.plan_host("nosuch", [tunnel()], hostvars())


def test_plan_host_equals_the_fleet_plan_of_that_host():
    plans = fleet([tunnel(name="hq-br3", b="br3", auth={"psk": PSK2})])
    for host in plans:
        assert ipsec_plan.plan_host(host, [tunnel(name="hq-br3", b="br3", auth={"psk": PSK2})], hostvars(),
                                    HUB_TOPOLOGY, groups()) == plans[host]


def test_description_goes_into_the_comment_after_the_key():
    plan = fleet([tunnel(description="main office")], topologies=None)["hq"]
    assert plan["peers"][0]["comment"] == "ipsecfleet:peer/hq-br1 tunnel hq-br1 to br1: main office"


# --- consistency check: it must catch a plan whose ends disagree --------------------------------

def _validated(tunnels):
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import FleetIndex
    return FleetIndex(tunnels, hostvars(), None, groups()).validate_all()[0]


def _tamper(plans, host, section, key, value):
    plans[host][section][0][key] = value
    return plans


@pytest.mark.parametrize("host,section,key,value,expected", [
    ("br1", "peers", "address", "203.0.113.99/32", "do not point at each other"),
    ("br1", "identities", "secret", PSK2, "secrets differ"),
    ("br1", "profiles", "dh_group", "ecp256", "phase-1 profiles differ"),
    ("br1", "proposals", "pfs_group", "ecp256", "phase-2 proposals differ"),
    ("br1", "policies", "dst_address", "10.9.0.0/16", "not mirrored"),
    ("br1", "peers", "exchange_mode", "main", "exchange modes differ"),
    ("br1", "peers", "passive", "true", "both ends passive"),
])
def test_consistency_check_catches_disagreeing_ends(host, section, key, value, expected):
    tunnels = _validated([tunnel(a={"host": "hq", "passive": True})])
    plans = dict((h, ipsec_plan.build_plan(h, tunnels)) for h in ("hq", "br1"))
    ipsec_plan.check_consistency(tunnels, plans)  # untouched: agrees
    with pytest.raises(IntentError, match=expected):
        ipsec_plan.check_consistency(tunnels, _tamper(plans, host, section, key, value))


def test_consistency_check_catches_a_missing_item():
    tunnels = _validated([tunnel()])
    plans = dict((h, ipsec_plan.build_plan(h, tunnels)) for h in ("hq", "br1"))
    plans["br1"]["identities"] = []
    with pytest.raises(IntentError, match="missing planned item"):
        ipsec_plan.check_consistency(tunnels, plans)


# --- a big fleet plans correctly (speed is measured in benchmarks/bench_plan.py) --------------

def _big_fleet(spokes):
    hv = {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.0.0.0/16"],
                  "routeros_version": "7.22.2"}}
    for i in range(spokes):
        hv["s%d" % i] = {"ipsec_wan_address": "100.64.%d.%d" % (i // 250, i % 250 + 1),
                         "ipsec_lan_prefixes": ["10.%d.%d.0/24" % (1 + i // 256, i % 256)]}
    grp = {"spokes": ["s%d" % i for i in range(spokes)]}
    topo = [{"name": "big", "type": "hub_and_spoke", "hub": "hub", "spokes": "spokes", "auth": {"psk": PSK}}]
    return hv, grp, topo


def test_big_fleet_plans_every_host():
    hv, grp, topo = _big_fleet(600)
    spoke_plan = ipsec_plan.plan_host("s321", [], hv, topo, grp)
    hub_plan = ipsec_plan.plan_host("hub", [], hv, topo, grp)
    assert len(spoke_plan["peers"]) == 1 and len(hub_plan["policies"]) == 600
    plans = ipsec_plan.plan_fleet([], hv, topo, grp)
    assert len(plans) == 601


def test_planning_one_host_expands_only_its_own_tunnels():
    hv, grp, topo = _big_fleet(600)
    spoke_index = intent.FleetIndex([], hv, topo, grp, only_host="s321")
    assert [raw["name"] for raw, _origin in spoke_index.entries] == [intent.generated_name("big", "hub", "s321")]
    hub_index = intent.FleetIndex([], hv, topo, grp, only_host="hub")
    assert len(hub_index.entries) == 600
    assert intent.FleetIndex([], hv, topo, grp, only_host="not-in-any-tunnel").entries == []


def test_one_host_plans_equal_the_fleet_plan_for_every_host():
    # a hub and spoke fleet, a mesh among three spokes, and one explicit tunnel
    hv, grp, topo = _big_fleet(12)
    grp["mesh"] = ["s1", "s2", "s3"]
    for i in (1, 2, 3):
        hv["s%d" % i]["ipsec_lan_prefixes"].append("172.16.%d.0/24" % i)
    mesh = {"name": "m", "type": "full_mesh", "members": "mesh", "auth": {"psk": PSK}}
    explicit = [{"name": "s4-s5", "a": {"host": "s4", "prefixes": ["192.168.4.0/24"]},
                 "b": {"host": "s5", "prefixes": ["192.168.5.0/24"]}, "auth": {"psk": PSK}}]
    hv["s1"]["ipsec_lan_prefixes"] = ["10.1.1.0/24"]
    fleet = ipsec_plan.plan_fleet(explicit, hv, topo + [mesh], grp)
    for host, plan in fleet.items():
        assert ipsec_plan.plan_host(host, explicit, hv, topo + [mesh], grp) == plan, host
