"""Route-based tunnels (mode gre/ipip): intent checks, link addressing, both ends agreeing, the
transport-mode policy, the firewall following the mode, the interface MTU from plan/mtu.py."""
import ipaddress

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import mtu
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import route_based

from test_intent_fixtures import PSK, groups, hostvars, tunnel

GRE_HUB = [{"name": "rb", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches", "mode": "gre",
            "tunnel_pool": "10.255.0.0/24", "auth": {"psk_var": "ipsec_psk"}}]


def plans(tunnels=(), topologies=None, hv=None, host=None, features=None):
    """{host: HostPlan} of ``host``, or of every host the tunnels name."""
    hv = hv or hostvars()
    if host:
        hosts = [host]
    else:
        hosts = sorted(set(t[k] if isinstance(t[k], str) else t[k]["host"] for t in tunnels for k in ("a", "b")))
    return dict((h, host_plan.plan_from_intent(h, list(tunnels), hv, topologies, groups(), features=features))
                for h in hosts)


def one(**fields):
    return [tunnel(mode="gre", tunnel_address="10.255.9.0/30", **fields)]


def test_policy_mode_is_the_default_and_plans_no_route_based_items():
    plan = plans([tunnel()])["hq"]
    assert plan.tunnels[0].mode == "policy"
    assert all(plan.sections[s] == [] for s in route_based.SECTIONS)
    assert "route_based" not in plan.notes


def test_both_ends_agree_on_link_routes_and_interfaces():
    both = plans(one())
    hq, br1 = both["hq"].sections, both["br1"].sections
    assert hq["gre_interfaces"][0]["remote_address"] == "203.0.113.10"
    assert hq["gre_interfaces"][0]["local_address"] == "198.51.100.1"
    assert br1["gre_interfaces"][0]["remote_address"] == "198.51.100.1"
    # a takes the first usable address of the /30, b the second
    assert hq["ip_addresses"][0]["address"] == "10.255.9.1/30"
    assert br1["ip_addresses"][0]["address"] == "10.255.9.2/30"
    assert hq["routes"] == [dict(hq["routes"][0], dst_address="10.1.0.0/24", gateway="10.255.9.2")]
    assert br1["routes"][0]["dst_address"] == "10.0.0.0/16" and br1["routes"][0]["gateway"] == "10.255.9.1"
    assert hq["routes"][0]["distance"] == "1" and hq["routes"][0]["check_gateway"] == "ping"
    assert hq["gre_interfaces"][0]["allow_fast_path"] == "false"   # fast path skips the IPsec policy
    assert hq["gre_interfaces"][0]["keepalive"] == "10s,10"
    route_based.check_consistency(both["hq"].tunnels, {"hq": hq, "br1": br1})
    # the checker is not vacuous: a wrong gateway on one end is found
    broken = dict(br1, routes=[dict(br1["routes"][0], gateway="10.255.9.3")])
    with pytest.raises(IntentError, match="routes do not point"):
        route_based.check_consistency(both["hq"].tunnels, {"hq": hq, "br1": broken})


def test_slash31_link_uses_both_addresses():
    both = plans([tunnel(mode="ipip", tunnel_address="10.255.9.0/31")])
    assert both["hq"].sections["ipip_interfaces"][0]["name"] == "ipsecfleet-hq-br1"
    assert both["hq"].sections["ip_addresses"][0]["address"] == "10.255.9.0/31"
    assert both["br1"].sections["ip_addresses"][0]["address"] == "10.255.9.1/31"
    assert both["hq"].sections["gre_interfaces"] == []


def test_every_item_is_owned_with_managed_arguments_only():
    for plan in plans(one()).values():
        for section in route_based.SECTIONS:
            menu = menus.MENUS_BY_SECTION[section]
            for item in plan.sections[section]:
                assert menus.owner_key(menu, item), (section, item)
                for key, value in item.items():
                    assert key.replace("_", "-") in menu.fields, (section, key)
                    assert isinstance(value, str)


def test_transport_policy_protects_the_encapsulation_between_the_wan_addresses():
    hq = plans(one())["hq"].sections["policies"]
    assert len(hq) == 1
    policy = hq[0]
    assert (policy["src_address"], policy["dst_address"]) == ("198.51.100.1/32", "203.0.113.10/32")
    assert policy["tunnel"] == "false" and policy["protocol"] == "gre"
    ipip = plans([tunnel(mode="ipip", tunnel_address="10.255.9.0/30")])["br1"].sections["policies"][0]
    assert ipip["protocol"] == "ipencap"
    assert (ipip["src_address"], ipip["dst_address"]) == ("203.0.113.10/32", "198.51.100.1/32")
    # the whole fleet check (both ends mirrored, route-based agreement) passes
    ipsec_plan.validate_fleet(one(), hostvars())


def test_interface_mtu_comes_from_the_mtu_arithmetic():
    plan = plans(one())["hq"]
    t = plan.tunnels[0]
    expected, why = mtu.worst_tunnel_mtu(1500, "gre", t.suite.proposal["enc_algorithms"],
                                         t.suite.proposal["auth_algorithms"], True)
    assert plan.sections["gre_interfaces"][0]["mtu"] == str(expected)
    assert expected < 1476            # less than a plain GRE tunnel: ESP costs bytes
    assert plan.notes["route_based"]["hq-br1"] == {
        "interface": "ipsecfleet-hq-br1", "mode": "gre", "address": "10.255.9.1/30", "gateway": "10.255.9.2",
        "mtu": expected, "mtu_explanation": why, "mss": expected - 40}
    smaller = plans(one(wan_mtu=1400))["hq"].sections["gre_interfaces"][0]["mtu"]
    assert expected - 100 - 16 < int(smaller) <= expected - 100 + 16
    ipip = plans([tunnel(mode="ipip", tunnel_address="10.255.9.0/30")])["hq"].sections["ipip_interfaces"][0]
    assert int(ipip["mtu"]) == expected + 4      # IPIP has no 4-byte GRE header
    assert plans(one(tunnel_mtu=1300))["hq"].sections["gre_interfaces"][0]["mtu"] == "1300"


def test_firewall_follows_the_mode():
    fw = plans(one())["hq"].sections
    by_key = dict((menus.owner_key(menus.MENUS_BY_SECTION["filter"], r), r) for r in fw["filter"])
    gre = by_key["fw-in-gre-203.0.113.10"]
    assert (gre["protocol"], gre["src_address"], gre["ipsec_policy"]) == ("gre", "203.0.113.10", "in,ipsec")
    keys = list(by_key)
    assert keys.index("fw-in-gre-203.0.113.10") < keys.index("fw-in-gre-other")
    assert by_key["fw-in-gre-other"]["action"] == "drop"
    assert by_key["fw-fwd-iface-in-ipsecfleet-hq-br1"]["in_interface"] == "ipsecfleet-hq-br1"
    assert by_key["fw-fwd-iface-out-ipsecfleet-hq-br1"]["out_interface"] == "ipsecfleet-hq-br1"
    assert "fw-in-esp" in by_key   # ESP from the peers as for policy-based tunnels
    assert [r["out_interface"] for r in fw["nat"] if "out_interface" in r] == ["ipsecfleet-hq-br1"]
    # the interface clamps the MSS itself: no ipsec-policy mangle rules for a route-based-only router
    assert fw["mangle"] == []
    # a policy-based router's firewall is unchanged by the feature
    policy_fw = plans([tunnel()])["hq"].sections["filter"]
    assert not [r for r in policy_fw if r.get("protocol") in ("gre", "ipencap")]


def test_hub_and_spoke_pool_allocation_is_deterministic_and_per_host_planning_agrees():
    hq = plans(topologies=GRE_HUB, host="hq")["hq"]
    links = dict((t.name, str(t.link)) for t in hq.tunnels)
    assert links == {"rb-hq-br1": "10.255.0.0/30", "rb-hq-br2": "10.255.0.4/30"}
    br2 = plans(topologies=GRE_HUB, host="br2")["br2"]
    assert str(br2.tunnels[0].link) == "10.255.0.4/30"
    assert br2.sections["ip_addresses"][0]["address"] == "10.255.0.6/30"
    hv = hostvars()
    hv["br2"]["ipsec_tunnel_slot"] = 7
    assert str(plans(topologies=GRE_HUB, host="br2", hv=hv)["br2"].tunnels[0].link) == "10.255.0.28/30"
    hv["br2"]["ipsec_tunnel_slot"] = 0
    with pytest.raises(IntentError, match="both take slot 0"):
        plans(topologies=GRE_HUB, host="hq", hv=hv)


def test_mesh_pool_slots_are_unique():
    mesh = [{"name": "m", "type": "full_mesh", "members": "mesh", "mode": "ipip", "tunnel_pool": "10.254.0.0/29",
             "tunnel_prefix_length": 31, "auth": {"psk": PSK}}]
    links = {}
    for host in ("br1", "br2", "br3"):
        for t in plans(topologies=mesh, host=host)[host].tunnels:
            links.setdefault(t.name, set()).add(str(t.link))
    assert all(len(v) == 1 for v in links.values())
    flat = [next(iter(v)) for v in links.values()]
    assert len(set(flat)) == 3 and all(ipaddress.ip_network(n).subnet_of(ipaddress.ip_network("10.254.0.0/29"))
                                       for n in flat)


@pytest.mark.parametrize("fields, field, message", [
    ({"mode": "vti"}, "mode", "must be one of"),
    ({"mode": "gre"}, "tunnel_address", "needs its link subnet"),
    ({"mode": "gre", "tunnel_address": "10.255.9.0/29"}, "tunnel_address", "/30 or /31"),
    ({"mode": "gre", "tunnel_address": "10.0.9.0/30"}, "tunnel_address", "overlaps a's LAN prefix 10.0.0.0/16"),
    ({"mode": "gre", "tunnel_pool": "10.255.0.0/24"}, "tunnel_slot", "is required"),
    ({"mode": "gre", "tunnel_pool": "10.255.0.0/29", "tunnel_slot": 2}, "tunnel_slot", "outside pool"),
    ({"mode": "gre", "tunnel_pool": "10.255.0.0/24", "tunnel_address": "10.255.9.0/30"}, "tunnel_address",
     "not both"),
    ({"tunnel_address": "10.255.9.0/30"}, "tunnel_address", "needs mode: gre or ipip"),
    ({"mode": "gre", "tunnel_address": "10.255.9.0/30", "check_gateway": "bfd"}, "check_gateway", "ping, arp"),
    ({"mode": "gre", "tunnel_address": "10.255.9.0/30", "route_distance": 0}, "route_distance", "out of range"),
    ({"mode": "gre", "tunnel_address": "10.255.9.0/30", "tunnel_mtu": 1600}, "tunnel_mtu", "out of range"),
    ({"mode": "gre", "tunnel_address": "10.255.9.0/30", "keepalive": "2h"}, "keepalive", "out of range"),
])
def test_bad_route_based_input_names_tunnel_and_field(fields, field, message):
    with pytest.raises(IntentError) as caught:
        intent.normalize_tunnel(tunnel(**fields), hostvars())
    text = str(caught.value)
    assert "tunnel 'hq-br1'" in text and "'%s'" % field in text and message in text, text


def test_link_subnets_of_one_host_must_not_overlap():
    t1 = tunnel(mode="gre", tunnel_address="10.255.9.0/30")
    t2 = tunnel(name="hq-br2", b="br2", auth={"psk": PSK}, mode="gre", tunnel_address="10.255.9.0/31")
    with pytest.raises(IntentError, match="overlaps 10.255.9.0/30 of tunnel 'hq-br1'"):
        plans([t1, t2], host="hq")


def test_route_based_tunnels_may_share_remote_prefixes_policy_ones_may_not():
    # two tunnels from br1 to two hubs would route the same prefixes; distance decides (dual hub)
    hv = hostvars()
    hv["hq2"] = {"ipsec_wan_address": "198.51.100.2", "ipsec_lan_prefixes": ["10.0.0.0/16"]}
    t1 = tunnel(mode="gre", tunnel_address="10.255.9.0/30")
    t2 = tunnel(name="hq2-br1", a="hq2", mode="gre", tunnel_address="10.255.9.4/30", route_distance=2)
    br1 = plans([t1, t2], hv=hv, host="br1")["br1"].sections["routes"]
    assert sorted((r["gateway"], r["distance"]) for r in br1) == [("10.255.9.1", "1"), ("10.255.9.5", "2")]
    with pytest.raises(IntentError, match="duplicate selector"):
        plans([tunnel(), tunnel(name="hq2-br1", a="hq2")], hv=hv, host="br1")


def test_rendered_script_of_a_route_based_router_imports_into_the_lab_as_planned():
    # state rendered: the .rsc creates the interface before its address and routes, and RouterOS
    # (the lab's /import) takes every planned value
    from roslab import menus as roslab_menus
    from roslab import script as roslab_script
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import rsc

    plan = plans(one())["hq"]
    router = roslab_menus.build_router("hq", "7.22.2", interfaces=[{"name": "ether1"}, {"name": "ether2"}],
                                       addresses=[{"address": "198.51.100.1/24", "interface": "ether1"},
                                                  {"address": "10.0.0.1/16", "interface": "ether2"}])
    sections = dict((s, plan.sections[s]) for s in ("profiles", "proposals", "peers", "identities", "policies")
                    + route_based.SECTIONS)
    script = rsc.render(sections, host="hq", reveal_secrets=True)
    assert script.index("/interface gre") < script.index("/ip address") < script.index("/ip route")
    roslab_script.import_rsc(router, script)
    for section in route_based.SECTIONS:
        menu = menus.MENUS_BY_SECTION[section]
        rows = [r for r in router.items(menu.path) if menus.owner_key(menu, r)]
        assert len(rows) == len(plan.sections[section]), section
        for item, row in zip(plan.sections[section], rows):
            for key, value in item.items():
                assert row.get(key.replace("_", "-")) == value, (section, key, row)
