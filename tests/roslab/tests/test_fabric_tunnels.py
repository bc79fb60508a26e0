"""GRE/IPIP tunnel interfaces in the fabric (roslab.fabric_tunnels) on hand-built routers: the mirror
interface, the transport-mode policy (require without SA drops, with SA encrypts), the far input
filter on the decapsulated packet, keepalive and ``running``, routes by distance and check-gateway."""

import pytest

from roslab.fabric import Fabric
from roslab.menus import build_router
from roslab.trace import format_trace

A_WAN, B_WAN = "198.51.100.1", "198.51.100.2"


def run(router, command, **attributes):
    return router.execute(command, {k.replace("_", "-"): v for k, v in attributes.items()}, [])


def gre(router, remote, local, link_address, menu="gre", keepalive="10s,10"):
    args = dict(name="t1", remote_address=remote, local_address=local, allow_fast_path="no")
    if keepalive:
        args["keepalive"] = keepalive
    run(router, "/interface/%s/add" % menu, **args)
    run(router, "/ip/address/add", address=link_address, interface="t1")


def transport(router, remote_wan, local_wan, protocol="gre", level="require"):
    run(router, "/ip/ipsec/profile/add", name="ike", enc_algorithm="aes-256", hash_algorithm="sha256",
        dh_group="ecp256")
    run(router, "/ip/ipsec/proposal/add", name="esp", enc_algorithms="aes-256-gcm", auth_algorithms="",
        pfs_group="ecp256")
    run(router, "/ip/ipsec/peer/add", name="other", address=remote_wan + "/32", profile="ike", exchange_mode="ike2")
    run(router, "/ip/ipsec/identity/add", peer="other", secret="s3cret-s3cret-s3cret")
    run(router, "/ip/ipsec/policy/add", peer="other", src_address=local_wan + "/32", dst_address=remote_wan + "/32",
        protocol=protocol, tunnel="no", proposal="esp", level=level)


def running(router):
    return dict((r["name"], r.get("running")) for r in router.items("/interface/gre") + router.items("/interface/ipip"))


@pytest.fixture
def pair():
    interfaces = [{"name": "ether1"}, {"name": "ether2"}]
    a = build_router(name="a", version="7.22.2", interfaces=interfaces,
                     addresses=[{"address": A_WAN + "/24", "interface": "ether1"},
                                {"address": "10.1.0.1/24", "interface": "ether2"}])
    b = build_router(name="b", version="7.22.2", interfaces=interfaces,
                     addresses=[{"address": B_WAN + "/24", "interface": "ether1"},
                                {"address": "10.2.0.1/24", "interface": "ether2"}])
    return a, b, Fabric({"a": a, "b": b}, [["a:ether1", "b:ether1"]])


def test_a_plain_gre_pair_runs_and_routes_lan_traffic_in_clear(pair):
    a, b, fabric = pair
    gre(a, B_WAN, A_WAN, "10.255.0.1/30")
    gre(b, A_WAN, "0.0.0.0", "10.255.0.2/30")        # 0.0.0.0: the source routing picks
    run(a, "/ip/route/add", dst_address="10.2.0.0/24", gateway="10.255.0.2")
    fabric.tick(1)
    assert running(a) == {"t1": "true"} and running(b) == {"t1": "true"}
    result = fabric.trace("a", "10.1.0.5", "10.2.0.5", "tcp", 22)
    assert result["route"]["out_interface"] == "t1"
    assert result["encapsulated"]["protocol"] == "gre"
    assert result["result"] == "clear", format_trace(result)
    assert fabric.reachable("a", "10.255.0.2")       # the link network is connected


def test_no_mirror_interface_no_link(pair):
    a, b, fabric = pair
    gre(a, B_WAN, A_WAN, "10.255.0.1/30")
    gre(b, A_WAN, B_WAN, "10.255.0.2/30", menu="ipip")   # a different tunnel type does not pair
    fabric.tick(1)
    assert running(a) == {"t1": "false"}
    assert not fabric.reachable("a", "10.255.0.2")


def test_require_transport_policy_without_sa_drops_and_with_sa_encrypts(pair):
    a, b, fabric = pair
    gre(a, B_WAN, A_WAN, "10.255.0.1/30")
    gre(b, A_WAN, B_WAN, "10.255.0.2/30")
    transport(a, B_WAN, A_WAN)
    run(a, "/ip/route/add", dst_address="10.2.0.0/24", gateway="10.255.0.2")
    fabric.tick(1)
    # only a has the policy: b cannot answer IKE, no SA, a's require policy drops its GRE packets
    assert running(a) == {"t1": "false"}
    transport(b, A_WAN, B_WAN)
    fabric.tick(5)
    assert [p["state"] for p in a.items("/ip/ipsec/active-peers")] == ["established"]
    assert running(a) == {"t1": "true"} and running(b) == {"t1": "true"}
    result = fabric.trace("a", "10.1.0.5", "10.2.0.5", "tcp", 22)
    assert result["result"] == "encrypted", format_trace(result)
    assert result["outer"]["ipsec"]["sa"]["dst"] == B_WAN
    assert fabric.send("a", "10.1.0.5", "10.2.0.5", size=1000)
    assert sum(int(r.get("current-bytes", "0")) for r in b.items("/ip/ipsec/installed-sa")) == 1024


def test_the_far_input_filter_sees_the_decapsulated_packet_inside_ipsec(pair):
    a, b, fabric = pair
    gre(a, B_WAN, A_WAN, "10.255.0.1/30")
    gre(b, A_WAN, B_WAN, "10.255.0.2/30")
    transport(a, B_WAN, A_WAN)
    transport(b, A_WAN, B_WAN)
    # b accepts GRE only from a and only out of an SA; everything else GRE is dropped
    run(b, "/ip/firewall/filter/add", chain="input", action="accept", protocol="gre", src_address=A_WAN,
        ipsec_policy="in,ipsec")
    drop = run(b, "/ip/firewall/filter/add", chain="input", action="drop", protocol="gre").done["ret"]
    fabric.tick(5)
    assert running(a) == {"t1": "true"}
    # without the accept, the drop wins: the keepalives never get through, the interface stops
    first = next(r for r in b.items("/ip/firewall/filter") if r.get("protocol") == "gre" and r["action"] == "accept")
    run(b, "/ip/firewall/filter/remove", numbers=first[".id"])
    fabric.tick(99)
    assert running(a) == {"t1": "true"}               # keepalive 10s,10: 100s until it gives up
    fabric.tick(1)
    assert running(a) == {"t1": "false"} and running(b) == {"t1": "false"}
    assert drop


def test_keepalive_decides_running(pair):
    a, b, fabric = pair
    gre(a, B_WAN, A_WAN, "10.255.0.1/30", keepalive="5s,3")   # no mirror on b yet: nothing answers
    fabric.tick(1)
    assert running(a) == {"t1": "false"}
    gre(b, A_WAN, B_WAN, "10.255.0.2/30", keepalive="5s,3")
    fabric.tick(1)
    assert running(a) == {"t1": "true"} and running(b) == {"t1": "true"}
    # b's interface goes away: a keeps running for interval x retries (15s) after the last answer,
    # then stops, on the lab clock (no configuration change needed to notice)
    run(b, "/interface/gre/disable", numbers="t1")
    fabric.tick(14)
    assert running(a) == {"t1": "true"}
    assert not fabric.reachable("a", "10.255.0.2")     # running, but nothing gets through
    fabric.tick(1)
    assert running(a) == {"t1": "false"}


def test_routes_by_distance_and_check_gateway(pair):
    a, b, fabric = pair
    gre(a, B_WAN, A_WAN, "10.255.0.1/30")
    gre(b, A_WAN, B_WAN, "10.255.0.2/30")
    # the preferred route (distance 1) points at a gateway nobody has; with check-gateway=ping it
    # is inactive and the distance-5 route through the tunnel is used
    run(a, "/ip/route/add", dst_address="10.2.0.0/24", gateway="198.51.100.99", distance="1", check_gateway="ping")
    run(a, "/ip/route/add", dst_address="10.2.0.0/24", gateway="10.255.0.2", distance="5")
    fabric.tick(1)
    assert fabric.trace("a", "10.1.0.5", "10.2.0.5", "tcp", 22)["route"]["out_interface"] == "t1"
    # (the lab routes to addresses a router holds: b's LAN address)
    assert fabric.route("a", "10.2.0.1").out_interface == "t1"
    # a lower distance wins among active routes
    run(a, "/ip/route/add", dst_address="10.2.0.0/24", gateway=B_WAN, distance="3")
    assert fabric.route("a", "10.2.0.1").out_interface == "ether1"
