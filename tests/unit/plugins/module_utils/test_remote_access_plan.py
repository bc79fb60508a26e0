"""Remote access on a hub: pool, mode-config, templates and one identity per client from
ipsec_remote_access; client profiles (swanctl.conf, .mobileconfig) from the same data."""
import datetime as dt
import plistlib

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import remote_access
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki as pki_mod

RA = {"name": "staff", "pool": "10.99.0.0/24", "dns": ["10.10.0.53"],
      "clients": [{"name": "alice", "id": "alice@example.net"}, {"name": "bob", "id": "bob@example.net"}]}
HOSTVARS = {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
                    "ipsec_ike_id": "hub.vpn.example", "ipsec_dns_name": "hub.vpn.example",
                    "ipsec_remote_access": RA}}


@pytest.fixture
def material(tmp_path):
    authority = pki_mod.Pki(str(tmp_path), "controller-secret-123", now=lambda: dt.datetime(2026, 3, 1))
    return authority.material("hub", "hub.vpn.example")


def test_the_hub_gets_pool_mode_config_templates_and_an_identity_per_client(material):
    plan = host_plan.plan_from_intent("hub", [], HOSTVARS, pki=material)
    (pool,) = plan.sections["pools"]
    assert (pool["name"], pool["ranges"]) == ("ipsecfleet-ra-staff", "10.99.0.2-10.99.0.254")
    (mode_config,) = plan.sections["mode_configs"]
    assert mode_config == {"name": "ipsecfleet-ra-staff", "responder": "true", "address_pool": "ipsecfleet-ra-staff",
                           "split_include": "10.10.0.0/24", "system_dns": "false", "static_dns": "10.10.0.53"}
    (template,) = plan.sections["policies"]
    assert (template["template"], template["src_address"], template["dst_address"]) == ("true", "10.10.0.0/24",
                                                                                        "10.99.0.0/24")
    identities = plan.sections["identities"]
    assert [i["remote_id"] for i in identities] == ["user-fqdn:alice@example.net", "user-fqdn:bob@example.net"]
    assert all(i["mode_config"] == "ipsecfleet-ra-staff" and i["peer"] == "ipsecfleet-dynamic" and
               i["certificate"].startswith("ipsecfleet-hub-") for i in identities)
    assert [p["name"] for p in plan.sections["peers"]] == ["ipsecfleet-dynamic"]
    assert len(plan.sections["certificates"]) == 2


def test_without_pki_or_with_bad_settings_the_field_is_named():
    with pytest.raises(IntentError, match="ipsec_remote_access.*ipsec_pki_dir"):
        host_plan.plan_from_intent("hub", [], HOSTVARS)
    bad = dict(HOSTVARS["hub"], ipsec_remote_access=dict(RA, split_include=["10.99.0.0/25"]))
    with pytest.raises(IntentError, match=r"split_include\[0\].*overlaps the pool"):
        host_plan.plan_from_intent("hub", [], {"hub": bad})
    bad = dict(HOSTVARS["hub"], ipsec_remote_access=dict(RA, clients=[{"name": "carol", "id": "carol"}]))
    with pytest.raises(IntentError, match=r"clients\[0\].id"):
        host_plan.plan_from_intent("hub", [], {"hub": bad})


def test_client_profiles_come_from_the_same_data(material):
    ra = remote_access.parse("hub", HOSTVARS)
    text = remote_access.swanctl_conf(ra, "alice")
    assert "remote_addrs = hub.vpn.example" in text and "id = alice@example.net" in text
    assert "remote_ts = 10.10.0.0/24" in text and "vips = 0.0.0.0" in text
    assert text.count("{") == text.count("}")
    profile = plistlib.loads(remote_access.mobileconfig(ra, "alice", material["ca"]["pem"]).encode())
    ca, vpn = profile["PayloadContent"]
    assert vpn["VPNType"] == "IKEv2" and vpn["IKEv2"]["RemoteIdentifier"] == "hub.vpn.example"
    assert vpn["IKEv2"]["LocalIdentifier"] == "alice@example.net"
    assert ca["PayloadContent"].startswith(b"0\x82")      # the CA certificate, DER
    # stable: the same data gives the same profile
    assert remote_access.mobileconfig(ra, "alice", material["ca"]["pem"]) == \
        remote_access.mobileconfig(ra, "alice", material["ca"]["pem"])


def test_the_firewall_follows_the_pool(material):
    plan = host_plan.plan_from_intent("hub", [], HOSTVARS, pki=material, features=("ipsec", "firewall"))
    assert [e["address"] for e in plan.sections["address_lists"]] == ["0.0.0.0/0"]
    raw = [(r["src_address"], r["dst_address"]) for r in plan.sections["raw"]]
    assert ("10.10.0.0/24", "10.99.0.0/24") in raw and ("10.99.0.0/24", "10.10.0.0/24") in raw
