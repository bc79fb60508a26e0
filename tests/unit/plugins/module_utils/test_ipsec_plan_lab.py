"""End to end on the lab: intent -> plan -> apply engine over the RouterOS API (librouteros) ->
tunnels established by the lab's IKE, and a second apply changes nothing."""
import librouteros
import pytest
from roslab import control

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import converge
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession


PSK1 = "lab-only-key-for-branch1-0123"
PSK2 = "lab-only-key-for-branch2-4567"


def _router(wan, lan, version="7.22.2"):
    return {"version": version, "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
            "addresses": [{"address": wan + "/24", "interface": "ether1"},
                          {"address": lan.replace(".0/24", ".1/24"), "interface": "ether2"}]}


# routers: (WAN, LAN, RouterOS version)
SITES = {"hq": ("198.51.100.1", "10.10.0.0/24", "7.22.2"),
         "br1": ("198.51.100.11", "10.11.0.0/24", "7.22.2"),
         "br2": ("198.51.100.12", "10.12.0.0/24", "7.20.8")}
TOPOLOGY = {"routers": dict((name, _router(wan, lan, version)) for name, (wan, lan, version) in SITES.items()),
            "links": [["hq:ether1", "br1:ether1"], ["hq:ether1", "br2:ether1"]]}
HOSTVARS = dict((name, {"ipsec_wan_address": wan, "ipsec_lan_prefixes": [lan], "routeros_version": version,
                        "ipsec_psk": {"br1": PSK1, "br2": PSK2}.get(name)})
                for name, (wan, lan, version) in SITES.items())
GROUPS = {"branches": ["br1", "br2"]}
INTENT = [{"name": "corp", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
           "auth": {"psk_var": "ipsec_psk"}, "hub_endpoint": {"passive": True}}]
IPSEC_PATHS = [p for p in menus.APPLY_ORDER if menus.MENUS[p].section in ipsec_plan.PLAN_SECTIONS]


@pytest.fixture()
def lab(tmp_path):
    # speed=0: the lab clock moves only with lab.advance, so each test decides when time passes
    lab = control.Lab.from_topology(TOPOLOGY, base_port=0, state_dir=str(tmp_path), save_delay=0.05, speed=0)
    lab.start()
    yield lab
    lab.stop()


def apply(lab, host, plan, state="overridden"):
    api = librouteros.connect(host="127.0.0.1", port=lab.ports[host]["api"], username="admin", password="",
                              timeout=5)
    session = ApiSession(api)
    try:
        return converge.apply(session, plan, state, menu_paths=IPSEC_PATHS)
    finally:
        session.close()


def test_planned_tunnels_come_up_in_the_lab_and_reapply_is_a_no_op(lab):
    plans = ipsec_plan.plan_fleet([], HOSTVARS, INTENT, GROUPS)
    for host in SITES:
        result = apply(lab, host, plans[host])
        assert result["changed"] and result["writes"] > 0
        # the secret never shows in what the engine reports
        assert PSK1 not in repr(result) and PSK2 not in repr(result)
    for host in SITES:
        again = apply(lab, host, ipsec_plan.plan_fleet([], HOSTVARS, INTENT, GROUPS)[host])
        assert not again["changed"] and again["writes"] == 0, again["commands"]

    lab.advance(60)   # the lab's own fabric: 60 lab seconds for the tunnels to negotiate
    hub_peers = lab.call(lab.router("hq").items, "/ip/ipsec/active-peers")
    assert sorted((p["remote-address"], p["state"], p["side"]) for p in hub_peers) == [
        ("198.51.100.11", "established", "responder"), ("198.51.100.12", "established", "responder")]
    for host in SITES:
        policies = [p for p in lab.call(lab.router(host).items, "/ip/ipsec/policy")
                    if menus.owner_key(menus.MENUS["/ip/ipsec/policy"], p)]
        assert policies and all(p["ph2-state"] == "established" for p in policies), (host, policies)


def test_a_changed_intent_converges_with_a_new_proposal(lab):
    plans = ipsec_plan.plan_fleet([], HOSTVARS, INTENT, GROUPS)
    for host in SITES:
        apply(lab, host, plans[host])
    changed = [dict(INTENT[0], phase2_lifetime="1h")]
    new_plans = ipsec_plan.plan_fleet([], HOSTVARS, changed, GROUPS)
    assert new_plans["hq"]["proposals"][0]["name"] != plans["hq"]["proposals"][0]["name"]
    for host in SITES:
        result = apply(lab, host, new_plans[host])
        assert result["changed"]
        proposals = [p for p in lab.call(lab.router(host).items, "/ip/ipsec/proposal")
                     if menus.owner_key(menus.MENUS["/ip/ipsec/proposal"], p)]
        # the old proposal is gone once nothing references it
        assert [(p["name"], p["lifetime"]) for p in proposals] == [(new_plans[host]["proposals"][0]["name"], "1h")]
    lab.advance(60)   # the lab's own fabric: 60 lab seconds for the tunnels to negotiate
    br2_peers = lab.call(lab.router("br2").items, "/ip/ipsec/active-peers")
    assert [(p["remote-address"], p["state"]) for p in br2_peers] == [("198.51.100.1", "established")]


@pytest.mark.parametrize("extra", [
    {"ike_version": 1, "suite": "ikev1-aes256cbc-sha256-modp2048"},
    {"ike_version": 1, "suite": "ikev1-aes256cbc-sha256-modp2048", "exchange_mode": "aggressive"},
    {"suite": "ikev2-aes256cbc-sha256-modp2048", "ppk_secret": "lab-only-post-quantum-key-89ab"},
], ids=["ikev1-main", "ikev1-aggressive", "ikev2-cbc-ppk"])
def test_other_suites_and_modes_come_up(lab, extra):
    tunnel = dict({"name": "hq-br1", "a": "hq", "b": "br1", "auth": {"psk": PSK1}}, **extra)
    plans = ipsec_plan.plan_fleet([tunnel], HOSTVARS)
    for host in ("hq", "br1"):
        assert apply(lab, host, plans[host])["changed"]
        assert not apply(lab, host, plans[host])["changed"]
    lab.advance(60)   # the lab's own fabric: 60 lab seconds for the tunnels to negotiate
    peers = lab.call(lab.router("br1").items, "/ip/ipsec/active-peers")
    assert [(p["remote-address"], p["state"]) for p in peers] == [("198.51.100.1", "established")], peers
