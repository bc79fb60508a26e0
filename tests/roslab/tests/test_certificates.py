"""/certificate with real X.509 (roslab.certificates): import from /file, sign, print fields, and the
certificate checks of IKE authentication (chain, dates against the lab clock, identities)."""

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from roslab.fabric import Fabric
from roslab.menus import LAB_EPOCH, build_router

HUB_WAN, SPOKE_WAN = "198.51.100.1", "198.51.100.2"


def run(router, command, **attributes):
    return router.execute(command, {k.replace("_", "-"): v for k, v in attributes.items()}, [])


# --- a CA outside the lab (what an operator's controller holds) ------------------------------------
class Ca(object):
    def __init__(self, cn, start=LAB_EPOCH, days=3650):
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, cn, sans=(), start=LAB_EPOCH, days=365):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(start)
                   .not_valid_after(start + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]),
                                            critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    @property
    def pem(self):
        return pem(self.cert)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key, passphrase):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode())).decode()


def upload(router, name, text):
    run(router, "/file/add", name=name, contents=text)


def install(router, ca, cert, key, name, passphrase="k3y-pass"):
    """What the collection does: CA and own certificate+encrypted key uploaded as /file, imported."""
    upload(router, "fleet-ca.crt", ca.pem)
    run(router, "/certificate/import", file_name="fleet-ca.crt", name="fleet-ca", passphrase="")
    upload(router, name + ".crt", pem(cert) + key_pem(key, passphrase))
    return run(router, "/certificate/import", file_name=name + ".crt", name=name, passphrase=passphrase).done


# --- the store --------------------------------------------------------------------------------------
def test_import_from_file_derives_print_fields_from_the_certificate():
    router = build_router("hub")
    ca = Ca("fleet-ca")
    cert, key = ca.issue("hub", sans=("hub.example.net",))
    done = install(router, ca, cert, key, "hub-cert")
    assert done["certificates-imported"] == "1" and done["private-keys-imported"] == "1"
    rows = {row["name"]: row for row in router.items("/certificate")}
    assert rows["fleet-ca"]["authority"] == "true" and rows["fleet-ca"]["private-key"] == "false"
    own = rows["hub-cert"]
    assert own["common-name"] == "hub" and own["issuer"] == "CN=fleet-ca"
    assert own["subject-alt-name"] == "DNS:hub.example.net" and own["private-key"] == "true"
    assert own["fingerprint"] == cert.fingerprint(hashes.SHA256()).hex()
    assert own["serial-number"] == "%X" % cert.serial_number
    assert own["invalid-after"] == "2027-01-01 00:00:00" and own["expired"] == "false"
    # the PEM and key are kept, never printed
    assert "x509" not in own and "x509-key" not in own
    # the same certificate is not imported twice
    again = run(router, "/certificate/import", file_name="hub-cert.crt", passphrase="k3y-pass").done
    assert again["certificates-imported"] == "0" and len(router.items("/certificate")) == 2


def test_a_wrong_passphrase_is_a_decryption_failure_not_a_key():
    router = build_router("hub")
    ca = Ca("fleet-ca")
    cert, key = ca.issue("hub")
    upload(router, "hub.crt", pem(cert))
    upload(router, "hub.key", key_pem(key, "right"))
    run(router, "/certificate/import", file_name="hub.crt", name="hub-cert")
    done = run(router, "/certificate/import", file_name="hub.key", passphrase="wrong").done
    assert done["decryption-failures"] == "1" and done["private-keys-imported"] == "0"
    assert router.items("/certificate")[0]["private-key"] == "false"
    done = run(router, "/certificate/import", file_name="hub.key", passphrase="right").done
    assert done["private-keys-imported"] == "1"
    assert router.items("/certificate")[0]["private-key"] == "true"


def test_pkcs12_import_and_expiry_follows_the_router_clock():
    router = build_router("hub")
    ca = Ca("fleet-ca")
    cert, key = ca.issue("hub", days=30)
    blob = pkcs12.serialize_key_and_certificates(b"hub", key, cert, [ca.cert],
                                                 serialization.BestAvailableEncryption(b"p12pass"))
    upload(router, "hub.p12", blob.decode("latin-1"))
    done = run(router, "/certificate/import", file_name="hub.p12", passphrase="p12pass").done
    assert done["certificates-imported"] == "2" and done["private-keys-imported"] == "1"
    own = next(row for row in router.items("/certificate") if row["common-name"] == "hub")
    assert own["name"] == "hub.p12_0" and own["expires-after"] == "4w2d"
    router.clock = 31 * 86400.0
    own = next(row for row in router.items("/certificate") if row["common-name"] == "hub")
    assert own["expired"] == "true" and "expires-after" not in own


def test_sign_issues_templates_and_a_signed_certificate_keeps_its_subject():
    router = build_router("hub")
    run(router, "/certificate/add", name="ca", common_name="local-ca", key_usage="key-cert-sign,crl-sign",
        key_size="prime256v1")
    run(router, "/certificate/sign", number="ca")
    run(router, "/certificate/add", name="srv", common_name="srv", key_size="prime256v1",
        subject_alt_name="DNS:srv.example")
    run(router, "/certificate/sign", number="srv", ca="ca")
    rows = {row["name"]: row for row in router.items("/certificate")}
    assert rows["ca"]["trusted"] == "true" and rows["ca"]["authority"] == "true"
    assert rows["srv"]["issuer"] == "CN=local-ca" and rows["srv"]["ca"] == "ca"
    assert rows["srv"]["private-key"] == "true" and rows["srv"]["akid"] == rows["ca"]["skid"]
    with pytest.raises(Exception) as refused:
        run(router, "/certificate/set", numbers="srv", common_name="other")
    assert "signed" in str(refused.value)
    run(router, "/certificate/set", numbers="srv", name="srv2")
    with pytest.raises(Exception):
        run(router, "/certificate/sign", number="srv2")     # already a certificate


def test_certificates_survive_a_reboot():
    router = build_router("hub")
    ca = Ca("fleet-ca")
    cert, key = ca.issue("hub")
    install(router, ca, cert, key, "hub-cert")
    before = router.items("/certificate")
    router.restore(router.snapshot())
    assert router.items("/certificate") == before


# --- IKE with certificates --------------------------------------------------------------------------
def _router(name, wan, lan):
    return build_router(name, interfaces=[{"name": "ether1"}, {"name": "ether2"}],
                        addresses=[{"address": wan + "/24", "interface": "ether1"},
                                   {"address": lan, "interface": "ether2"}])


def _cert_tunnel(router, remote_wan, local_lan, remote_lan, own, passive="no", remote_id="auto", my_id="auto"):
    run(router, "/ip/ipsec/profile/add", name="ike", enc_algorithm="aes-256", hash_algorithm="sha256",
        dh_group="ecp256")
    run(router, "/ip/ipsec/proposal/add", name="esp", enc_algorithms="aes-256-cbc", auth_algorithms="sha256",
        pfs_group="ecp256")
    run(router, "/ip/ipsec/peer/add", name="other", address=remote_wan + "/32", profile="ike",
        exchange_mode="ike2", passive=passive)
    run(router, "/ip/ipsec/identity/add", peer="other", auth_method="digital-signature", certificate=own,
        remote_id=remote_id, my_id=my_id)
    run(router, "/ip/ipsec/policy/add", peer="other", src_address=local_lan, dst_address=remote_lan,
        tunnel="yes", proposal="esp")


def cert_lab(hub_ca=None, spoke_ca=None, spoke_start=LAB_EPOCH, spoke_days=365, hub_remote_id="fqdn:spoke.example",
             spoke_san="spoke.example", spoke_my_id="auto"):
    hub = _router("hub", HUB_WAN, "10.10.0.1/24")
    spoke = _router("spoke", SPOKE_WAN, "10.20.0.1/24")
    fleet = hub_ca or Ca("fleet-ca")
    issuer = spoke_ca or fleet
    hub_cert, hub_key = fleet.issue("hub", sans=("hub.example",))
    spoke_cert, spoke_key = issuer.issue("spoke", sans=(spoke_san,), start=spoke_start, days=spoke_days)
    install(hub, fleet, hub_cert, hub_key, "hub-cert")
    install(spoke, fleet, spoke_cert, spoke_key, "spoke-cert")
    _cert_tunnel(hub, SPOKE_WAN, "10.10.0.0/24", "10.20.0.0/24", "hub-cert", passive="yes", remote_id=hub_remote_id)
    _cert_tunnel(spoke, HUB_WAN, "10.20.0.0/24", "10.10.0.0/24", "spoke-cert", remote_id="fqdn:hub.example",
                 my_id=spoke_my_id)
    for router in (hub, spoke):  # the IPsec log as one enables it to troubleshoot
        router.execute("/system/logging/add", {"topics": "ipsec"}, [])
    return Fabric({"hub": hub, "spoke": spoke}, [["hub:ether1", "spoke:ether1"]])


def messages(router):
    return [row["message"] for row in router.items("/log") if row["topics"].startswith("ipsec")]


def established(fabric):
    return [row for row in fabric.routers["spoke"].items("/ip/ipsec/active-peers") if row["state"] == "established"]


def test_certificate_tunnel_establishes_and_carries_traffic():
    fabric = cert_lab()
    fabric.tick(1)
    assert established(fabric)
    assert fabric.send("spoke", "10.20.0.5", "10.10.0.5")


def test_certificate_from_another_ca_is_refused_with_the_log_line():
    fabric = cert_lab(spoke_ca=Ca("other-ca"))
    fabric.tick(1)
    assert not established(fabric)
    hub_log = messages(fabric.routers["hub"])
    assert "can't verify peer's certificate from store" in hub_log
    assert "reply notify: AUTHENTICATION_FAILED" in hub_log
    assert "got fatal error: AUTHENTICATION_FAILED" in messages(fabric.routers["spoke"])


def test_an_expired_certificate_is_refused_and_expiry_follows_the_lab_clock():
    fabric = cert_lab(spoke_start=LAB_EPOCH - dt.timedelta(days=40), spoke_days=30)
    fabric.tick(1)
    assert not established(fabric)
    assert "peer's certificate has expired" in messages(fabric.routers["hub"])
    # valid today, expired when the lab clock passes invalid-after: the next negotiation fails
    fabric = cert_lab(spoke_days=2)
    fabric.tick(1)
    assert established(fabric)
    fabric.tick(3 * 86400)
    fabric.routers["spoke"].execute("/ip/ipsec/active-peers/kill-connections", {}, [])
    fabric.tick(1)
    assert not established(fabric)
    assert "peer's certificate has expired" in messages(fabric.routers["hub"])


def test_a_wrong_remote_id_finds_no_identity():
    fabric = cert_lab(hub_remote_id="fqdn:someone-else.example")
    fabric.tick(1)
    assert not established(fabric)
    assert any(line.startswith("identity not found for responder: ") and "FQDN:spoke.example" in line
               for line in messages(fabric.routers["hub"]))


def test_an_id_the_certificate_does_not_name_is_refused():
    # the spoke claims the hub's expected ID, but its certificate names another spoke
    fabric = cert_lab(spoke_san="spoke2.example", spoke_my_id="fqdn:spoke.example")
    fabric.tick(1)
    assert not established(fabric)
    assert "peer's ID does not match certificate: FQDN:spoke.example" in messages(fabric.routers["hub"])


def test_removing_the_ca_fails_the_next_negotiation_not_the_established_sa():
    fabric = cert_lab()
    fabric.tick(1)
    assert established(fabric)
    hub = fabric.routers["hub"]
    ca = next(row for row in hub.items("/certificate") if row["name"] == "fleet-ca")
    run(hub, "/certificate/remove", **{".id": ca[".id"]})
    fabric.tick(1)
    assert established(fabric)                  # an established SA is not re-checked
    fabric.router_down("spoke")
    fabric.router_up("spoke")                   # a new negotiation authenticates again
    fabric.tick(1)
    assert not established(fabric)
    assert "can't verify peer's certificate from store" in messages(hub)


def test_a_peer_addressed_by_dns_name_initiates_once_the_name_resolves():
    fabric = cert_lab()
    spoke = fabric.routers["spoke"]
    peer = spoke.items("/ip/ipsec/peer")[0]
    run(spoke, "/ip/ipsec/peer/set", **{".id": peer[".id"], "address": "hub.example"})
    fabric.tick(1)
    assert not established(fabric)                    # the lab's DNS does not know the name yet
    fabric.set_dns("hub.example", HUB_WAN)
    fabric.tick(1)
    assert established(fabric)
    assert spoke.items("/ip/ipsec/peer")[0]["current-address"] == HUB_WAN
    fabric.tick(1)
    assert established(fabric)                        # resolving again is no configuration change
