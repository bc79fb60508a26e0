"""api-ssl as RouterOS runs it (roslab.tls): ``certificate=none`` speaks only anonymous DH, a
certificate from ``/certificate`` (with its key) is presented, ``tls-version=only-1.2`` caps the
protocol, and a change applies to the next connection.

Sources: manual "Services" (certificate default none, tls-version any|only-1.2), reference
routeros7-behaviour.md "API" ("Without a certificate, api-ssl uses anonymous-DH TLS"),
community.routeros's ``force_no_cert`` (ciphers ``ADH:@SECLEVEL=0``).
"""

import socket
import ssl

import pytest
from labfixtures import TWO_ROUTERS, lab_api, run

from roslab import tls
from roslab.control import Lab
from roslab.menus import API_SSL_CERTIFICATE


def handshake(lab, name, context, server_hostname=None):
    """(TLS version, cipher name, peer certificate DER or None) of one api-ssl handshake."""
    sock = socket.create_connection(("127.0.0.1", lab.ports[name]["api_ssl"]), timeout=10)
    try:
        wrapped = context.wrap_socket(sock, server_hostname=server_hostname)
        try:
            return wrapped.version(), wrapped.cipher()[0], wrapped.getpeercert(binary_form=True)
        finally:
            wrapped.close()
    finally:
        sock.close()


def service_row(api, name="api-ssl"):
    return dict((row["name"], row) for row in api.path("ip", "service"))[name]


def set_service(api, **values):
    api.path("ip", "service").update(**dict(values, **{".id": service_row(api)[".id"]}))


def test_lab_routers_come_with_a_certificate_on_api_ssl(lab):
    api = lab_api(lab)
    try:
        assert service_row(api)["certificate"] == API_SSL_CERTIFICATE
        held = dict((row["name"], row) for row in api.path("certificate"))[API_SSL_CERTIFICATE]
        assert held["private-key"] is True and held["common-name"] == "roslab"
    finally:
        api.close()
    version, _, peer = handshake(lab, "hub", lab.client_ssl_context(), server_hostname="127.0.0.1")
    assert version == "TLSv1.3" and peer is not None


def test_certificate_none_speaks_only_anonymous_dh_from_the_next_connection(lab):
    kept = lab_api(lab, tls=True)          # opened while the certificate was set: stays up
    set_service(kept, certificate="none")
    with pytest.raises(ssl.SSLError):
        handshake(lab, "hub", lab.client_ssl_context(verify=False))     # a default client refuses
    version, cipher, peer = handshake(lab, "hub", lab.client_ssl_context(anonymous=True))
    assert version == "TLSv1.2" and cipher.startswith("ADH-") and peer is None
    assert service_row(kept)["certificate"] == "none"
    kept.close()
    # librouteros over anonymous DH, as community.routeros's force_no_cert connects
    import librouteros
    context = tls.anonymous_client_context()
    anonymous = librouteros.connect(host="127.0.0.1", port=lab.ports["hub"]["api_ssl"], username="admin",
                                    password="", timeout=10, ssl_wrapper=context.wrap_socket)
    try:
        assert service_row(anonymous, "api")["port"] == 8728
    finally:
        anonymous.close()


def test_topology_can_leave_a_router_at_the_factory_certificate_none(make_lab):
    topology = {"routers": {"hub": {"api_ssl_certificate": "none"}, "spoke1": {}}}
    lab = make_lab(topology, fabric=False)
    api = lab_api(lab)
    try:
        assert service_row(api)["certificate"] == "none" and list(api.path("certificate")) == []
    finally:
        api.close()
    assert handshake(lab, "hub", lab.client_ssl_context(anonymous=True))[2] is None
    assert handshake(lab, "spoke1", lab.client_ssl_context(), server_hostname="127.0.0.1")[2] is not None


def test_topology_refuses_an_unknown_api_ssl_certificate_choice(tmp_path):
    with pytest.raises(ValueError, match="router hub: api_ssl_certificate must be one of lab, none"):
        Lab.from_topology({"routers": {"hub": {"api_ssl_certificate": "self-signed"}}}, state_dir=tmp_path)


def test_tls_version_only_1_2_caps_the_certificate_mode(lab):
    api = lab_api(lab)
    try:
        set_service(api, **{"tls-version": "only-1.2"})
    finally:
        api.close()
    assert handshake(lab, "hub", lab.client_ssl_context(), server_hostname="127.0.0.1")[0] == "TLSv1.2"


def test_a_certificate_signed_on_the_router_is_presented(lab):
    router = lab.router("hub")
    run(router, "/certificate/add", **{"name": "api", "common-name": "hub.example", "key-size": "prime256v1",
                                       "subject-alt-name": "IP:127.0.0.1"})
    run(router, "/certificate/sign", number="api")
    api = lab_api(lab)
    try:
        set_service(api, certificate="api")
    finally:
        api.close()
    _, _, peer = handshake(lab, "hub", lab.client_ssl_context(verify=False))
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    subject = x509.load_der_x509_certificate(peer).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hub.example"


def test_api_ssl_modes_without_a_lab_certificate_anywhere(make_lab):
    # no api-ssl at all (Lab(api_ssl=False)): routers keep the factory's certificate=none
    lab = make_lab(TWO_ROUTERS, api_ssl=False, fabric=False)
    api = lab_api(lab)
    try:
        assert service_row(api)["certificate"] == "none"
    finally:
        api.close()


def test_logins_sent_the_moment_the_handshake_ends_are_answered(lab):
    # a client writes /login as soon as TLS is up; that data can reach the lab before the session
    # is attached to the new TLS transport, and was lost (the example inventory's 52 routers timed out)
    from concurrent.futures import ThreadPoolExecutor

    def login(_):
        api = lab_api(lab, tls=True, timeout=5)
        try:
            return service_row(api)["certificate"]
        finally:
            api.close()

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(login, range(64))) == {API_SSL_CERTIFICATE}
