"""Dynamic spokes (no fixed WAN address, behind NAT) against lab routers: the spokes initiate to the hub
by DNS name over NAT-T, the hub answers on one passive 0.0.0.0/0 peer with one identity and policy
template group per spoke; a third router claiming spoke1's identity is refused."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from engine_lab_helpers import connect  # noqa: E402

from roslab.control import Lab  # noqa: E402

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan  # noqa: E402


def _router(wan, lan):
    return {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
            "addresses": [{"address": wan, "interface": "ether1"}, {"address": lan, "interface": "ether2"}]}


TOPOLOGY = {
    "routers": {"hub": _router("198.51.100.1/24", "10.10.0.1/24"),
                "spoke1": _router("198.51.100.21/24", "10.21.0.1/24"),
                "spoke2": _router("198.51.100.22/24", "10.22.0.1/24"),
                "rogue": _router("198.51.100.66/24", "10.66.0.1/24")},
    "links": [["hub:ether1", "spoke1:ether1"], ["hub:ether1", "spoke2:ether1"], ["hub:ether1", "rogue:ether1"]],
}
PSK1, PSK2 = "Spoke1-Psk-0123456789abcdef", "Spoke2-Psk-0123456789abcdef"
HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
            "ipsec_dns_name": "hub.vpn.example", "ipsec_ike_id": "hub.vpn.example"},
    "spoke1": {"ipsec_wan_address": "dynamic", "ipsec_lan_prefixes": ["10.21.0.0/24"],
               "ipsec_ike_id": "spoke1.vpn.example", "spoke_psk": PSK1},
    "spoke2": {"ipsec_wan_address": "dynamic", "ipsec_lan_prefixes": ["10.22.0.0/24"],
               "ipsec_ike_id": "spoke2.vpn.example", "spoke_psk": PSK2},
}
TOPOLOGIES = [{"name": "dyn", "type": "hub_and_spoke", "hub": "hub", "spokes": "branches",
               "auth": {"psk_var": "spoke_psk"}}]
GROUPS = {"branches": ["spoke1", "spoke2"], "all": ["hub", "spoke1", "spoke2"]}
PARAMS = {"state": "overridden", "features": ["ipsec"], "secret_update": "on_change"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab.from_topology(TOPOLOGY, base_port=0, state_dir=str(tmp_path_factory.mktemp("lab")), save_delay=0.05,
                            speed=0)
    lab.start()
    for name in lab.specs:  # the IPsec log as one enables it to troubleshoot (default rules: info/error/warning)
        lab.call(lab.router(name).execute, "/system/logging/add", {"topics": "ipsec"}, [])
    lab.call(lab.fabric.set_dns, "hub.vpn.example", "198.51.100.1")
    for spoke in ("spoke1", "spoke2", "rogue"):
        lab.call(lab.fabric.set_nat, spoke)
    for host in ("hub", "spoke1", "spoke2"):
        plan = host_plan.plan_from_intent(host, [], HOSTVARS, TOPOLOGIES, GROUPS, features=PARAMS["features"])
        site_engine.run(dict(PARAMS), lambda: connect(lab, host), plan)
    lab.advance(1)
    yield lab
    lab.stop()


def peers_of(lab, name):
    return [row for row in lab.router(name).items("/ip/ipsec/active-peers") if row.get("state") == "established"]


def test_dynamic_spokes_establish_over_nat_to_the_hub_by_name(lab):
    hub = lab.router("hub")
    (peer,) = [row for row in hub.items("/ip/ipsec/peer") if row["name"] == "ipsecfleet-dynamic"]
    assert peer["address"] == "0.0.0.0/0" and peer["passive"] == "true"
    identities = sorted(row["remote-id"] for row in hub.items("/ip/ipsec/identity"))
    assert identities == ["fqdn:spoke1.vpn.example", "fqdn:spoke2.vpn.example"]
    for spoke in ("spoke1", "spoke2"):
        (row,) = peers_of(lab, spoke)
        assert row["natt-peer"] == "true" and row["remote-address"] == "198.51.100.1"
        spoke_peer = lab.router(spoke).items("/ip/ipsec/peer")[0]
        assert spoke_peer["address"] == "hub.vpn.example" and spoke_peer["current-address"] == "198.51.100.1"
    assert len(peers_of(lab, "hub")) == 2
    assert lab.call(lab.fabric.send, "spoke1", "10.21.0.5", "10.10.0.5")
    assert lab.call(lab.fabric.send, "spoke2", "10.22.0.5", "10.10.0.5")


def _rogue(lab, my_id, secret):
    """A router set up by hand like a spoke (the hub's own profile and proposal), with another ID."""
    rogue = lab.router("rogue")
    hub_profile = next(row for row in lab.router("hub").items("/ip/ipsec/profile") if row["name"].startswith("ipsecfleet-"))
    hub_proposal = next(row for row in lab.router("hub").items("/ip/ipsec/proposal") if row["name"].startswith("ipsecfleet-"))
    profile = dict((k, hub_profile[k]) for k in ("enc-algorithm", "hash-algorithm", "dh-group"))
    proposal = dict((k, hub_proposal[k]) for k in ("enc-algorithms", "auth-algorithms", "pfs-group"))
    for command, args in (
            ("/ip/ipsec/profile/add", dict(profile, name="p")),
            ("/ip/ipsec/proposal/add", dict(proposal, name="p")),
            ("/ip/ipsec/peer/add", {"name": "hub", "address": "198.51.100.1/32", "exchange-mode": "ike2",
                                    "profile": "p"}),
            ("/ip/ipsec/identity/add", {"peer": "hub", "secret": secret, "my-id": my_id,
                                        "remote-id": "fqdn:hub.vpn.example"}),
            ("/ip/ipsec/policy/add", {"peer": "hub", "tunnel": "yes", "src-address": "10.66.0.0/24",
                                      "dst-address": "10.10.0.0/24", "proposal": "p"})):
        lab.call(rogue.execute, command, args, [])


def test_a_router_claiming_spoke1s_identity_is_refused(lab):
    hub = lab.router("hub")
    before = len(hub.items("/log"))
    spoke1_sa = peers_of(lab, "spoke1")[0]["spii"]
    _rogue(lab, "fqdn:spoke1.vpn.example", PSK2)     # spoke1's ID with another spoke's key
    lab.advance(1)
    assert peers_of(lab, "rogue") == []
    lines = [row["message"] for row in hub.items("/log")[before:]]
    assert "reply notify: AUTHENTICATION_FAILED" in lines, "\n".join(lines)
    assert any(line.startswith("identity not found for responder") and "FQDN:spoke1.vpn.example" in line
               for line in lines)
    # spoke1's own tunnel is untouched (the same IKE SA)
    assert [row["spii"] for row in peers_of(lab, "spoke1")] == [spoke1_sa]
    assert not any(line.startswith("killing") for line in lines)
