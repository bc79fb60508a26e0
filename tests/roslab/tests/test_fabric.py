"""The fabric on real lab routers (roslab.menus.build_router) configured by hand through the Router
API: a WAN link hub<->spoke, hub's LAN shared with a second hub for VRRP."""

import pytest

from labfixtures import configure_tunnel, lab_api
from roslab.clock import LabClock
from roslab.menus import build_router
from roslab.fabric import LAB_EPOCH, PHASE1_TIMEOUT, Fabric
from roslab.errors import RosTrap
from roslab.firewall_eval import Packet

HUB_WAN, SPOKE_WAN = "198.51.100.1", "198.51.100.2"
TWO_ROUTERS = {
    "routers": {
        "hub": {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                "addresses": [{"address": HUB_WAN + "/24", "interface": "ether1"},
                              {"address": "10.10.0.1/24", "interface": "ether2"}]},
        "spoke1": {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                   "addresses": [{"address": SPOKE_WAN + "/24", "interface": "ether1"},
                                 {"address": "10.20.0.1/24", "interface": "ether2"}]},
    },
    "links": [["hub:ether1", "spoke1:ether1"]],
}


@pytest.fixture
def build():
    return build_router


def make(build, name, addresses):
    interfaces = [{"name": "ether1"}, {"name": "ether2"}]
    router = build(name=name, version="7.22.2", interfaces=interfaces,
                   addresses=[{"address": a, "interface": i} for a, i in addresses])
    # the IPsec log as one enables it to troubleshoot (the default rules keep only info/error/warning)
    router.execute("/system/logging/add", {"topics": "ipsec"}, [])
    return router


def run(router, command, **attributes):
    return router.execute(command, {k.replace("_", "-"): v for k, v in attributes.items()}, [])


def tunnel(router, remote_wan, local_lan, remote_lan, secret="s3cret", enc="aes-256", pfs="ecp256",
           mode="ike2", passive="no"):
    run(router, "/ip/ipsec/profile/add", name="ike", enc_algorithm=enc, hash_algorithm="sha256",
        dh_group="ecp256")
    run(router, "/ip/ipsec/proposal/add", name="esp", enc_algorithms="aes-256-cbc", auth_algorithms="sha256",
        pfs_group=pfs)
    run(router, "/ip/ipsec/peer/add", name="other", address=remote_wan + "/32", profile="ike",
        exchange_mode=mode, passive=passive)
    run(router, "/ip/ipsec/identity/add", peer="other", secret=secret)
    return run(router, "/ip/ipsec/policy/add", peer="other", src_address=local_lan, dst_address=remote_lan,
               tunnel="yes", proposal="esp").done["ret"]


@pytest.fixture
def lab(build):
    hub = make(build, "hub", [(HUB_WAN + "/24", "ether1"), ("10.10.0.1/24", "ether2")])
    spoke = make(build, "spoke", [(SPOKE_WAN + "/24", "ether1"), ("10.20.0.1/24", "ether2")])
    hub2 = make(build, "hub2", [("10.10.0.2/24", "ether2")])
    fabric = Fabric({"hub": hub, "spoke": spoke, "hub2": hub2},
                    [["hub:ether1", "spoke:ether1"], ["hub:ether2", "hub2:ether2"]])
    return fabric


def r(fabric, name):
    return fabric.routers[name]


def messages(router, topic_prefix="ipsec"):
    return [row["message"] for row in router.items("/log") if row["topics"].startswith(topic_prefix)]


def established_pair(fabric, **spoke_options):
    hub_policy = tunnel(r(fabric, "hub"), SPOKE_WAN, "10.10.0.0/24", "10.20.0.0/24", passive="yes")
    spoke_policy = tunnel(r(fabric, "spoke"), HUB_WAN, "10.20.0.0/24", "10.10.0.0/24", **spoke_options)
    return hub_policy, spoke_policy


# --- network -------------------------------------------------------------------------------------
def test_reachability_follows_links_and_router_state(lab):
    assert lab.reachable("spoke", HUB_WAN)
    assert not lab.reachable("spoke", "10.10.0.2")          # no route to hub's LAN
    lab.link_down("hub:ether1", "spoke:ether1")
    assert not lab.reachable("spoke", HUB_WAN)
    lab.link_up("hub:ether1", "spoke:ether1")
    assert lab.reachable("spoke", HUB_WAN)
    lab.router_down("hub")
    assert not lab.reachable("spoke", HUB_WAN)
    lab.router_up("hub")
    assert lab.reachable("spoke", HUB_WAN)


def test_static_route_through_a_lab_router_and_its_forward_chain(lab):
    run(r(lab, "spoke"), "/ip/route/add", dst_address="10.10.0.0/24", gateway=HUB_WAN)
    run(r(lab, "hub2"), "/ip/route/add", dst_address="0.0.0.0/0", gateway="10.10.0.1")
    assert lab.reachable("spoke", "10.10.0.2")
    rule = run(r(lab, "hub"), "/ip/firewall/filter/add", chain="forward", action="drop",
               src_address="198.51.100.0/24").done["ret"]
    delivery = lab.deliver("spoke", "10.10.0.2", "icmp")
    assert not delivery and delivery.rule == ("hub", "forward", rule)


def test_evaluate_reports_the_deciding_rule_and_counts_it(lab):
    hub = r(lab, "hub")
    accept = run(hub, "/ip/firewall/filter/add", chain="input", action="accept", protocol="udp",
                 dst_port="500,4500").done["ret"]
    run(hub, "/ip/firewall/filter/add", chain="input", action="drop")
    packet = Packet("udp", SPOKE_WAN, HUB_WAN, 500, 500, in_interface="ether1")
    assert lab.evaluate("hub", packet) == ("accept", accept)
    assert lab.evaluate("hub", Packet("ipsec-esp", SPOKE_WAN, HUB_WAN))[0] == "drop"
    counted = next(row for row in hub.items("/ip/firewall/filter") if row[".id"] == accept)
    assert counted["packets"] == "0"                      # evaluate asks; it sends nothing
    assert lab.deliver("spoke", HUB_WAN, "udp", 500, 500)
    counted = next(row for row in hub.items("/ip/firewall/filter") if row[".id"] == accept)
    assert counted["packets"] == "1" and counted["bytes"] == "100"


def test_api_allowed_follows_input_chain_and_ip_service(lab):
    hub = r(lab, "hub")
    assert lab.api_allowed("hub", "192.0.2.10")
    run(hub, "/ip/firewall/filter/add", chain="input", action="drop", protocol="tcp", dst_port="8728",
        src_address="192.0.2.0/24")
    assert not lab.api_allowed("hub", "192.0.2.10")
    assert lab.api_allowed("hub", "203.0.113.10")
    assert lab.api_allowed("hub", "192.0.2.10", port=8729)
    api = next(row for row in hub.items("/ip/service") if row["name"] == "api-ssl")
    run(hub, "/ip/service/set", **{".id": api[".id"], "address": "10.0.0.0/8"})
    assert not lab.api_allowed("hub", "203.0.113.10", port=8729)
    lab.router_down("hub")
    assert not lab.api_allowed("hub", "203.0.113.10")


# --- IKE ------------------------------------------------------------------------------------------
def test_matching_ikev2_tunnel_establishes_with_sas_both_ways(lab):
    hub_policy, spoke_policy = established_pair(lab)
    lab.tick(2)
    hub, spoke = r(lab, "hub"), r(lab, "spoke")
    for router, side in ((hub, "responder"), (spoke, "initiator")):
        peers = router.items("/ip/ipsec/active-peers")
        assert len(peers) == 1 and peers[0]["state"] == "established" and peers[0]["side"] == side
        sas = router.items("/ip/ipsec/installed-sa")
        assert len(sas) == 2 and all(sa["state"] == "mature" for sa in sas)
        assert {sa["enc-algorithm"] for sa in sas} == {"aes-cbc"}
        assert {sa["auth-algorithm"] for sa in sas} == {"sha256"}
    hub_sas = {(sa["src-address"], sa["dst-address"]): sa["spi"] for sa in hub.items("/ip/ipsec/installed-sa")}
    spoke_sas = {(sa["src-address"], sa["dst-address"]): sa["spi"] for sa in spoke.items("/ip/ipsec/installed-sa")}
    assert hub_sas == spoke_sas                    # the same two SAs seen from both ends
    assert len(set(hub_sas.values())) == 2
    for router, policy_id in ((hub, hub_policy), (spoke, spoke_policy)):
        policy = next(p for p in router.items("/ip/ipsec/policy") if p[".id"] == policy_id)
        assert (policy["ph2-state"], policy["active"]) == ("established", "true")
    assert any(m.startswith("new ike2 SA (I): other %s[500]-%s[500]" % (SPOKE_WAN, HUB_WAN)) for m in messages(spoke))
    assert any(m.startswith("new ike2 SA (R)") for m in messages(hub))
    lab.tick(60)
    assert spoke.items("/ip/ipsec/active-peers")[0]["uptime"] == "1m2s"
    assert lab.send("spoke", "10.20.0.5", "10.10.0.5", size=1500, count=2)
    assert hub.items("/ip/ipsec/active-peers")[0]["rx-bytes"] == "3000"
    assert spoke.items("/ip/ipsec/active-peers")[0]["tx-bytes"] == "3000"
    inbound = next(sa for sa in hub.items("/ip/ipsec/installed-sa") if sa["dst-address"] == HUB_WAN)
    assert inbound["current-bytes"] == "3000"


def test_proposal_mismatch_logs_no_suitable_proposal(lab):
    established_pair(lab, enc="3des")
    lab.tick(2)
    assert r(lab, "spoke").items("/ip/ipsec/active-peers") == []
    assert "no suitable proposal found." in messages(r(lab, "hub"))
    assert "reply notify: NO_PROPOSAL_CHOSEN" in messages(r(lab, "hub"))


def test_ikev1_proposal_mismatch_logs_manual_lines(build):
    hub = make(build, "hub", [(HUB_WAN + "/24", "ether1")])
    spoke = make(build, "spoke", [(SPOKE_WAN + "/24", "ether1")])
    fabric = Fabric({"hub": hub, "spoke": spoke}, [["hub:ether1", "spoke:ether1"]])
    tunnel(hub, SPOKE_WAN, "10.10.0.0/24", "10.20.0.0/24", mode="main", passive="yes")
    tunnel(spoke, HUB_WAN, "10.20.0.0/24", "10.10.0.0/24", mode="main", enc="3des")
    fabric.tick(2)
    assert messages(hub, "ipsec,error") == [
        "no suitable proposal found.", SPOKE_WAN + " failed to get valid proposal.",
        SPOKE_WAN + " failed to pre-process ph1 packet (side: 1, status 1).", SPOKE_WAN + " phase1 negotiation failed."]


def test_psk_mismatch_logs_authentication_failed(lab):
    established_pair(lab, secret="wrong")
    lab.tick(2)
    hub_log = messages(r(lab, "hub"))
    assert "identity not found for responder: ADDR4:%s peer: ADDR4:%s" % (HUB_WAN, SPOKE_WAN) in hub_log
    assert "reply notify: AUTHENTICATION_FAILED" in hub_log
    assert r(lab, "hub").items("/ip/ipsec/active-peers") == []


def test_selector_mismatch_is_ts_unacceptable_and_no_phase2(lab):
    hub_policy = tunnel(r(lab, "hub"), SPOKE_WAN, "10.10.0.0/24", "10.20.0.0/24", passive="yes")
    spoke_policy = tunnel(r(lab, "spoke"), HUB_WAN, "10.20.0.0/24", "10.99.0.0/24")
    lab.tick(2)
    spoke = r(lab, "spoke")
    assert spoke.items("/ip/ipsec/active-peers")[0]["state"] == "established"   # phase 1 is fine
    assert spoke.items("/ip/ipsec/installed-sa") == []
    policy = next(p for p in spoke.items("/ip/ipsec/policy") if p[".id"] == spoke_policy)
    assert (policy["ph2-state"], policy["active"]) == ("no-phase2", "false")
    assert "reply notify: TS_UNACCEPTABLE" in messages(r(lab, "hub"))
    # fixing the selector brings phase 2 up without touching phase 1
    run(spoke, "/ip/ipsec/policy/set", **{".id": spoke_policy, "dst-address": "10.10.0.0/24"})
    lab.tick(1)
    assert len(spoke.items("/ip/ipsec/installed-sa")) == 2
    assert messages(r(lab, "hub")).count("reply notify: TS_UNACCEPTABLE") == 1
    assert hub_policy


def test_firewall_dropping_ike_times_out_phase1(lab):
    established_pair(lab)
    rule = run(r(lab, "hub"), "/ip/firewall/filter/add", chain="input", action="drop", protocol="udp",
               dst_port="500", src_address=SPOKE_WAN).done["ret"]
    lab.tick(PHASE1_TIMEOUT - 1)
    assert not [m for m in messages(r(lab, "spoke")) if "time up" in m]
    waiting = r(lab, "spoke").items("/ip/ipsec/active-peers")
    assert [(p["state"], p["side"], p["spir"]) for p in waiting] == [("message-1-sent", "initiator", "0" * 16)]
    lab.tick(1)
    time_up = [m for m in messages(r(lab, "spoke")) if "time up" in m]
    assert len(time_up) == 1
    assert time_up[0].startswith("phase1 negotiation failed due to time up %s[500]<=>%s[500] " % (SPOKE_WAN, HUB_WAN))
    verdict = lab.evaluate("hub", Packet("udp", SPOKE_WAN, HUB_WAN, 500, 500, in_interface="ether1"))
    assert verdict == ("drop", rule)
    # removing the rule lets the next retransmission through
    run(r(lab, "hub"), "/ip/firewall/filter/remove", **{".id": rule})
    lab.tick(6)
    assert r(lab, "spoke").items("/ip/ipsec/active-peers")[0]["state"] == "established"


def test_initiator_without_identity(lab):
    established_pair(lab)
    spoke = r(lab, "spoke")
    identity = spoke.items("/ip/ipsec/identity")[0][".id"]
    run(spoke, "/ip/ipsec/identity/remove", **{".id": identity})
    lab.tick(1)
    assert "initiator can't find identity for peer: other" in messages(spoke)
    assert spoke.items("/ip/ipsec/active-peers") == []


def test_lifetimes_rekey_and_dpd_detects_a_dead_peer(lab):
    established_pair(lab)
    lab.tick(1)
    spoke = r(lab, "spoke")
    before = {sa["spi"] for sa in spoke.items("/ip/ipsec/installed-sa")}
    lab.tick(30 * 60)                                     # proposal lifetime 30m
    after = {sa["spi"] for sa in spoke.items("/ip/ipsec/installed-sa")}
    assert len(after) == 2 and not before & after
    assert spoke.items("/ip/ipsec/active-peers")[0]["uptime"] == "30m1s"
    lab.router_down("hub")
    lab.tick(8 * 4)                                       # new profiles: dpd-interval 8s
    assert spoke.items("/ip/ipsec/active-peers") != []    # IKEv2: 5 unanswered DPD rounds
    lab.tick(8 * 2)
    # the dead SA is gone; the spoke is trying again and waits for an answer
    assert [(p["state"], p["local-address"], p["remote-address"]) for p in spoke.items("/ip/ipsec/active-peers")] \
        == [("message-1-sent", SPOKE_WAN, HUB_WAN)]
    assert any(m.startswith("peer %s is not responding" % HUB_WAN) for m in messages(spoke))
    assert spoke.items("/ip/ipsec/installed-sa") == []
    lab.router_up("hub")
    lab.tick(6)
    assert spoke.items("/ip/ipsec/active-peers")[0]["state"] == "established"


def test_ikev2_pfs_mismatch_breaks_the_tunnel_at_the_first_rekey(lab):
    established_pair(lab, pfs="modp2048")
    lab.tick(1)
    spoke, hub = r(lab, "spoke"), r(lab, "hub")
    assert len(spoke.items("/ip/ipsec/installed-sa")) == 2        # IKE_AUTH child: no PFS exchange
    lab.tick(30 * 60)
    assert spoke.items("/ip/ipsec/installed-sa") == []
    assert spoke.items("/ip/ipsec/active-peers")[0]["state"] == "established"
    assert messages(hub).count("reply notify: NO_PROPOSAL_CHOSEN") == 1
    lab.tick(3600)
    assert messages(hub).count("reply notify: NO_PROPOSAL_CHOSEN") == 1   # not re-logged while nothing changes


def test_config_change_renegotiates(lab):
    established_pair(lab)
    lab.tick(1)
    spoke = r(lab, "spoke")
    identity = spoke.items("/ip/ipsec/identity")[0][".id"]
    run(spoke, "/ip/ipsec/identity/set", **{".id": identity, "secret": "changed"})
    lab.tick(1)
    assert spoke.items("/ip/ipsec/active-peers") == []
    assert "reply notify: AUTHENTICATION_FAILED" in messages(r(lab, "hub"))


def test_nat_traversal_moves_to_udp_4500(lab):
    established_pair(lab)
    lab.set_nat("spoke")
    run(r(lab, "hub"), "/ip/firewall/filter/add", chain="input", action="drop", protocol="udp", dst_port="4500")
    lab.tick(PHASE1_TIMEOUT - 5)
    assert [p["state"] for p in r(lab, "spoke").items("/ip/ipsec/active-peers")] == ["message-3-sent"]
    lab.tick(6)
    assert any("time up %s[4500]<=>%s[4500]" % (SPOKE_WAN, HUB_WAN) in m for m in messages(r(lab, "spoke")))
    rule = next(row for row in r(lab, "hub").items("/ip/firewall/filter") if row.get("dst-port") == "4500")
    run(r(lab, "hub"), "/ip/firewall/filter/remove", **{".id": rule[".id"]})
    lab.tick(6)
    peer = r(lab, "spoke").items("/ip/ipsec/active-peers")[0]
    assert (peer["natt-peer"], peer["port"]) == ("true", "4500")


def test_gre_ipsec_secret_brings_up_its_dynamic_transport_sa(lab):
    hub, spoke = r(lab, "hub"), r(lab, "spoke")
    run(hub, "/interface/gre/add", name="gre1", remote_address=SPOKE_WAN, local_address=HUB_WAN,
        ipsec_secret="gre-key", allow_fast_path="no")
    run(spoke, "/interface/gre/add", name="gre1", remote_address=HUB_WAN, local_address=SPOKE_WAN,
        ipsec_secret="gre-key", allow_fast_path="no")
    lab.tick(1)
    for router in (hub, spoke):
        assert router.items("/ip/ipsec/active-peers")[0]["state"] == "established"
        assert len(router.items("/ip/ipsec/installed-sa")) == 2
        dynamic = next(p for p in router.items("/ip/ipsec/policy") if p.get("dynamic") == "true")
        assert (dynamic["protocol"], dynamic["ph2-state"]) == ("gre", "established")
    # the dynamic peer is IKEv1 main mode with the default profile (reference §4)
    assert any(m.startswith("ISAKMP-SA established") for m in messages(hub))


def test_traffic_needs_an_sa_and_esp_through_the_far_firewall(lab):
    established_pair(lab)
    spoke, hub = r(lab, "spoke"), r(lab, "hub")
    assert not lab.send("spoke", "10.20.0.5", "10.10.0.5")       # no SA yet: dropped, counted
    assert spoke.items("/ip/ipsec/statistics")[0]["out-no-states"] == "1"
    lab.tick(1)
    esp = run(hub, "/ip/firewall/filter/add", chain="input", action="drop", protocol="ipsec-esp").done["ret"]
    assert not lab.send("spoke", "10.20.0.5", "10.10.0.5")
    run(hub, "/ip/firewall/filter/remove", **{".id": esp})
    assert lab.send("spoke", "10.20.0.5", "10.10.0.5")
    assert not lab.send("spoke", "10.20.0.5", "192.0.2.1")        # no policy for it: not IPsec


# certificate authentication with real X.509: tests/test_certificates.py


# --- netwatch, VRRP, scheduler ----------------------------------------------------------------------
def test_netwatch_down_script_runs_when_the_router_goes_down(lab):
    spoke = r(lab, "spoke")
    run(spoke, "/tool/netwatch/add", host=HUB_WAN, interval="10s",
        down_script=':log warning "hub is down"', up_script=':global hubup yes')
    lab.tick(1)
    row = spoke.items("/tool/netwatch")[0]
    assert row["status"] == "up" and lab.globals["spoke"]["hubup"] is True
    lab.router_down("hub")
    lab.tick(8)
    assert "hub is down" not in messages(spoke, "script")
    lab.tick(1)
    assert "hub is down" in messages(spoke, "script")
    assert spoke.items("/tool/netwatch")[0]["status"] == "down"
    assert "event down [ type: simple, host: %s ]" % HUB_WAN in messages(spoke, "netwatch")


def test_a_netwatch_script_removing_an_active_peer_kills_its_sa(lab):
    """A script run by the fabric itself (netwatch) removes an active peer: the SA goes, as when the
    API removes it (the removal used to be lost: the runtime rows were rewritten before it was seen)."""
    established_pair(lab)
    lab.tick(2)
    spoke = r(lab, "spoke")
    before = [row["spii"] for row in spoke.items("/ip/ipsec/active-peers") if row["state"] == "established"]
    assert len(before) == 1
    run(spoke, "/tool/netwatch/add", host=HUB_WAN, interval="10s",
        up_script="/ip ipsec active-peers remove [find where remote-address=%s]" % HUB_WAN)
    lab.tick(1)
    assert spoke.items("/tool/netwatch")[0]["status"] == "up"
    assert any(m.startswith("killing ike2 SA") for m in messages(spoke)), messages(spoke)
    lab.tick(2)
    after = [row["spii"] for row in spoke.items("/ip/ipsec/active-peers") if row["state"] == "established"]
    assert len(after) == 1 and after != before     # the spoke negotiated a new IKE SA


def test_vrrp_backup_runs_on_master_when_the_master_goes_down(lab):
    hub, hub2 = r(lab, "hub"), r(lab, "hub2")
    run(hub, "/interface/vrrp/add", name="vrrp1", interface="ether2", priority="200",
        on_master=':log info "hub master"')
    run(hub2, "/interface/vrrp/add", name="vrrp1", interface="ether2", priority="100",
        on_master=':log info "hub2 master"', on_backup=':log info "hub2 backup"')
    run(hub, "/ip/address/add", address="10.10.0.254/24", interface="vrrp1")
    run(hub2, "/ip/address/add", address="10.10.0.254/24", interface="vrrp1")
    lab.tick(5)
    assert hub.items("/interface/vrrp")[0]["master"] == "true"
    assert hub2.items("/interface/vrrp")[0]["backup"] == "true"
    assert "hub master" in messages(hub, "script") and "hub2 master" not in messages(hub2, "script")
    assert lab.route("hub2", "10.10.0.254").dst_router == "hub2" or lab.reachable("hub2", "10.10.0.254")
    lab.router_down("hub")
    lab.tick(1)
    assert "hub2 master" not in messages(hub2, "script")      # master-down interval not over yet
    lab.tick(3)
    assert "hub2 master" in messages(hub2, "script")
    assert hub2.items("/interface/vrrp")[0]["master"] == "true"
    lab.router_up("hub")                                      # preemption: the higher priority returns
    lab.tick(5)
    assert hub.items("/interface/vrrp")[0]["master"] == "true"
    assert messages(hub2, "script")[-1] == "hub2 backup"


def test_scheduler_runs_when_the_clock_passes_its_start_time(lab):
    spoke = r(lab, "spoke")
    start = LAB_EPOCH.replace(hour=0, minute=10)
    run(spoke, "/system/script/add", name="report", source=':log info "report ran"')
    run(spoke, "/system/scheduler/add", name="job", start_date=start.strftime("%Y-%m-%d"),
        start_time="00:10:00", interval="1h", on_event="report")
    run(spoke, "/system/scheduler/add", name="boot", start_time="startup",
        on_event=':log info "booted"; :delay 10s; :log info "after delay"')
    lab.tick(5)
    assert messages(spoke, "script") == ["booted"]
    lab.tick(10 * 60 - 6)
    assert messages(spoke, "script") == ["booted", "after delay"]
    lab.tick(1)
    assert messages(spoke, "script")[-1] == "report ran"
    lab.tick(2 * 3600)
    assert messages(spoke, "script").count("report ran") == 3
    job = next(row for row in spoke.items("/system/scheduler") if row["name"] == "job")
    assert job["run-count"] == "3" and job["next-run"] == "2026-01-01 03:10:00"


@pytest.mark.parametrize("added_at", [0, 7.5])
def test_an_interval_scheduler_first_runs_one_interval_after_it_was_added(lab, added_at):
    # RouterOS fills start-date/start-time with the moment of `add`: the first run is one interval
    # later, not at boot (+3 s) like start-time=startup
    spoke = r(lab, "spoke")
    lab.tick(added_at)
    run(spoke, "/system/scheduler/add", name="every2m", interval="2m", on_event=':log info "tick"')
    job = next(row for row in spoke.items("/system/scheduler") if row["name"] == "every2m")
    added = LAB_EPOCH + __import__("datetime").timedelta(seconds=int(added_at))
    assert (job["start-date"], job["start-time"]) == (added.strftime("%Y-%m-%d"), added.strftime("%H:%M:%S"))
    lab.tick(119)
    assert messages(spoke, "script") == []
    lab.tick(1)
    assert messages(spoke, "script") == ["tick"]
    lab.tick(120)
    assert messages(spoke, "script") == ["tick", "tick"]


def test_failing_scheduler_script_is_logged_with_its_line(lab):
    spoke = r(lab, "spoke")
    run(spoke, "/system/scheduler/add", name="bad", start_time="startup", on_event=':log info "a"\n:frob')
    lab.tick(4)
    (router, origin, error), = lab.script_errors
    assert (router, origin, error.line) == ("spoke", "scheduler:bad", 2)
    assert any("bad command name :frob" in m for m in messages(spoke, "script"))


def test_clock_runs_events_in_time_order():
    clock = LabClock()
    seen = []
    clock.call_at(10, lambda: seen.append(("a", clock.now)))
    clock.call_at(5, lambda: clock.call_later(1, lambda: seen.append(("b", clock.now))))
    clock.advance(20)
    assert seen == [("b", 6.0), ("a", 10.0)] and clock.now == 20.0


def test_for_lab_returns_the_fabric_the_lab_already_runs(make_lab):
    lab = make_lab(TWO_ROUTERS, speed=0)
    assert lab.fabric is not None and Fabric.for_lab(lab) is lab.fabric
    # a lab without a fabric gets one over its routers and links, on request
    bare = make_lab(TWO_ROUTERS, fabric=False)
    built = Fabric.for_lab(bare, realtime=False)
    assert bare.fabric is None and sorted(built.routers) == ["hub", "spoke1"]
    assert built.links == [(("hub", "ether1"), ("spoke1", "ether1"))]


class SteppedLoop:
    """The part of an asyncio loop ``run_on_loop`` uses, run by hand: no real time passes."""

    class Handle:
        def __init__(self, callback):
            self.callback, self.cancelled = callback, False

        def cancel(self):
            self.cancelled = True

    def __init__(self):
        self.pending = []

    def call_later(self, delay, callback):
        handle = self.Handle(callback)
        self.pending.append((delay, handle))
        return handle

    def step(self):
        """Run the callbacks that are due now (each schedules the next one)."""
        due, self.pending = self.pending, []
        for _delay, handle in due:
            if not handle.cancelled:
                handle.callback()


def test_run_on_loop_advances_period_times_speed_per_step(lab):
    loop = SteppedLoop()
    lab.run_on_loop(loop, period=0.01, speed=100)      # 1 lab second per 10 ms step
    assert [delay for delay, _ in loop.pending] == [0.01]
    for _ in range(5):
        loop.step()
    assert lab.clock.now == pytest.approx(5.0)
    lab.stop_loop()
    loop.step()                                         # the cancelled step does not run
    assert lab.clock.now == pytest.approx(5.0) and loop.pending == []


def test_a_running_lab_shows_the_tunnel_to_api_clients(make_lab):
    """End to end: configure both routers with librouteros over the API, let the fabric run on the
    lab loop, read active-peers and installed-sa back over the API."""
    lab = make_lab(TWO_ROUTERS, speed=0)
    configure_tunnel(lab)
    lab.advance(2)
    api = lab_api(lab, "spoke1")
    try:
        peers = list(api.path("ip", "ipsec", "active-peers"))
        sas = list(api.path("ip", "ipsec", "installed-sa"))
        policies = [p for p in api.path("ip", "ipsec", "policy") if p.get("peer") == "other"]
        log = [row["message"] for row in api.path("log")]
    finally:
        api.close()
    assert [p["state"] for p in peers] == ["established"]
    assert sorted(sa["state"] for sa in sas) == ["mature", "mature"]
    assert policies[0]["ph2-state"] == "established" and policies[0]["active"] is True
    assert any(m.startswith("new ike2 SA (I)") for m in log)


def test_vrrp_version_mismatch_splits_the_group(lab):
    hub, hub2 = r(lab, "hub"), r(lab, "hub2")
    run(hub, "/interface/vrrp/add", name="vrrp1", interface="ether2", priority="200")
    run(hub2, "/interface/vrrp/add", name="vrrp1", interface="ether2", priority="100", version="2")
    lab.tick(5)
    # each discards the other's advertisements: both become master
    assert hub.items("/interface/vrrp")[0]["master"] == "true"
    assert hub2.items("/interface/vrrp")[0]["master"] == "true"


def test_passive_hub_with_templates_serves_several_spokes(build):
    hub = make(build, "hub", [(HUB_WAN + "/24", "ether1"), ("10.10.0.1/24", "ether2")])
    spokes = {name: make(build, name, [(wan + "/24", "ether1"), (lan.replace("0/24", "1/24"), "ether2")])
              for name, wan, lan in (("s1", "198.51.100.11", "10.11.0.0/24"), ("s2", "198.51.100.12", "10.12.0.0/24"))}
    fabric = Fabric(dict(hub=hub, **spokes), [["hub:ether1", "s1:ether1"], ["hub:ether1", "s2:ether1"]])
    run(hub, "/ip/ipsec/policy/group/add", name="spokes")
    run(hub, "/ip/ipsec/proposal/add", name="esp", enc_algorithms="aes-256-cbc", auth_algorithms="sha256",
        pfs_group="ecp256")
    run(hub, "/ip/ipsec/policy/add", group="spokes", template="yes", src_address="10.10.0.0/24",
        dst_address="10.0.0.0/8", proposal="esp")
    run(hub, "/ip/ipsec/profile/add", name="ike", enc_algorithm="aes-256", hash_algorithm="sha256", dh_group="ecp256")
    run(hub, "/ip/ipsec/peer/add", name="any", address="0.0.0.0/0", passive="yes", profile="ike",
        exchange_mode="ike2")
    run(hub, "/ip/ipsec/identity/add", peer="any", secret="s3cret", generate_policy="port-strict",
        policy_template_group="spokes")
    lans = {"s1": "10.11.0.0/24", "s2": "10.12.0.0/24"}
    for name, router in spokes.items():
        tunnel(router, HUB_WAN, lans[name], "10.10.0.0/24")
    fabric.tick(1)
    peers = hub.items("/ip/ipsec/active-peers")
    assert sorted(p["remote-address"] for p in peers) == ["198.51.100.11", "198.51.100.12"]
    assert len(hub.items("/ip/ipsec/installed-sa")) == 4
    assert fabric.send("s2", "10.12.0.9", "10.10.0.9") and fabric.send("hub", "10.10.0.9", "10.11.0.9")
    # a spoke whose LAN the template does not cover is refused
    run(spokes["s2"], "/ip/ipsec/policy/set", **{".id": spokes["s2"].items("/ip/ipsec/policy")[-1][".id"],
                                                 "src-address": "192.168.7.0/24"})
    fabric.tick(1)
    assert spokes["s2"].items("/ip/ipsec/installed-sa") == []
    assert "reply notify: TS_UNACCEPTABLE" in messages(hub)


def test_rules_the_lab_cannot_evaluate_are_skipped_and_reported(lab):
    hub = r(lab, "hub")
    odd = run(hub, "/ip/firewall/filter/add", chain="input", action="drop", protocol="udp",
              content="IKE").done["ret"]
    assert lab.reachable("spoke", HUB_WAN, "udp", 500)
    assert lab.firewall_errors == [("hub", "input", odd, "matcher content=IKE is not emulated")]
    # the same fabric made strict (a second fabric over these routers would write their runtime
    # menus twice)
    lab.strict_firewall = True
    with pytest.raises(Exception, match="content"):
        lab.reachable("spoke", HUB_WAN, "udp", 500)


def test_flush_and_kill_connections_through_the_api(lab):
    established_pair(lab)
    lab.tick(1)
    spoke, hub = r(lab, "spoke"), r(lab, "hub")
    before = {sa["spi"] for sa in spoke.items("/ip/ipsec/installed-sa")}
    spii = spoke.items("/ip/ipsec/active-peers")[0]["spii"]
    run(hub, "/ip/ipsec/installed-sa/flush")
    lab.tick(1)
    after = {sa["spi"] for sa in spoke.items("/ip/ipsec/installed-sa")}
    assert len(after) == 2 and not before & after                       # phase 2 again, new SPIs
    assert spoke.items("/ip/ipsec/active-peers")[0]["spii"] == spii      # phase 1 untouched
    run(hub, "/ip/ipsec/active-peers/kill-connections")
    assert any(m.startswith("killing ike2 SA") for m in messages(spoke)) is False
    lab.tick(1)
    assert any(m.startswith("killing ike2 SA") for m in messages(spoke))
    peer = spoke.items("/ip/ipsec/active-peers")[0]
    assert peer["state"] == "established" and peer["spii"] != spii      # the spoke initiated again


def test_runtime_rows_come_back_after_a_restore(lab):
    established_pair(lab)
    lab.tick(1)
    hub = r(lab, "hub")
    hub.restore(hub.snapshot())            # what a reboot does to the tables (runtime rows emptied)
    assert hub.items("/ip/ipsec/active-peers") == []
    lab.tick(1)
    assert hub.items("/ip/ipsec/active-peers")[0]["state"] == "established"


def test_system_script_run_through_the_router_api(lab):
    spoke = r(lab, "spoke")
    run(spoke, "/system/script/add", name="hello", source=':log info "hello"\n:delay 5s\n:log info "later"')
    run(spoke, "/system/script/add", name="broken", source=':log info "x"\n:nope')
    run(spoke, "/system/script/run", number="hello")
    assert messages(spoke, "script") == ["hello"]
    lab.tick(5)
    assert messages(spoke, "script") == ["hello", "later"]
    with pytest.raises(Exception) as caught:
        run(spoke, "/system/script/run", **{".id": "broken"})
    assert "line 2" in str(caught.value) and getattr(caught.value, "category", None) == 3


def test_a_paused_script_dies_with_its_router(lab):
    spoke = r(lab, "spoke")
    lab.run_script("spoke", ':log info "before"\n:delay 10s\n:log info "after"')
    lab.router_down("spoke")
    lab.router_up("spoke")
    lab.tick(20)
    assert messages(spoke, "script") == ["before"]


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_ikev1_modes_establish_and_log_racoon_style(build, mode):
    hub = make(build, "hub", [(HUB_WAN + "/24", "ether1")])
    spoke = make(build, "spoke", [(SPOKE_WAN + "/24", "ether1")])
    fabric = Fabric({"hub": hub, "spoke": spoke}, [["hub:ether1", "spoke:ether1"]])
    tunnel(hub, SPOKE_WAN, "10.10.0.0/24", "10.20.0.0/24", mode=mode, passive="yes")
    tunnel(spoke, HUB_WAN, "10.20.0.0/24", "10.10.0.0/24", mode=mode)
    fabric.tick(1)
    assert spoke.items("/ip/ipsec/active-peers")[0]["state"] == "established"
    assert len(hub.items("/ip/ipsec/installed-sa")) == 2
    wording = {"main": "Identity Protection", "aggressive": "Aggressive"}[mode]
    assert "respond new phase 1 (%s): %s[500]<=>%s[500]" % (wording, HUB_WAN, SPOKE_WAN) in messages(hub)


def test_summary_pictures_the_lab_for_status_displays(lab):
    import json
    established_pair(lab)
    lab.tick(1)
    lab.link_down("hub:ether2", "hub2:ether2")
    picture = json.loads(json.dumps(lab.summary()))
    assert picture["links_down"] == ["hub:ether2-hub2:ether2"]
    (tunnel_row,) = picture["tunnels"]
    assert (tunnel_row["initiator"], tunnel_row["responder"], tunnel_row["children"]) == \
        ("spoke/other", "hub/other", 1)
    assert tunnel_row["alive"] == ["hub", "spoke"] and picture["waiting"] == []


@pytest.mark.parametrize("version, has_ppk", [("7.20.8", False), ("7.21.5", True), ("7.24", True)])
def test_active_peers_carry_ppk_from_7_21(version, has_ppk):
    # spec §2: 7.21 added PPK (profile ppk, active-peers field ppk / flag P); before it there is none
    interfaces = [{"name": "ether1"}, {"name": "ether2"}]
    hub = build_router("hub", version=version, interfaces=interfaces,
                       addresses=[{"address": HUB_WAN + "/24", "interface": "ether1"}])
    spoke = build_router("spoke", version=version, interfaces=interfaces,
                         addresses=[{"address": SPOKE_WAN + "/24", "interface": "ether1"}])
    fabric = Fabric({"hub": hub, "spoke": spoke}, [["hub:ether1", "spoke:ether1"]])
    established_pair(fabric)
    fabric.tick(5)
    peers = hub.items("/ip/ipsec/active-peers") + spoke.items("/ip/ipsec/active-peers")
    assert [p["state"] for p in peers] == ["established", "established"]
    assert [p.get("ppk") for p in peers] == (["false", "false"] if has_ppk else [None, None])


def test_the_log_keeps_what_the_logging_rules_select(build):
    """Default rules (info, error, warning to memory): a PSK mismatch leaves the ipsec,error line but
    not the severity-less `ipsec reply notify` nor ipsec,debug; a topics=ipsec rule keeps them."""
    hub = make(build, "hub", [(HUB_WAN + "/24", "ether1"), ("10.10.0.1/24", "ether2")])
    spoke = make(build, "spoke", [(SPOKE_WAN + "/24", "ether1"), ("10.20.0.1/24", "ether2")])
    for router in (hub, spoke):
        rule = [r for r in router.items("/system/logging") if r["topics"] == "ipsec"][0]
        run(router, "/system/logging/remove", **{".id": rule[".id"]})
    assert [(r["topics"], r["action"], r["default"]) for r in hub.items("/system/logging")] == [
        ("info", "memory", "true"), ("error", "memory", "true"), ("warning", "memory", "true"),
        ("critical", "echo", "true")]
    fabric = Fabric({"hub": hub, "spoke": spoke}, [["hub:ether1", "spoke:ether1"]])
    tunnel(hub, SPOKE_WAN, "10.10.0.0/24", "10.20.0.0/24", passive="yes")
    tunnel(spoke, HUB_WAN, "10.20.0.0/24", "10.10.0.0/24", secret="wrong")
    fabric.tick(2)
    topics = set(r["topics"] for r in hub.items("/log"))
    assert "ipsec,error" in topics and "ipsec" not in topics and "ipsec,debug" not in topics
    run(hub, "/system/logging/add", topics="ipsec,!debug")
    run(spoke, "/ip/ipsec/active-peers/kill-connections")
    fabric.tick(60)
    assert "reply notify: AUTHENTICATION_FAILED" in messages(hub)
    with pytest.raises(RosTrap):
        run(hub, "/system/logging/add", topics="ipsec,nonsense")
