"""Route-based tunnels in-process against lab routers: a hub and two spokes in ``mode: gre`` from a
hub_and_spoke topology with a tunnel pool, converged with ipsec_site. The transport-mode SAs come up
on the lab clock, the GRE interfaces run, the static routes lead into them, and a LAN-to-LAN packet
traced on the hub is routed into the GRE interface, encapsulated and encrypted by the transport
policy. A second converge writes nothing. A spoke with a second tunnel to a backup hub at a higher
distance moves its traffic there when the first hub dies (routing, not scripts)."""
import ipaddress

import pytest

from engine_lab_helpers import HUB_AND_SPOKES, connect

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import route_based

from roslab import control
from roslab.trace import format_trace

PSK = "Rb7vLw2pZr9sTx4bNm8cYd3f"
HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"], "routeros_version": "7.22.2"},
    "spoke1": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24"],
               "routeros_version": "7.22.2"},
    "spoke2": {"ipsec_wan_address": "198.51.100.12", "ipsec_lan_prefixes": ["10.12.0.0/24"],
               "routeros_version": "7.18"},
}
GROUPS = {"hubs": ["hub"], "spokes": ["spoke1", "spoke2"]}
TOPOLOGIES = [{"name": "rb", "type": "hub_and_spoke", "hub": "hub", "spokes": "spokes", "mode": "gre",
               "tunnel_pool": "10.255.0.0/24", "keepalive": "5s", "keepalive_retries": 3,
               "auth": {"psk": PSK}, "hub_endpoint": {"passive": True}}]
PARAMS = {"state": "overridden", "features": list(site_engine.FEATURES), "secret_update": "on_change",
          "firewall_options": {}, "firewall_overrides": {}, "management_sources": ["127.0.0.0/8"],
          "management_ports": [8728], "lockout_check": False, "confirm": False}


FLEET_DEFAULT = object()   # "the module's fleet" (None means none: a test without topologies)


def converge(lab, host, tunnels=(), topologies=FLEET_DEFAULT, hostvars=FLEET_DEFAULT, groups=FLEET_DEFAULT):
    topologies = TOPOLOGIES if topologies is FLEET_DEFAULT else topologies
    hostvars = HOSTVARS if hostvars is FLEET_DEFAULT else hostvars
    groups = GROUPS if groups is FLEET_DEFAULT else groups
    plan = host_plan.plan_from_intent(host, list(tunnels), hostvars, topologies, groups,
                                      **site_engine.firewall_build_options(PARAMS))
    return site_engine.run(dict(PARAMS), lambda: connect(lab, host), plan)


def rows(lab, host, menu):
    return lab.call(lambda: lab.router(host).items(menu))


def advance_until(lab, condition, limit, step=1):
    waited = 0
    while not condition():
        assert waited < limit, "not within %ss" % limit
        lab.advance("%ds" % step)
        waited += step
    return waited


def trace(lab, router, src, dst):
    return lab.call(lambda: lab.fabric.trace(router, src, dst, protocol="tcp", dst_port=443))


@pytest.fixture
def gre_lab(tmp_path):
    lab = control.Lab.from_topology(HUB_AND_SPOKES, base_port=0, state_dir=str(tmp_path), save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()


def test_hub_and_two_spokes_in_gre_mode_route_lan_traffic_into_encrypted_gre(gre_lab):
    lab = gre_lab
    first = dict((host, converge(lab, host)) for host in sorted(HOSTVARS))
    assert all(result["changed"] for result in first.values())
    # the task reports each tunnel's interface, addresses and MTU arithmetic
    reported = first["spoke1"]["route_based"]["rb-hub-spoke1"]
    assert (reported["interface"], reported["address"], reported["gateway"]) == (
        "ipsecfleet-rb-hub-spoke1", "10.255.0.2/30", "10.255.0.1")
    assert reported["mss"] == reported["mtu"] - 40 and "MTU %d" % reported["mtu"] in reported["mtu_explanation"]
    # what the lab now holds is what the builder derived: one GRE interface per tunnel, its link
    # address, the routes to the far LAN via the far link address
    hub_gre = sorted(r["name"] for r in rows(lab, "hub", "/interface/gre"))
    assert hub_gre == ["ipsecfleet-rb-hub-spoke1", "ipsecfleet-rb-hub-spoke2"]
    routes = dict((r["dst-address"], r["gateway"]) for r in rows(lab, "hub", "/ip/route")
                  if (r.get("comment") or "").startswith("ipsecfleet:route/"))
    assert routes == {"10.11.0.0/24": "10.255.0.2", "10.12.0.0/24": "10.255.0.6"}
    spoke1_address = [r["address"] for r in rows(lab, "spoke1", "/ip/address")
                      if r.get("interface") == "ipsecfleet-rb-hub-spoke1"]
    assert spoke1_address == ["10.255.0.2/30"]
    policies = [r for r in rows(lab, "hub", "/ip/ipsec/policy") if (r.get("comment") or "").startswith("ipsecfleet:")]
    assert sorted((p["src-address"], p["dst-address"], p["protocol"], p["tunnel"]) for p in policies) == [
        ("198.51.100.1/32", "198.51.100.11/32", "gre", "false"),
        ("198.51.100.1/32", "198.51.100.12/32", "gre", "false")]

    def up():
        return len(rows(lab, "hub", "/ip/ipsec/installed-sa")) == 4 and \
            all(r.get("running") == "true" for r in rows(lab, "hub", "/interface/gre"))
    waited = advance_until(lab, up, 60)
    established = sorted(r["remote-address"] for r in rows(lab, "hub", "/ip/ipsec/active-peers")
                         if r.get("state") == "established")
    assert established == ["198.51.100.11", "198.51.100.12"], established
    installed = rows(lab, "hub", "/ip/ipsec/installed-sa")
    assert len(installed) == 4, installed          # in and out for each spoke's transport child SA
    assert waited <= 30

    # a LAN-to-LAN packet on the hub: routed into the GRE interface, encapsulated, encrypted
    result = trace(lab, "hub", "10.10.0.5", "10.11.0.5")
    text = format_trace(result)
    assert result["route"] == {"out_interface": "ipsecfleet-rb-hub-spoke1", "via": "static"}, text
    assert result["encapsulated"]["protocol"] == "gre" and result["encapsulated"]["running"], text
    assert (result["encapsulated"]["src"], result["encapsulated"]["dst"]) == ("198.51.100.1", "198.51.100.11")
    assert result["result"] == "encrypted", text
    assert result["ipsec"]["comment"].startswith("ipsecfleet:policy/rb-hub-spoke1/"), text
    assert result["outer"]["path"] == "output" and result["outer"]["ipsec"]["sa"]["dst"] == "198.51.100.11", text
    forward = [c for c in result["chains"] if c["table"] == "filter"][0]
    assert forward["comment"].startswith("ipsecfleet:fw-fwd-iface-out-ipsecfleet-rb-hub-spoke1"), text
    assert "routed into gre-tunnel ipsecfleet-rb-hub-spoke1" in text and "encrypted" in text
    # and the other direction on the spoke, the traffic counted on the transport SA
    back = trace(lab, "spoke2", "10.12.0.9", "10.10.0.9")
    assert back["result"] == "encrypted" and back["encapsulated"]["dst"] == "198.51.100.1", format_trace(back)
    assert lab.call(lambda: lab.fabric.send("spoke1", "10.11.0.5", "10.10.0.5", size=1200))
    spoke1_sa_bytes = sum(int(r.get("current-bytes", "0")) for r in rows(lab, "spoke1", "/ip/ipsec/installed-sa"))
    assert spoke1_sa_bytes >= 1200 + 24

    # the converged state is stable: a second run writes nothing on any router
    for host in sorted(HOSTVARS):
        again = converge(lab, host)
        assert again["changed"] is False and again["writes"] == 0, (host, again.get("commands"))


def test_a_second_hub_at_a_higher_distance_takes_the_traffic_when_the_first_dies(tmp_path):
    topology = {"routers": dict(HUB_AND_SPOKES["routers"]), "links": list(HUB_AND_SPOKES["links"])}
    topology["routers"]["hub2"] = {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                                   "addresses": [{"address": "198.51.100.2/24", "interface": "ether1"},
                                                 {"address": "10.10.0.2/24", "interface": "ether2"}]}
    topology["links"] = topology["links"] + [["hub2:ether1", "spoke1:ether1"], ["hub:ether2", "hub2:ether2"]]
    hostvars = dict(HOSTVARS, hub2={"ipsec_wan_address": "198.51.100.2", "ipsec_lan_prefixes": ["10.10.0.0/24"],
                                    "routeros_version": "7.22.2"})
    hostvars.pop("spoke2")
    # check_gateway none: the failover below is the keepalive's (the lab's check-gateway=ping has no
    # timing of its own, it deactivates a route at once)
    tunnels = [
        {"name": "primary", "a": {"host": "hub", "passive": True}, "b": "spoke1", "auth": {"psk": PSK},
         "mode": "gre", "tunnel_address": "10.255.1.0/31", "keepalive": "5s", "keepalive_retries": 3,
         "check_gateway": "none"},
        {"name": "secondary", "a": {"host": "hub2", "passive": True}, "b": "spoke1", "auth": {"psk": PSK},
         "mode": "gre", "tunnel_address": "10.255.1.2/31", "keepalive": "5s", "keepalive_retries": 3,
         "route_distance": 20, "check_gateway": "none"},
    ]
    lab = control.Lab.from_topology(topology, base_port=0, state_dir=str(tmp_path), save_delay=0.05)
    lab.start()
    try:
        for host in ("hub", "hub2", "spoke1"):
            assert converge(lab, host, tunnels, topologies=None, hostvars=hostvars, groups=None)["changed"]
        advance_until(lab, lambda: len(rows(lab, "spoke1", "/ip/ipsec/installed-sa")) == 4, 60)
        first = trace(lab, "spoke1", "10.11.0.5", "10.10.0.5")
        assert first["encapsulated"]["interface"] == "ipsecfleet-primary", format_trace(first)
        assert first["result"] == "encrypted"

        lab.router_down("hub")
        lab.advance("1s")
        # until keepalive gives up (5s x 3) the primary still runs and its route is preferred: the
        # traffic goes into it and is lost (its SA went with the hub)
        lost = trace(lab, "spoke1", "10.11.0.5", "10.10.0.5")
        assert lost["encapsulated"]["interface"] == "ipsecfleet-primary", format_trace(lost)
        assert lost["result"] == "dropped", format_trace(lost)
        # then the primary stops running, its link network is gone, the distance-1 route is inactive
        # and the distance-20 route through hub2 carries the traffic: measured 15s after the hub died
        waited = 1 + advance_until(lab, lambda: trace(lab, "spoke1", "10.11.0.5", "10.10.0.5")["encapsulated"]
                                   ["interface"] == "ipsecfleet-secondary", 30)
        assert 5 * 3 - 1 <= waited <= 5 * 3 + 1, waited
        moved = trace(lab, "spoke1", "10.11.0.5", "10.10.0.5")
        assert moved["result"] == "encrypted", format_trace(moved)
        running = dict((r["name"], r.get("running")) for r in rows(lab, "spoke1", "/interface/gre"))
        assert running == {"ipsecfleet-primary": "false", "ipsecfleet-secondary": "true"}
        again = converge(lab, "spoke1", tunnels, topologies=None, hostvars=hostvars, groups=None)
        assert again["changed"] is False, again.get("commands")
    finally:
        lab.stop()


def test_the_lab_link_addresses_are_the_planned_ones():
    # the test above reads what the lab holds; this pins the derivation it compares against
    plan = host_plan.plan_from_intent("hub", [], HOSTVARS, TOPOLOGIES, GROUPS)
    links = dict((name, ipaddress.ip_interface(info["address"]).network)
                 for name, info in route_based.notes("hub", plan.tunnels).items())
    assert links == {"rb-hub-spoke1": ipaddress.ip_network("10.255.0.0/30"),
                     "rb-hub-spoke2": ipaddress.ip_network("10.255.0.4/30")}
