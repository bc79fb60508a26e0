"""ipsec_info's engine against lab routers: tunnels broken on purpose, one cause at a time, and the
diagnosis names the cause; the audit finds planted weaknesses and none on a clean router; drift
shows a hand edit and is empty after a converge.

The routers are converged by the collection's own pipeline (site_engine.run, the HostPlan of the
lab intent), the faults are made by hand through the API or the lab's fault controls, and the lab
clock is advanced so IKE retries and time-outs happen at once.
"""
import copy

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from roslab import control

from engine_lab_helpers import HUB_AND_SPOKES, connect
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import diagnosis
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import gather
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import info
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan

ROUTERS = ("hub", "spoke1", "spoke2")
PSKS = {"spoke1": "lab-only-psk-spoke1-not-secret-0001", "spoke2": "lab-only-psk-spoke2-not-secret-0002"}
TOPOLOGIES = [{"name": "lab", "type": "hub_and_spoke", "hub": "hub", "spokes": "ipsec_spokes",
               "suite": "ikev2-aes256gcm-ecp384", "auth": {"psk_var": "ipsec_psk"}, "dpd_interval": "30s",
               "dpd_failures": 4, "phase2_lifetime": "1h"}]
HUB, SPOKE1 = "198.51.100.1", "198.51.100.11"


def hostvars():
    hv = {"hub": {"ipsec_wan_address": HUB, "ipsec_lan_prefixes": ["10.10.0.0/24"], "routeros_version": "7.22.2"},
          "spoke1": {"ipsec_wan_address": SPOKE1, "ipsec_lan_prefixes": ["10.11.0.0/24"],
                     "routeros_version": "7.22.2", "ipsec_psk": PSKS["spoke1"]},
          "spoke2": {"ipsec_wan_address": "198.51.100.12", "ipsec_lan_prefixes": ["10.12.0.0/24"],
                     "routeros_version": "7.18", "ipsec_psk": PSKS["spoke2"]}}
    return hv


def plan_of(host, spokes=("spoke1", "spoke2")):
    return host_plan.plan_from_intent(host, [], hostvars(), copy.deepcopy(TOPOLOGIES),
                                      {"ipsec_spokes": list(spokes), "all": list(ROUTERS)},
                                      **site_engine.firewall_build_options({}))


def site_params(lab, name):
    args = {"hostname": "127.0.0.1", "port": lab.ports[name]["api"], "username": "admin", "password": "",
            "management_sources": ["127.0.0.1/32"], "confirm": False}
    return ArgumentSpecValidator(site_engine.argument_spec()).validate(args).validated_parameters


def converge(lab, name, plan=None):
    plan = plan or plan_of(name)
    return site_engine.run(site_params(lab, name), lambda: connect(lab, name), plan)


def observe(lab, name, plan=None, **options):
    params = {"features": list(site_engine.FEATURES), "log_lines": 50, "drift": True, "audit": False,
              "audit_policy": {}}
    params.update(options)
    return info.run(params, lambda: connect(lab, name), plan or plan_of(name))


def state_of(lab, name, audit_menus=False):
    session = ApiSession(connect(lab, name))
    try:
        return gather.read_state(session, audit_menus=audit_menus)
    finally:
        session.close()


def causes(findings):
    return [f["cause"] for f in findings]


@pytest.fixture
def fleet(tmp_path):
    """A fresh lab (its clock moved only by the test), every router converged from the lab intent,
    tunnels up."""
    lab = control.Lab.from_topology(HUB_AND_SPOKES, base_port=0, state_dir=str(tmp_path / "lab"),
                                    save_delay=0.05, speed=0.0)
    lab.start()
    for name in lab.specs:  # the IPsec log as one enables it to troubleshoot (default rules: info/error/warning)
        lab.call(lab.router(name).execute, "/system/logging/add", {"topics": "ipsec"}, [])
    try:
        for name in ROUTERS:
            converge(lab, name)
        lab.advance(40)
        yield lab
    finally:
        lab.stop()


def edit(lab, name, menu, key, **values):
    """A hand edit of the owned item ``key`` (comment tag or name) in ``menu``."""
    api = connect(lab, name)
    try:
        path = api.path(*menu.strip("/").split("/"))
        for row in path:
            if key in (row.get("comment") or "") or row.get("name") == key:
                path.update(**dict(values, **{".id": row[".id"]}))
                return
        raise AssertionError("no item %s in %s on %s" % (key, menu, name))
    finally:
        api.close()


def add(lab, router, menu, **values):
    api = connect(lab, router)
    try:
        return api.path(*menu.strip("/").split("/")).add(**values)
    finally:
        api.close()


def first_rule(lab, name, menu="/ip/firewall/filter"):
    api = connect(lab, name)
    try:
        return [row[".id"] for row in api.path(*menu.strip("/").split("/")) if not row.get("dynamic")][0]
    finally:
        api.close()


def spoke1_row(result):
    return [t for t in result["tunnels"] if t["remote_host"] == "spoke1" or t["remote_host"] == "hub"][0]


def both_ends(lab, spoke="spoke1"):
    """diagnosis.diagnose_tunnel over the hub and one spoke (what troubleshoot.yml does)."""
    plans = {"hub": plan_of("hub"), spoke: plan_of(spoke)}
    ends = []
    for host, other in (("hub", spoke), (spoke, "hub")):
        tunnel = [t for t in plans[host].tunnels if other in (t.a.host, t.b.host)][0]
        local, remote = tunnel.side(host)
        state = state_of(lab, host)
        ends.append({"host": host, "state": state, "local": str(local.address), "remote": str(remote.address),
                     "selectors": gather.selectors_of(host, [tunnel]),
                     "configured": any(p.get("name") == "ipsecfleet-" + tunnel.name for p in state["peers"] or [])})
    return diagnosis.diagnose_tunnel(ends)


# --- a healthy fleet --------------------------------------------------------------------------------

def test_healthy_fleet_is_up_without_drift_or_errors(fleet):
    result = observe(fleet, "hub")
    assert result["tunnels_up"] == 2 and result["tunnels_down"] == [], result["tunnels"]
    assert result["drift"] == []
    assert [f for f in result["diagnosis"] if f["severity"] == "error"] == []
    row = result["tunnels"][0]
    assert row["state"] == "established" and row["sas_in"] >= 1 and row["sas_out"] >= 1
    assert all(s == "established" for s in row["ph2_states"])
    assert result["installed_sa"] and result["installed_sa"][0]["spi"]
    assert "secret" not in repr(result["config"]["identities"]) or PSKS["spoke1"] not in repr(result)
    assert PSKS["spoke1"] not in repr(result) and PSKS["spoke2"] not in repr(result)
    assert result["api_reads"] >= len(gather.CONFIG_MENUS)


# --- one cause at a time ------------------------------------------------------------------------------

def test_wrong_psk(fleet):
    edit(fleet, "spoke1", "/ip/ipsec/identity", "ipsecfleet:identity/", secret="a-wrong-psk-typed-by-hand-000")
    fleet.reboot("hub")          # the hub forgets the SA, so the spoke must authenticate again
    converge(fleet, "hub")
    fleet.advance(40)
    hub = observe(fleet, "hub")
    row = [t for t in hub["tunnels"] if t["remote_host"] == "spoke1"][0]
    assert not row["up"] and row["cause"] == "psk_mismatch", hub["tunnels"]
    assert "AUTHENTICATION_FAILED" in " ".join(e for f in hub["diagnosis"] for e in f["evidence"])
    spoke = observe(fleet, "spoke1")
    assert [(d["key"], d["fields"]) for d in spoke["drift"]] == [
        ("identity/lab-hub-spoke1", [{"field": "secret", "router": "secret differs", "intent": "secret differs"}])]
    assert "a-wrong-psk" not in repr(spoke) and PSKS["spoke1"] not in repr(spoke)
    converge(fleet, "spoke1")
    assert observe(fleet, "spoke1")["drift"] == []


def test_phase1_proposal_mismatch(fleet):
    profile = [p["name"] for p in plan_of("spoke1").sections["profiles"]][0]
    edit(fleet, "spoke1", "/ip/ipsec/profile", profile, **{"enc-algorithm": "aes-128", "dh-group": "modp2048"})
    fleet.reboot("hub")
    fleet.advance(40)
    hub = observe(fleet, "hub")
    assert "proposal_mismatch_phase1" in causes(hub["diagnosis"]), hub["diagnosis"]
    row = [t for t in hub["tunnels"] if t["remote_host"] == "spoke1"][0]
    assert row["cause"] == "proposal_mismatch_phase1"
    # spoke1 still holds its half of the old IKE SA (until DPD), but logged the refusal
    spoke = observe(fleet, "spoke1")
    assert "proposal_mismatch_phase1" in causes(spoke["diagnosis"]), spoke["diagnosis"]
    assert [d["what"] for d in spoke["drift"]] == ["changed"]


def test_phase2_proposal_mismatch(fleet):
    edit(fleet, "spoke1", "/ip/ipsec/proposal", "ipsecfleet:proposal/",
         **{"enc-algorithms": "aes-128-cbc", "auth-algorithms": "sha256"})
    fleet.reboot("hub")
    fleet.advance(40)
    hub = observe(fleet, "hub")
    assert "proposal_mismatch_phase2" in causes(hub["diagnosis"]), hub["diagnosis"]
    assert "proposal_mismatch_phase1" not in causes(hub["diagnosis"])


def test_firewall_blocking_ike(fleet):
    add(fleet, "hub", "/ip/firewall/filter", chain="input", action="drop", protocol="udp", **{
        "dst-port": "500,4500", "src-address": SPOKE1, "place-before": first_rule(fleet, "hub"),
        "comment": "blocked by hand"})
    fleet.reboot("spoke1")
    fleet.advance(45)
    spoke = observe(fleet, "spoke1")
    assert spoke["tunnels"][0]["cause"] == "peer_unreachable", spoke["tunnels"]
    assert "due to time up" in spoke["tunnels"][0]["last_error"]
    pair = both_ends(fleet)
    assert diagnosis.primary(pair["spoke1"])["cause"] == "ike_blocked_by_firewall", pair["spoke1"]
    assert any("blocked by hand" in line for f in pair["spoke1"] for line in f["evidence"])


def test_link_cut(fleet):
    fleet.link_down("hub:ether1", "spoke1:ether1")
    try:
        fleet.advance(200)     # DPD gives up, then the new exchange times out
        spoke = observe(fleet, "spoke1")
        assert spoke["tunnels"][0]["cause"] in ("peer_unreachable", "peer_dead"), spoke["tunnels"]
        assert not spoke["tunnels"][0]["up"]
        pair = both_ends(fleet)
        assert diagnosis.primary(pair["spoke1"])["cause"] in ("peer_unreachable", "peer_dead")
        assert "ike_blocked_by_firewall" not in causes(pair["spoke1"])
    finally:
        fleet.link_up("hub:ether1", "spoke1:ether1")


def test_selector_mismatch(fleet):
    edit(fleet, "spoke1", "/ip/ipsec/policy", "ipsecfleet:policy/", **{"src-address": "10.99.0.0/24"})
    fleet.reboot("hub")
    fleet.advance(40)
    hub = observe(fleet, "hub")
    assert "selector_mismatch" in causes(hub["diagnosis"]), hub["diagnosis"]
    assert "TS_UNACCEPTABLE" in " ".join(e for f in hub["diagnosis"] for e in f["evidence"])
    spoke = observe(fleet, "spoke1")
    assert spoke["tunnels"][0]["cause"] == "selector_mismatch", spoke["tunnels"]


def test_one_end_configured_the_other_not(fleet):
    """spoke2 left the hub's group (the hub converged without it) but keeps its config and initiates."""
    hub_plan = plan_of("hub", spokes=("spoke1",))
    converge(fleet, "hub", hub_plan)
    fleet.reboot("spoke2")
    fleet.advance(40)
    spoke = observe(fleet, "spoke2")
    assert not spoke["tunnels"][0]["up"] and spoke["tunnels"][0]["cause"] == "peer_unreachable"
    hub = observe(fleet, "hub", hub_plan)
    assert [t["remote_host"] for t in hub["tunnels"]] == ["spoke1"] and hub["tunnels"][0]["up"]
    # both ends side by side (troubleshoot.yml): the hub has no peer for spoke2
    hub_state, spoke_state = state_of(fleet, "hub"), state_of(fleet, "spoke2")
    pair = diagnosis.diagnose_tunnel([
        {"host": "spoke2", "state": spoke_state, "local": "198.51.100.12", "remote": HUB,
         "selectors": [("10.12.0.0/24", "10.10.0.0/24")], "configured": True},
        {"host": "hub", "state": hub_state, "local": HUB, "remote": "198.51.100.12",
         "selectors": [("10.10.0.0/24", "10.12.0.0/24")],
         "configured": any(p.get("address", "").startswith("198.51.100.12") for p in hub_state["peers"])}])
    assert diagnosis.primary(pair["spoke2"])["cause"] == "one_end_only", pair["spoke2"]
    assert diagnosis.primary(pair["hub"])["cause"] == "not_configured"
    # and the hub's firewall, no longer listing spoke2 as a peer, drops its IKE
    assert "ike_blocked_by_firewall" in causes(pair["spoke2"])


def test_nat_and_fasttrack_found_on_a_router(fleet):
    add(fleet, "spoke1", "/ip/firewall/nat", chain="srcnat", action="masquerade", comment="masquerade by hand")
    state = state_of(fleet, "spoke1")
    plan = plan_of("spoke1")
    found = diagnosis.diagnose(state, gather.selectors_of("spoke1", plan.tunnels))
    # the collection's bypass (accept ipsec-policy=out,ipsec) sits before the hand-made masquerade
    assert "nat_not_bypassed" not in causes(found)
    # a masquerade placed above the bypass catches the tunnel's traffic
    add(fleet, "spoke1", "/ip/firewall/nat", chain="srcnat", action="masquerade", comment="top masquerade",
        **{"place-before": first_rule(fleet, "spoke1", "/ip/firewall/nat")})
    add(fleet, "spoke1", "/ip/firewall/filter", chain="forward", action="fasttrack-connection",
        comment="fasttrack by hand", **{"connection-state": "established,related",
                                        "place-before": first_rule(fleet, "spoke1")})
    found = diagnosis.diagnose(state_of(fleet, "spoke1"), gather.selectors_of("spoke1", plan.tunnels))
    assert "nat_not_bypassed" in causes(found)
    assert "fasttrack_bypass" not in causes(found)    # the collection's raw notrack exempts the tunnel
    assert any("top masquerade" in e for f in found for e in f["evidence"])


# --- audit --------------------------------------------------------------------------------------------

def test_audit_finds_planted_weaknesses(fleet):
    add(fleet, "hub", "/ip/ipsec/proposal", name="weak",
        **{"enc-algorithms": "3des", "auth-algorithms": "md5", "pfs-group": "none", "lifetime": "2d"})
    add(fleet, "hub", "/ip/ipsec/profile", name="weak-ike",
        **{"enc-algorithm": "des", "hash-algorithm": "md5", "dh-group": "modp1024"})
    add(fleet, "hub", "/ip/ipsec/peer", name="anyone", address="0.0.0.0/0", profile="weak-ike", passive="yes")
    add(fleet, "hub", "/ip/ipsec/identity", peer="anyone", secret="short")
    add(fleet, "hub", "/ip/ipsec/policy", peer="anyone", proposal="weak", tunnel="yes",
        **{"src-address": "10.10.0.0/24", "dst-address": "10.77.0.0/24"})
    result = observe(fleet, "hub", audit=True, drift=False)
    found = result["audit"]["findings"]
    by_rule = dict((f["rule"], f) for f in found)
    for rule in ("weak_cipher", "weak_hash", "dh_below_14", "missing_pfs", "phase2_lifetime_over_24h",
                 "peer_any_address", "short_psk", "api_without_tls", "api_open_to_world"):
        assert rule in by_rule, (rule, sorted(by_rule))
    assert by_rule["peer_any_address"]["owned"] is False
    assert result["audit"]["failing"]
    assert "short" not in repr([f["message"] for f in found])
    assert "/system/logging" in result["unreadable"] or "ipsec_logging_off" not in by_rule


def test_audit_of_a_clean_router_finds_nothing(fleet):
    api = connect(fleet, "hub")
    try:
        services = api.path("ip", "service")
        for row in services:
            if row["name"] in ("api", "api-ssl"):
                services.update(**{".id": row[".id"], "address": "127.0.0.1/32"})
            elif row["name"] in ("telnet", "ftp", "www"):
                services.update(**{".id": row[".id"], "disabled": "yes"})
    finally:
        api.close()
    result = observe(fleet, "hub", audit=True, drift=False, audit_policy={"ignore": ["api_without_tls"]})
    assert result["audit"]["findings"] == [], result["audit"]["findings"]
    assert result["audit"]["failing"] == []
