"""The rollout health gate's filters: which tunnel ends are waited for after a router converged,
and which of them a router's printed active-peers / installed-sa rows show down."""
import os
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ipsecfleet.routeros.plugins.filter import ipsec_plan, ipsec_rollout

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module_utils"))
from test_intent_fixtures import groups, hostvars  # noqa: E402

TOPOLOGY = [{"name": "hs", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
             "auth": {"psk_var": "ipsec_psk"}}]


def tunnels():
    return ipsec_plan.ipsec_validate([], hostvars(), topologies=TOPOLOGY, groups=groups())["tunnels"]


def addresses():
    by_host = {}
    for t in tunnels():
        by_host[t["a"]], by_host[t["b"]] = t["a_address"], t["b_address"]
    return by_host


def test_filter_module_exposes_the_gate_filters():
    assert sorted(ipsec_rollout.FilterModule().filters()) == ["ipsec_rollout_checks", "ipsec_rollout_order", "ipsec_tunnels_down"]


def test_checks_cover_both_ends_of_rolled_tunnels_and_name_the_pending_ones():
    gate = ipsec_rollout.ipsec_rollout_checks(tunnels(), "hq", ["hq", "br1"])
    ip = addresses()
    assert sorted((c["router"], c["remote"]) for c in gate["checks"]) == sorted([("hq", ip["br1"]), ("br1", ip["hq"])])
    assert [p["router"] for p in gate["pending"]] == ["br2"]
    # a spoke converged alone waits for nothing: its hub comes later
    alone = ipsec_rollout.ipsec_rollout_checks(tunnels(), "br2", ["br2"])
    assert alone["checks"] == [] and [p["router"] for p in alone["pending"]] == ["hq"]


def test_down_until_ike_is_established_and_both_sas_are_mature():
    ip = addresses()
    checks = ipsec_rollout.ipsec_rollout_checks(tunnels(), "br1", ["hq", "br1"])["checks"]
    peers = [{"remote-address": ip["br1"], "state": "message-1-sent"}]
    assert ipsec_rollout.ipsec_tunnels_down(checks, "hq", peers=peers) == [
        "tunnel hs-hq-br1 at hq: IKE not established with %s" % ip["br1"]]
    peers = [{"remote-address": ip["br1"], "state": "established"}]
    assert ipsec_rollout.ipsec_tunnels_down(checks, "hq", peers=peers) == []
    # NAT-T prints the port; one SA direction missing is still down
    sas = [{"src-address": ip["br1"] + ":4500", "dst-address": ip["hq"] + ":4500", "state": "mature"},
           {"src-address": ip["hq"], "dst-address": ip["br1"], "state": "larval"}]
    assert ipsec_rollout.ipsec_tunnels_down(checks, "hq", sas=sas) == [
        "tunnel hs-hq-br1 at hq: no mature SA %s -> %s" % (ip["hq"], ip["br1"])]
    sas[1]["state"] = "mature"
    assert ipsec_rollout.ipsec_tunnels_down(checks, "hq", sas=sas) == []
    # a read error (community.routeros.api's msg string) counts as nothing up
    assert len(ipsec_rollout.ipsec_tunnels_down(checks, "br1", peers="Error while connecting")) == 1


def test_checks_refuse_anything_but_validated_tunnels():
    with pytest.raises(AnsibleFilterError, match="ipsec_validate's tunnels"):
        ipsec_rollout.ipsec_rollout_checks({"tunnels": []}, "hq", [])
    with pytest.raises(AnsibleFilterError, match="lacks"):
        ipsec_rollout.ipsec_rollout_checks([{"name": "x", "a": "hq", "b": "br1"}], "hq", ["hq", "br1"])


def test_order_puts_hubs_first_and_narrows_by_hosts_and_tunnel_patterns():
    summary = ipsec_plan.ipsec_validate([], hostvars(), topologies=TOPOLOGY, groups=groups())
    assert ipsec_rollout.ipsec_rollout_order(summary) == ["hq", "br1", "br2"]
    assert ipsec_rollout.ipsec_rollout_order(summary, hosts=["br2", "hq", "nosuch"]) == ["hq", "br2"]
    names = sorted(t["name"] for t in summary["tunnels"])
    assert ipsec_rollout.ipsec_rollout_order(summary, tunnels=names[0]) == ["hq", "br1"]
    assert ipsec_rollout.ipsec_rollout_order(summary, tunnels="nomatch-*, " + names[1]) == ["hq", "br2"]
    assert ipsec_rollout.ipsec_rollout_order(summary, tunnels="*") == ["hq", "br1", "br2"]
    with pytest.raises(AnsibleFilterError, match="ipsec_validate's result"):
        ipsec_rollout.ipsec_rollout_order(summary["tunnels"])
