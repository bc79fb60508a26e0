"""Remote access against lab routers: the hub converged from ipsec_remote_access (pool, mode-config,
templates, an identity per client, its certificate); a lab router set up as a RouterOS road-warrior
client (mode-config=request-only, generate-policy) with the certificate ipsec_client_profiles issues
from the fleet PKI gets an address from the pool and its policy."""
import datetime as dt
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from engine_lab_helpers import connect  # noqa: E402

from roslab.control import Lab  # noqa: E402

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki as pki_mod  # noqa: E402

TOPOLOGY = {
    "routers": {
        "hub": {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                              {"address": "10.10.0.1/24", "interface": "ether2"}]},
        "laptop": {"interfaces": [{"name": "ether1"}],
                   "addresses": [{"address": "198.51.100.77/24", "interface": "ether1"}]},
    },
    "links": [["hub:ether1", "laptop:ether1"]],
}
HOSTVARS = {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
                    "ipsec_ike_id": "hub.vpn.example",
                    "ipsec_remote_access": {"name": "staff", "pool": "10.99.0.0/29", "dns": ["10.10.0.53"],
                                            "clients": [{"name": "alice", "id": "alice@example.net"}]}}}
PARAMS = {"state": "overridden", "features": ["ipsec", "remote_access", "certificates"], "secret_update": "on_change"}


def _client_certificate(authority, email):
    """The client certificate as ipsec_client_profiles issues and exports it (fleet PKI, e-mail SAN,
    key encrypted with the export passphrase): what a road warrior really gets."""
    cert, key, reason = authority.client("hub", "alice", email)
    assert reason == "new"
    ca_cert, _ca_key = authority.ca()
    cert_pem, key_pem, _p12 = pki_mod.client_export("alice", cert, key, ca_cert, "laptop-pass-123")
    return cert_pem + key_pem, pki_mod.pem_text(ca_cert)


@pytest.fixture
def lab(tmp_path):
    lab = Lab.from_topology(TOPOLOGY, base_port=0, state_dir=str(tmp_path / "lab"), save_delay=0.05, speed=0)
    lab.start()
    yield lab
    lab.stop()


def laptop_as_road_warrior(lab, bundle, ca_pem, hub_profile, hub_proposal):
    """RouterOS as an IKEv2 road-warrior client (MikroTik manual, "Road Warrior setup ... RouterOS client")."""
    laptop = lab.router("laptop")
    profile = dict((k, hub_profile[k]) for k in ("enc-algorithm", "hash-algorithm", "dh-group"))
    proposal = dict((k, hub_proposal[k]) for k in ("enc-algorithms", "auth-algorithms", "pfs-group"))
    for command, args in (
            ("/file/add", {"name": "ca.crt", "contents": ca_pem}),
            ("/certificate/import", {"file-name": "ca.crt", "name": "ca"}),
            ("/file/add", {"name": "alice.crt", "contents": bundle}),
            ("/certificate/import", {"file-name": "alice.crt", "name": "alice", "passphrase": "laptop-pass-123"}),
            ("/ip/ipsec/profile/add", dict(profile, name="rw")),
            ("/ip/ipsec/proposal/add", dict(proposal, name="rw")),
            ("/ip/ipsec/policy/group/add", {"name": "rw"}),
            ("/ip/ipsec/policy/add", {"group": "rw", "template": "yes", "src-address": "0.0.0.0/0",
                                      "dst-address": "0.0.0.0/0", "proposal": "rw"}),
            ("/ip/ipsec/peer/add", {"name": "hub", "address": "198.51.100.1/32", "exchange-mode": "ike2",
                                    "profile": "rw"}),
            ("/ip/ipsec/identity/add", {"peer": "hub", "auth-method": "digital-signature", "certificate": "alice",
                                        "my-id": "user-fqdn:alice@example.net", "remote-id": "fqdn:hub.vpn.example",
                                        "mode-config": "request-only", "generate-policy": "port-strict",
                                        "policy-template-group": "rw"})):
        lab.call(laptop.execute, command, args, [])


def test_a_road_warrior_gets_a_pool_address_and_its_policy(lab, tmp_path):
    now = dt.datetime.strptime(lab.clock_info()["datetime"], "%Y-%m-%d %H:%M:%S")
    authority = pki_mod.Pki(str(tmp_path / "pki"), "controller-secret-123", now=lambda: now)
    plan = host_plan.plan_from_intent("hub", [], HOSTVARS, features=PARAMS["features"],
                                      pki=authority.material("hub", "hub.vpn.example"))
    result = site_engine.run(dict(PARAMS), lambda: connect(lab, "hub"), plan)
    assert result["changed"]
    hub = lab.router("hub")
    (mode_config,) = [row for row in hub.items("/ip/ipsec/mode-config") if row["name"] == "ipsecfleet-ra-staff"]
    assert mode_config["address-pool"] == "ipsecfleet-ra-staff" and mode_config["split-include"] == "10.10.0.0/24"
    hub_profile = next(r for r in hub.items("/ip/ipsec/profile") if r["name"].startswith("ipsecfleet-"))
    hub_proposal = next(r for r in hub.items("/ip/ipsec/proposal") if r["name"].startswith("ipsecfleet-"))
    bundle, ca_pem = _client_certificate(authority, "alice@example.net")
    laptop_as_road_warrior(lab, bundle, ca_pem, hub_profile, hub_proposal)
    lab.advance(1)
    (peer,) = [row for row in hub.items("/ip/ipsec/active-peers") if row["state"] == "established"]
    assert peer["dynamic-address"] == "10.99.0.2" and peer["id"] == "alice@example.net"
    (sa,) = lab.fabric.sas
    assert sa.mode_config == {"address": "10.99.0.2", "split": ["10.10.0.0/24"], "dns": ["10.10.0.53"]}
    (child,) = sa.children.values()
    # the client's generated policy: its pool address to the split-include prefix, matched by the
    # hub's template of the client's group
    assert child.i_policy_id == "mode-config:10.99.0.2:10.10.0.0/24"
    assert child.details["template"]["group"] == "ipsecfleet-ra-staff"
    assert len(lab.router("laptop").items("/ip/ipsec/installed-sa")) == 2
    # idempotent
    again = host_plan.plan_from_intent("hub", [], HOSTVARS, features=PARAMS["features"],
                                       pki=authority.material("hub", "hub.vpn.example"))
    assert not site_engine.run(dict(PARAMS), lambda: connect(lab, "hub"), again)["changed"]
