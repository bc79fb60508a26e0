"""Remote-access client bundles (plugin_utils/client_profiles.py): certificates from the fleet PKI,
files with keys encrypted and private, idempotent, check mode writing nothing, rotation in the window."""
import datetime as dt
import os
import plistlib
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import remote_access
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import client_profiles
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki as pki_mod

HOSTVARS = {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
                    "ipsec_ike_id": "hub.vpn.example", "ipsec_dns_name": "hub.vpn.example",
                    "ipsec_remote_access": {"name": "staff", "pool": "10.99.0.0/24",
                                            "clients": [{"name": "alice", "id": "alice@example.net"},
                                                        {"name": "bob", "id": "bob@example.net"}]}}}
EXPORT = "export-passphrase-42"
ALL_FILES = sorted(["README.txt", "swanctl/swanctl.conf", "swanctl/x509ca/ipsecfleet-ca.crt", "swanctl/x509/alice.crt",
                    "swanctl/private/alice.key", "alice.p12", "alice.mobileconfig"])


@pytest.fixture
def clock():
    return {"now": dt.datetime(2026, 12, 7, 12, 0, 0)}


@pytest.fixture
def authority(tmp_path, clock):
    return pki_mod.Pki(str(tmp_path / "pki"), "controller-secret-123", validity_days=90, renew_before_days=14,
                       now=lambda: clock["now"])


def bundle(tmp_path, authority, **options):
    ra = remote_access.parse("hub", HOSTVARS)
    return client_profiles.write_bundles(ra, authority, str(tmp_path / "out"), EXPORT, **options)


def alice(tmp_path, name):
    return tmp_path / "out" / "hub" / "alice" / name


def test_a_bundle_holds_the_client_certificate_and_keys_encrypted_and_private(tmp_path, authority):
    outcome = bundle(tmp_path, authority)
    assert outcome["changed"]
    entry = outcome["clients"][0]
    assert entry["name"] == "alice" and entry["reason"] == "new" and sorted(entry["files"]) == ALL_FILES
    assert outcome["summary"][0].startswith("alice (alice@example.net): certificate new, 7 file(s) written")
    cert = x509.load_pem_x509_certificate(alice(tmp_path, "swanctl/x509/alice.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.net"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ca_cert, _ca_key = authority.ca()
    cert.verify_directly_issued_by(ca_cert)
    assert alice(tmp_path, "swanctl/x509ca/ipsecfleet-ca.crt").read_bytes() == ca_cert.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(TypeError):      # the key is encrypted ...
        serialization.load_pem_private_key(alice(tmp_path, "swanctl/private/alice.key").read_bytes(), password=None)
    key = serialization.load_pem_private_key(alice(tmp_path, "swanctl/private/alice.key").read_bytes(),
                                             password=EXPORT.encode())   # ... with the export passphrase
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    p12_key, p12_cert, extra = pkcs12.load_key_and_certificates(alice(tmp_path, "alice.p12").read_bytes(), EXPORT.encode())
    assert p12_cert == cert and extra == [ca_cert] and p12_key.public_key().public_numbers() == key.public_key().public_numbers()
    for name in ("swanctl/private/alice.key", "alice.p12", "alice.mobileconfig"):
        assert stat.S_IMODE(os.stat(str(alice(tmp_path, name))).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(str(tmp_path / "out" / "hub")).st_mode) == 0o700
    # nothing in the bundle holds the controller's passphrase or an unencrypted key
    for path in ALL_FILES:
        data = alice(tmp_path, path).read_bytes()
        assert b"controller-secret-123" not in data and b"BEGIN PRIVATE KEY" not in data and EXPORT.encode() not in data


def test_the_apple_profile_carries_the_identity_it_names(tmp_path, authority):
    bundle(tmp_path, authority)
    profile = plistlib.loads(alice(tmp_path, "alice.mobileconfig").read_bytes())
    by_type = dict((p["PayloadType"], p) for p in profile["PayloadContent"])
    vpn, identity = by_type["com.apple.vpn.managed"], by_type["com.apple.security.pkcs12"]
    assert vpn["IKEv2"]["PayloadCertificateUUID"] == identity["PayloadUUID"]
    assert vpn["IKEv2"]["LocalIdentifier"] == "alice@example.net" and vpn["IKEv2"]["RemoteIdentifier"] == "hub.vpn.example"
    assert identity["PayloadContent"] == alice(tmp_path, "alice.p12").read_bytes()


def test_a_second_run_rewrites_nothing_and_a_damaged_bundle_is_repaired(tmp_path, authority):
    bundle(tmp_path, authority)
    before = alice(tmp_path, "alice.p12").read_bytes()
    again = bundle(tmp_path, authority)
    assert not again["changed"] and [c["files"] for c in again["clients"]] == [[], []]
    assert [c["reason"] for c in again["clients"]] == [None, None]
    assert alice(tmp_path, "alice.p12").read_bytes() == before
    assert "certificate kept, bundle current" in again["summary"][0]
    alice(tmp_path, "swanctl/swanctl.conf").write_text("# edited by hand\n")
    alice(tmp_path, "alice.mobileconfig").unlink()
    repaired = bundle(tmp_path, authority)
    assert repaired["changed"] and repaired["clients"][0]["reason"] is None       # same certificate
    assert sorted(repaired["clients"][0]["files"]) == ALL_FILES and not repaired["clients"][1]["files"]
    assert alice(tmp_path, "swanctl/swanctl.conf").read_text().startswith("# ipsecfleet remote access staff")


def test_check_mode_issues_and_writes_nothing(tmp_path, authority):
    fresh = bundle(tmp_path, authority, check_mode=True)
    assert fresh["changed"] and sorted(fresh["clients"][0]["files"]) == ALL_FILES
    assert "would be written" in fresh["summary"][0]
    assert not (tmp_path / "pki").exists() and not (tmp_path / "out").exists()    # not even the CA
    bundle(tmp_path, authority)
    assert not bundle(tmp_path, authority, check_mode=True)["changed"]
    alice(tmp_path, "alice.p12").unlink()
    would = bundle(tmp_path, authority, check_mode=True)
    assert would["changed"] and would["clients"][0]["reason"] is None and "alice.p12" in would["clients"][0]["files"]
    assert not alice(tmp_path, "alice.p12").exists()


def test_a_certificate_inside_the_rotation_window_is_renewed(tmp_path, authority, clock):
    bundle(tmp_path, authority)
    first = alice(tmp_path, "swanctl/x509/alice.crt").read_bytes()
    clock["now"] += dt.timedelta(days=80)          # 90-day certificate, 14-day window
    assert "within the rotation window" in bundle(tmp_path, authority, check_mode=True)["clients"][0]["reason"]
    renewed = bundle(tmp_path, authority)
    assert "within the rotation window of 14 days" in renewed["clients"][0]["reason"]
    assert alice(tmp_path, "swanctl/x509/alice.crt").read_bytes() != first
    assert not bundle(tmp_path, authority)["changed"]


def test_a_changed_client_id_gets_a_new_certificate(tmp_path, authority):
    bundle(tmp_path, authority)
    changed = dict(HOSTVARS["hub"], ipsec_remote_access=dict(HOSTVARS["hub"]["ipsec_remote_access"], clients=[
        {"name": "alice", "id": "alice@corp.example"}]))
    ra = remote_access.parse("hub", {"hub": changed})
    outcome = client_profiles.write_bundles(ra, authority, str(tmp_path / "out"), EXPORT)
    assert outcome["clients"][0]["reason"] == "names alice@example.net, not alice@corp.example"


def test_only_the_named_clients_and_clear_errors(tmp_path, authority):
    outcome = bundle(tmp_path, authority, names=["bob"])
    assert [c["name"] for c in outcome["clients"]] == ["bob"] and not alice(tmp_path, "README.txt").exists()
    with pytest.raises(pki_mod.PkiError, match="no remote-access client named carol"):
        bundle(tmp_path, authority, names=["carol"])
    ra = remote_access.parse("hub", HOSTVARS)
    with pytest.raises(pki_mod.PkiError, match="at least 12 characters"):
        client_profiles.write_bundles(ra, authority, str(tmp_path / "out"), "short")
