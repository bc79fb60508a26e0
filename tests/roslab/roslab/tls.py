"""api-ssl TLS: what a router's ``/ip service api-ssl`` speaks, and the lab's own certificate.

RouterOS (manual "Services"; reference routeros7-behaviour.md "API"): with ``certificate=none``
(the factory value) api-ssl speaks only anonymous-DH TLS, which a default client refuses and
community.routeros's ``force_no_cert`` (ciphers ``ADH:@SECLEVEL=0``) accepts; with a certificate
from ``/certificate`` that has its private key it presents that certificate. ``tls-version``
(inspect 7.22.2: ``any``, ``only-1.2``) caps the protocol at TLS 1.2. Anonymous DH has no TLS 1.3
form, so that mode is TLS 1.2 whatever ``tls-version`` says.

The lab gives every router one self-signed certificate for ``127.0.0.1``/``localhost`` (per state
dir, generated once, ``<state-dir>/tls/cert.pem``), imported into its ``/certificate`` and set on
api-ssl as an operator would (a topology's ``api_ssl_certificate: none`` leaves a router at the
factory's anonymous DH). Which context a connection gets is decided when it is accepted, from the
router's configuration at that moment, so ``/ip service set api-ssl certificate=…`` takes effect
for the next connection as on RouterOS.
"""

import datetime
import hashlib
import os
import ssl

# RFC 7919 ffdhe2048: fixed, well-known finite-field DH group for the anonymous-DH mode (OpenSSL
# needs DH parameters for ADH suites; generating them per lab would cost seconds)
FFDHE2048_PEM = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""
# what community.routeros's force_no_cert offers, and what the anonymous mode accepts
ANONYMOUS_CIPHERS = "ADH:@SECLEVEL=0"

CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"


def ensure_certificate(directory):
    """Return (cert_path, key_path), generating a self-signed EC certificate if missing."""
    os.makedirs(directory, exist_ok=True)
    cert_path = os.path.join(directory, CERT_NAME)
    key_path = os.path.join(directory, KEY_NAME)
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path

    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "roslab")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    # write to temporary names first so a concurrent lab never reads half a file
    tmp_key, tmp_cert = key_path + ".tmp%d" % os.getpid(), cert_path + ".tmp%d" % os.getpid()
    with open(tmp_key, "wb") as handle:
        os.chmod(tmp_key, 0o600)
        handle.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    with open(tmp_cert, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_key, key_path)
    os.replace(tmp_cert, cert_path)
    return cert_path, key_path


def lab_certificate(directory):
    """(cert PEM, key PEM) of the lab's api-ssl certificate, generated on first use."""
    cert_path, key_path = ensure_certificate(directory)
    with open(cert_path) as cert, open(key_path) as key:
        return cert.read(), key.read()


def server_context(directory):
    """A context presenting the lab certificate (test doubles that need a fixed TLS endpoint)."""
    cert_path, key_path = ensure_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def _write_private(path, text):
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as handle:
        os.chmod(tmp, 0o600)
        handle.write(text)
    os.replace(tmp, path)


class ServerContexts(object):
    """Server contexts for api-ssl, one per (certificate, tls-version), built on first use.

    ``for_settings(settings)`` takes what ``router.api_ssl()`` returns: ``{"certificate": (cert
    PEM, key PEM) or None, "tls_version": "any" | "only-1.2"}``.
    """

    def __init__(self, directory):
        self.directory = directory
        self._contexts = {}

    def for_settings(self, settings):
        settings = settings or {}
        pair = settings.get("certificate")
        only_12 = settings.get("tls_version") == "only-1.2"
        key = (hashlib.sha256("".join(pair).encode()).hexdigest() if pair else None, only_12)
        context = self._contexts.get(key)
        if context is None:
            context = self._build(pair, only_12, key[0])
            self._contexts[key] = context
        return context

    def _build(self, pair, only_12, digest):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if pair is None:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(ANONYMOUS_CIPHERS)
            params = os.path.join(self._dir(), "ffdhe2048.pem")
            if not os.path.exists(params):
                _write_private(params, FFDHE2048_PEM)
            context.load_dh_params(params)
            return context
        if only_12:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain reads files: the router's certificate and key, kept private in the state dir
        cert_path = os.path.join(self._dir(), "served-%s.pem" % digest[:16])
        if not os.path.exists(cert_path):
            _write_private(cert_path, pair[0].rstrip("\n") + "\n" + pair[1])
        context.load_cert_chain(cert_path)
        return context

    def _dir(self):
        os.makedirs(self.directory, exist_ok=True)
        return self.directory


def anonymous_client_context():
    """What community.routeros's ``force_no_cert`` builds: a default context offering ADH suites."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.set_ciphers(ANONYMOUS_CIPHERS)
    return context


def client_context(directory=None, verify=True):
    """A client context trusting the lab certificate (or not verifying at all)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify and directory is not None:
        context.load_verify_locations(os.path.join(directory, CERT_NAME))
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
