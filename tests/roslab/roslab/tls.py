"""api-ssl certificate: one self-signed certificate per lab state dir, generated once and cached.

A real router without a certificate offers anonymous-DH TLS, which modern clients refuse; a lab
certificate for ``127.0.0.1``/``localhost`` lets clients either skip verification or verify
against ``<state-dir>/tls/cert.pem``.
"""

import datetime
import os
import ssl

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


def server_context(directory):
    cert_path, key_path = ensure_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
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
