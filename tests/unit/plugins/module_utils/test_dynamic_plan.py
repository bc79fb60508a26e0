"""Dynamic ends (no fixed WAN address) and ends reached by DNS name in the plan: one passive 0.0.0.0/0
peer on the fixed end, one identity and policy template group per dynamic end, the firewall open to
any source for IKE/ESP, and the refusals naming tunnel and field."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan

PSK = "Dynamic-Psk-0123456789abcdef"
HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
            "ipsec_dns_name": "hub.vpn.example"},
    "s1": {"ipsec_wan_address": "dynamic", "ipsec_lan_prefixes": ["10.21.0.0/24"]},
    "s2": {"ipsec_wan_address": "dynamic", "ipsec_lan_prefixes": ["10.22.0.0/24"]},
}
TUNNELS = [{"name": "hub-s1", "a": "hub", "b": "s1", "auth": {"psk": PSK}},
           {"name": "hub-s2", "a": "hub", "b": "s2", "auth": {"psk": PSK}}]


def plan(host, tunnels=None, hostvars=None, features=("ipsec", "firewall")):
    return host_plan.plan_from_intent(host, TUNNELS if tunnels is None else tunnels,
                                      HOSTVARS if hostvars is None else hostvars, features=features)


def test_the_hub_answers_dynamic_ends_on_one_peer_with_an_identity_and_group_each():
    hub = plan("hub")
    (peer,) = hub.sections["peers"]
    assert (peer["name"], peer["address"], peer["passive"]) == ("ipsecfleet-dynamic", "0.0.0.0/0", "true")
    identities = hub.sections["identities"]
    assert [i["remote_id"] for i in identities] == ["fqdn:s1", "fqdn:s2"]
    assert all(i["peer"] == "ipsecfleet-dynamic" and i["generate_policy"] == "port-strict" for i in identities)
    groups = [g["name"] for g in hub.sections["policy_groups"]]
    assert groups == ["ipsecfleet-hub-s1", "ipsecfleet-hub-s2"]
    assert [i["policy_template_group"] for i in identities] == groups
    templates = hub.sections["policies"]
    assert [(p["group"], p["template"], p["dst_address"]) for p in templates] == [
        ("ipsecfleet-hub-s1", "true", "10.21.0.0/24"), ("ipsecfleet-hub-s2", "true", "10.22.0.0/24")]
    # IKE/NAT-T and ESP from any address: the identities, not the firewall, tell the spokes apart
    assert [e["address"] for e in hub.sections["address_lists"]] == ["0.0.0.0/0"]


def test_a_dynamic_end_initiates_to_the_hub_by_name_with_its_id():
    spoke = plan("s1")
    (peer,) = spoke.sections["peers"]
    assert (peer["address"], peer["passive"]) == ("hub.vpn.example", "false")
    (identity,) = spoke.sections["identities"]
    assert (identity["my_id"], identity["remote_id"]) == ("fqdn:s1", "fqdn:hub")
    assert [e["address"] for e in spoke.sections["address_lists"]] == ["hub.vpn.example"]
    ipsec_plan.validate_fleet(TUNNELS, HOSTVARS)          # both ends agree


@pytest.mark.parametrize("tunnel, hostvars, message", [
    (dict(TUNNELS[0], b={"host": "s1", "passive": True}), HOSTVARS, r"field 'b.passive': a dynamic end"),
    (dict(TUNNELS[0], ike_version=1, suite="ikev1-aes256cbc-sha256-modp2048"), HOSTVARS,
     r"field 'ike_version': a dynamic end needs IKEv2"),
    (dict(TUNNELS[0], a="s2"), HOSTVARS, r"field 'b.address': both ends are dynamic"),
    (TUNNELS[0], dict(HOSTVARS, hub=dict(HOSTVARS["hub"], ipsec_dns_name="not_a name")),
     r"dns_name \(host var ipsec_dns_name of hub\).*not a DNS name"),
])
def test_bad_dynamic_input_names_tunnel_and_field(tunnel, hostvars, message):
    with pytest.raises(IntentError, match=message):
        plan("s1", [tunnel], hostvars)


def test_tunnels_to_dynamic_ends_share_one_profile():
    tunnels = [TUNNELS[0], dict(TUNNELS[1], phase1_lifetime="8h")]
    with pytest.raises(IntentError, match="tunnel 'hub-s2': field 'suite': .*shares one passive peer"):
        plan("hub", tunnels)
