"""``/certificate``: real X.509 behind RouterOS's certificate store (parsed with ``cryptography``).

What a router keeps per certificate is the DER certificate and, when it has one, the private key
(never printed). Everything ``print`` shows is derived from them and the router's clock, so a
certificate expires in the lab when the lab clock passes its ``invalid-after``.

Facts (RouterOS 7.22.2 ``/console/inspect``, ``certificate`` tree): commands ``import``
(``file-name``, ``passphrase``, ``name``, ``trusted``, ``no-key-export``), ``sign`` (``ca``, ``name``),
``add`` (a template: ``common-name``, ``subject-alt-name``, ``key-usage``, ``key-size``,
``days-valid``, ``digest-algorithm``, ``trusted`` …); print properties ``name``, ``common-name``,
``subject-alt-name``, ``issuer``, ``serial-number``, ``fingerprint``, ``akid``, ``skid``,
``invalid-before``, ``invalid-after``, ``days-valid``, ``expires-after``, ``expired``, ``key-type``,
``key-size``, ``key-usage``, ``private-key``, ``authority``, ``trusted``, ``issued``, ``ca``,
``revoked``. Value shapes below that the tree does not give are marked UNCONFIRMED in
``docs``/here: the import reply counters (the console's ``certificates-imported: 1`` summary,
FIELD), the ``<file-name>_<n>`` names of imported certificates (FIELD), ``fingerprint`` as lowercase
SHA-256 hex, ``issuer`` as ``CN=…`` components in subject order, dates as ``yyyy-mm-dd hh:mm:ss``
(the 7.11+ date format of every other menu).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# RouterOS key-usage words (inspect `key-usage` desc) for X.509 KeyUsage bits and EKU OIDs
KEY_USAGE_BITS = (
    ("digital_signature", "digital-signature"), ("content_commitment", "content-commitment"),
    ("key_encipherment", "key-encipherment"), ("data_encipherment", "data-encipherment"),
    ("key_agreement", "key-agreement"), ("key_cert_sign", "key-cert-sign"), ("crl_sign", "crl-sign"),
)
EXTENDED_USAGE = (
    (ExtendedKeyUsageOID.SERVER_AUTH, "tls-server"), (ExtendedKeyUsageOID.CLIENT_AUTH, "tls-client"),
    (ExtendedKeyUsageOID.CODE_SIGNING, "code-sign"), (ExtendedKeyUsageOID.EMAIL_PROTECTION, "email-protect"),
    (ExtendedKeyUsageOID.TIME_STAMPING, "timestamp"), (ExtendedKeyUsageOID.OCSP_SIGNING, "ocsp-sign"),
)
CURVE_NAMES = {"secp256r1": "prime256v1", "secp384r1": "secp384r1", "secp521r1": "secp521r1"}
NAME_LABELS = ((NameOID.COUNTRY_NAME, "C"), (NameOID.STATE_OR_PROVINCE_NAME, "ST"), (NameOID.LOCALITY_NAME, "L"),
               (NameOID.ORGANIZATION_NAME, "O"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "OU"),
               (NameOID.COMMON_NAME, "CN"))
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# a SAN's kind as an IKE ID kind (my-id/remote-id words)
SAN_ID_KINDS = {"DNS": "fqdn", "IP": "address", "email": "user-fqdn"}


class Material(object):
    """A certificate and maybe its key, as the router stores them (PEM text, kept out of print)."""

    def __init__(self, cert, key=None):
        self.cert = cert
        self.key = key

    @property
    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self):
        if self.key is None:
            return None
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()


def load_cert(pem):
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def load_key(pem):
    return serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)


def fingerprint(cert):
    return cert.fingerprint(hashes.SHA256()).hex()


def _public_der(key_or_cert):
    public = key_or_cert.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert, key):
    return _public_der(cert) == _public_der(key)


def parse_file(data, passphrase=""):
    """What ``/certificate import`` finds in one file: (certificates, keys, decryption failures).

    PEM (any number of CERTIFICATE and PRIVATE KEY blocks, keys encrypted or not), DER, or PKCS#12."""
    if isinstance(data, str):
        raw = data.encode("latin-1", "replace")
    else:
        raw = data
    password = passphrase.encode() if passphrase else None
    certs, keys, failures = [], [], 0
    if b"-----BEGIN" in raw:
        for block in _pem_blocks(raw):
            label = block.split(b"\n", 1)[0]
            if b"CERTIFICATE" in label and b"REQUEST" not in label:
                try:
                    certs.append(x509.load_pem_x509_certificate(block))
                except ValueError:
                    continue
            elif b"PRIVATE KEY" in label:
                try:
                    keys.append(serialization.load_pem_private_key(block, password=password))
                except (ValueError, TypeError):
                    failures += 1
        return certs, keys, failures
    try:
        certs.append(x509.load_der_x509_certificate(raw))
        return certs, keys, failures
    except ValueError:
        pass
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(raw, password)
    except (ValueError, TypeError):
        return certs, keys, 1
    if cert is not None:
        certs.append(cert)
    certs.extend(extra or ())
    if key is not None:
        keys.append(key)
    return certs, keys, failures


def _pem_blocks(raw):
    blocks, current = [], None
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"-----BEGIN"):
            current = [line]
        elif current is not None:
            current.append(line)
            if line.startswith(b"-----END"):
                blocks.append(b"\n".join(current) + b"\n")
                current = None
    return blocks


def _name_text(name):
    parts = []
    for oid, label in NAME_LABELS:
        for attribute in name.get_attributes_for_oid(oid):
            parts.append("%s=%s" % (label, attribute.value))
    return ",".join(parts)


def common_name(name):
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else ""


def _extension(cert, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def subject_alt_names(cert):
    """SANs as (kind, value) with RouterOS's words DNS, IP, email."""
    san = _extension(cert, x509.SubjectAlternativeName)
    out = []
    if san is None:
        return out
    for entry in san:
        if isinstance(entry, x509.DNSName):
            out.append(("DNS", entry.value))
        elif isinstance(entry, x509.IPAddress):
            out.append(("IP", str(entry.value)))
        elif isinstance(entry, x509.RFC822Name):
            out.append(("email", entry.value))
    return out


def key_usage_words(cert):
    words = []
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None:
        for attribute, word in KEY_USAGE_BITS:
            if getattr(usage, attribute):
                words.append(word)
    extended = _extension(cert, x509.ExtendedKeyUsage)
    if extended is not None:
        for oid, word in EXTENDED_USAGE:
            if oid in extended:
                words.append(word)
    return words


def is_authority(cert):
    constraints = _extension(cert, x509.BasicConstraints)
    return bool(constraints and constraints.ca)


def _not_before(cert):
    return cert.not_valid_before_utc.replace(tzinfo=None)


def _not_after(cert):
    return cert.not_valid_after_utc.replace(tzinfo=None)


def _key_facts(public):
    if isinstance(public, rsa.RSAPublicKey):
        return "rsa", str(public.key_size)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ec", CURVE_NAMES.get(public.curve.name, public.curve.name)
    return "unknown", "0"


def print_props(material, now, format_time):
    """The print properties RouterOS derives from a certificate at the router's time ``now``."""
    cert = material.cert
    key_type, key_size = _key_facts(cert.public_key())
    before, after = _not_before(cert), _not_after(cert)
    props = {
        "common-name": common_name(cert.subject),
        "issuer": _name_text(cert.issuer),
        "serial-number": "%X" % cert.serial_number,
        "fingerprint": fingerprint(cert),
        "invalid-before": before.strftime(DATE_FORMAT),
        "invalid-after": after.strftime(DATE_FORMAT),
        "days-valid": str(max(0, (after - before).days)),
        "key-type": key_type,
        "key-size": key_size,
        "private-key": "true" if material.key is not None else "false",
        "authority": "true" if is_authority(cert) else "false",
        "expired": "true" if now > after else "false",
        "revoked": "false",
    }
    sans = subject_alt_names(cert)
    if sans:
        props["subject-alt-name"] = ",".join("%s:%s" % pair for pair in sans)
    usage = key_usage_words(cert)
    if usage:
        props["key-usage"] = ",".join(usage)
    if now <= after:
        props["expires-after"] = format_time(int((after - max(now, before)).total_seconds()))
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    if ski is not None:
        props["skid"] = ski.digest.hex()
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    if aki is not None and aki.key_identifier:
        props["akid"] = aki.key_identifier.hex()
    return props


# --- signing a template (`/certificate add` then `sign`) ---------------------------------------------
def new_key(key_size):
    """RouterOS `key-size`: 1024…8192 (RSA) or a curve name (inspect completions)."""
    curves = {"prime256v1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1()}
    if key_size in curves:
        return ec.generate_private_key(curves[key_size])
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_size or 2048))


def _parse_san(text):
    out = []
    for part in [p for p in (text or "").split(",") if p]:
        kind, _sep, value = part.partition(":")
        if kind == "DNS":
            out.append(x509.DNSName(value))
        elif kind == "IP":
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
        elif kind == "email":
            out.append(x509.RFC822Name(value))
    return out


def sign_template(template, now, ca=None):
    """Issue the certificate of a template (its ``add`` properties) at ``now``: self-signed without
    ``ca``, else signed by ``ca`` (a Material with a key). Returns the new Material."""
    key = new_key(template.get("key-size", "2048"))
    subject_parts = []
    for oid, prop in ((NameOID.COUNTRY_NAME, "country"), (NameOID.STATE_OR_PROVINCE_NAME, "state"),
                      (NameOID.LOCALITY_NAME, "locality"), (NameOID.ORGANIZATION_NAME, "organization"),
                      (NameOID.ORGANIZATIONAL_UNIT_NAME, "unit"), (NameOID.COMMON_NAME, "common-name")):
        if template.get(prop):
            subject_parts.append(x509.NameAttribute(oid, template[prop]))
    subject = x509.Name(subject_parts)
    issuer = ca.cert.subject if ca else subject
    signing_key = ca.key if ca else key
    days = int(template.get("days-valid", "365") or 365)
    usage = set((template.get("key-usage") or "").split(","))
    authority = "key-cert-sign" in usage
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + _dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    bits = dict((word, attribute) for attribute, word in KEY_USAGE_BITS)
    if usage & set(bits):
        flags = dict((attribute, False) for attribute, _word in KEY_USAGE_BITS)
        for word in usage & set(bits):
            flags[bits[word]] = True
        builder = builder.add_extension(x509.KeyUsage(encipher_only=False, decipher_only=False, **flags),
                                        critical=True)
    ekus = [oid for oid, word in EXTENDED_USAGE if word in usage]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    sans = _parse_san(template.get("subject-alt-name"))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    digest = {"sha1": hashes.SHA1(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}.get(
        template.get("digest-algorithm"), hashes.SHA256())
    cert = builder.sign(signing_key, digest)
    return Material(cert, key)


# --- verification during IKE authentication ---------------------------------------------------------
def verify_chain(cert, trusted_cas, now, intermediates=()):
    """Does ``cert`` chain to one of ``trusted_cas`` (certificates) at ``now``?

    Returns None when it does, else the reason: ``untrusted`` (no trusted issuer verifies its
    signature), ``expired``, ``not-yet-valid`` (this certificate or one on its chain)."""
    chain = [cert]
    current = cert
    pool = list(intermediates) + list(trusted_cas)
    for _depth in range(8):
        if _not_after(current) < now:
            return "expired"
        if _not_before(current) > now:
            return "not-yet-valid"
        if any(fingerprint(current) == fingerprint(ca) for ca in trusted_cas) and current is not cert:
            return None
        issuer = None
        for candidate in pool:
            if candidate.subject != current.issuer or not is_authority(candidate):
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except Exception:   # InvalidSignature, or a key type that cannot have signed it
                continue
            issuer = candidate
            break
        if issuer is None:
            return "untrusted"
        if any(fingerprint(issuer) == fingerprint(ca) for ca in trusted_cas):
            if _not_after(issuer) < now:
                return "expired"
            if _not_before(issuer) > now:
                return "not-yet-valid"
            return None
        chain.append(issuer)
        current = issuer
    return "untrusted"


def certificate_ids(cert):
    """The IKE identities a certificate vouches for: its subject DN and each SAN, as (kind, value)
    in RouterOS's my-id/remote-id words (dn, fqdn, address, user-fqdn)."""
    ids = [("dn", _name_text(cert.subject))]
    for kind, value in subject_alt_names(cert):
        ids.append((SAN_ID_KINDS[kind], value))
    return ids


def auto_id(cert):
    """``my-id=auto`` with a certificate: "SAN or ASN.1 DN from certificate" (inspect completion desc):
    the first SAN when there is one, else the subject DN."""
    sans = subject_alt_names(cert)
    if sans:
        kind, value = sans[0]
        return (SAN_ID_KINDS[kind], value)
    return ("dn", _name_text(cert.subject))
