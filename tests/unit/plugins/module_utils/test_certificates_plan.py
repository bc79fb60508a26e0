"""Certificate authentication in the plan: identities of both ends agree (IDs, method, certificate
names), the certificates builder's items, and the controller PKI (issue, reuse, rotation window,
keys encrypted at rest)."""
import datetime as dt
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki as pki_mod

HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
            "ipsec_ike_id": "hub.vpn.example"},
    "br1": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24"]},
}
TUNNELS = [{"name": "hub-br1", "a": "hub", "b": "br1", "auth": {"method": "certificate"}}]
PASS = "controller-secret-123"
NOW = dt.datetime(2026, 3, 1)


def authority(tmp_path, now=NOW, **kwargs):
    return pki_mod.Pki(str(tmp_path / "pki"), PASS, now=lambda: now, **kwargs)


def plan_of(host, pki):
    tunnels = host_plan.intent_tunnels(host, TUNNELS, HOSTVARS)
    return host_plan.build_host_plan(host, tunnels, pki=pki)


def test_identities_of_both_ends_agree(tmp_path):
    ca = authority(tmp_path)
    hub = plan_of("hub", ca.material("hub", "hub.vpn.example"))
    br1 = plan_of("br1", ca.material("br1", "br1"))
    (hub_identity,), (br1_identity,) = hub.sections["identities"], br1.sections["identities"]
    assert hub_identity["auth_method"] == br1_identity["auth_method"] == "digital-signature"
    assert (hub_identity["my_id"], hub_identity["remote_id"]) == ("fqdn:hub.vpn.example", "fqdn:br1")
    assert (br1_identity["my_id"], br1_identity["remote_id"]) == ("fqdn:br1", "fqdn:hub.vpn.example")
    assert "secret" not in hub_identity
    names = [item["name"] for item in hub.sections["certificates"]]
    assert hub_identity["certificate"] == names[1] and names[1].startswith("ipsecfleet-hub-")
    assert names[0].startswith("ipsecfleet-ca-")
    # the two ends trust the same CA
    assert hub.sections["certificates"][0]["fingerprint"] == br1.sections["certificates"][0]["fingerprint"]
    tunnels, plans = ipsec_plan.validate_fleet(TUNNELS, HOSTVARS)   # both ends derived: consistent
    assert plans["hub"]["identities"][0]["remote_id"] == "fqdn:br1"


def test_without_controller_pki_the_tunnel_and_field_are_named():
    with pytest.raises(IntentError, match=r"tunnel 'hub-br1': field 'auth.method': .*ipsec_pki_dir"):
        plan_of("hub", None)


def test_a_bad_ike_id_is_refused_before_anything():
    hostvars = dict(HOSTVARS, br1=dict(HOSTVARS["br1"], ipsec_ike_id="not a name"))
    with pytest.raises(IntentError, match="ipsec_ike_id of br1.*not a DNS name"):
        host_plan.intent_tunnels("br1", TUNNELS, hostvars)


def test_router_certificate_names_its_id_and_the_key_stays_encrypted(tmp_path):
    ca = authority(tmp_path)
    material = ca.material("br1", "br1.vpn.example")
    cert = x509.load_pem_x509_certificate(material["own"]["pem"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["br1.vpn.example"]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    # on disk and in the plan the keys are encrypted; the plan's with its one-time passphrase
    for name in ("ca.key", "br1.key"):
        data = open(os.path.join(ca.directory, name), "rb").read()
        assert b"ENCRYPTED" in data
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(data, password=None)
        assert oct(os.stat(os.path.join(ca.directory, name)).st_mode & 0o777) == "0o600"
    key = serialization.load_pem_private_key(material["own"]["key_pem"].encode(),
                                             password=material["own"]["passphrase"].encode())
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_certificates_are_reused_until_the_rotation_window(tmp_path):
    first = authority(tmp_path).material("br1", "br1")
    again = authority(tmp_path, now=NOW + dt.timedelta(days=300)).material("br1", "br1")
    assert again["own"]["fingerprint"] == first["own"]["fingerprint"] and again["own"]["renewed"] is None
    rotated = authority(tmp_path, now=NOW + dt.timedelta(days=340)).material("br1", "br1")
    assert rotated["own"]["fingerprint"] != first["own"]["fingerprint"]
    assert "rotation window" in rotated["own"]["renewed"]
    assert rotated["ca"]["fingerprint"] == first["ca"]["fingerprint"]
    # a changed IKE ID is a new certificate too
    renamed = authority(tmp_path, now=NOW + dt.timedelta(days=341)).material("br1", "br1.new.example")
    assert "names br1, not br1.new.example" == renamed["own"]["renewed"]


def test_a_users_own_ca_is_used_instead(tmp_path):
    mine = authority(tmp_path / "mine")
    mine.ca()
    ca = pki_mod.Pki(str(tmp_path / "fleet"), PASS, ca_cert=mine.ca_cert_path, ca_key=mine.ca_key_path,
                     now=lambda: NOW)
    material = ca.material("br1", "br1")
    assert material["ca"]["pem"] == open(mine.ca_cert_path).read()
    assert not os.path.exists(os.path.join(str(tmp_path / "fleet"), "ca.key"))
    wrong = pki_mod.Pki(str(tmp_path / "other"), "another-passphrase", ca_cert=mine.ca_cert_path,
                        ca_key=mine.ca_key_path, now=lambda: NOW)
    with pytest.raises(pki_mod.PkiError, match="does not decrypt"):
        wrong.ca()


def test_pki_settings_are_checked():
    with pytest.raises(pki_mod.PkiError, match="ipsec_pki_passphrase"):
        pki_mod.Pki("/tmp/x", "short")
    with pytest.raises(pki_mod.PkiError, match="shorter than"):
        pki_mod.Pki("/tmp/x", PASS, validity_days=30, renew_before_days=30)


def test_certificate_apply_plan_imports_new_and_removes_stale():
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import certificates as engine
    desired = [{"name": "ipsecfleet-ca-aaaa", "fingerprint": "aa11", "trusted": "true", "pem": "P"},
               {"name": "ipsecfleet-br1-bbbb", "fingerprint": "bb22", "pem": "P", "key_pem": "K", "passphrase": "x"}]
    rows = [{".id": "*1", "name": "ipsecfleet-ca-aaaa", "fingerprint": "aa11", "private-key": "false"},
            {".id": "*2", "name": "ipsecfleet-br1-old0", "fingerprint": "0000", "private-key": "true"},
            {".id": "*3", "name": "their-cert", "fingerprint": "ffff"},
            {".id": "*4", "name": "ipsecfleet-br1-bbbb", "fingerprint": "bb22", "private-key": "false"}]
    imports, removals = engine.plan(rows, desired)
    # the CA is current; the router's certificate lacks its key: imported again; the old one goes
    assert [i["name"] for i in imports] == ["ipsecfleet-br1-bbbb"]
    assert [r[".id"] for r in removals] == ["*2"]
    assert all("K" not in line and "x" != line for line in engine.import_commands(imports[0]))
    assert engine.plan(rows, desired, "merged")[1] == []
    assert [r[".id"] for r in engine.plan(rows, [], "deleted")[1]] == ["*1", "*2", "*4"]
