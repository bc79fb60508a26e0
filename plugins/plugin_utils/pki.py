# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet PKI on the controller (``cryptography``, a dependency of ansible-core).

A directory (``ipsec_pki_dir``) holds the fleet CA (``ca.crt``, ``ca.key``) or names a user's own CA
(``ipsec_pki_ca_cert``/``ipsec_pki_ca_key``), and one certificate per router (``<host>.crt``,
``<host>.key``). Every private key on disk is encrypted with ``ipsec_pki_passphrase`` (PKCS#8,
BestAvailableEncryption); a router's key leaves the controller only re-encrypted with a one-time
passphrase for ``/certificate import`` (module_utils/apply/certificates.py).

A router certificate: EC P-256, subject CN and SAN ``DNS:<ipsec_ike_id>`` (the ID its identity
sends, so the peer's ``remote-id=fqdn:...`` check and the certificate agree), key usage
digitalSignature, extended key usage serverAuth+clientAuth (what strongSwan-based clients expect of
an IKEv2 server certificate, docs/remote-access.md). It is re-issued (rotated) when it is missing,
names another ID, was not issued by the current CA, or expires within ``renew_before_days``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import secrets
import tempfile

from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as import_error:  # the action plugins load without it; only certificate tunnels need it
    CRYPTOGRAPHY_IMPORT_ERROR = import_error

CA_CN = "ipsecfleet fleet CA"
CA_DAYS = 3650
DEFAULT_VALIDITY_DAYS = 365
DEFAULT_RENEW_BEFORE_DAYS = 30
# certificates are valid from a little before they are made: clocks of routers differ
BACKDATE = datetime.timedelta(hours=1)


class PkiError(Exception):
    pass


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _fingerprint(cert):
    return cert.fingerprint(hashes.SHA256()).hex()


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _encrypted(key, passphrase):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode("utf-8"))).decode("ascii")


def _not_after(cert):
    return cert.not_valid_after_utc.replace(tzinfo=None)


def _write_private(path, text):
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except Exception:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class Pki(object):
    """The fleet CA and the routers' certificates in ``directory``."""

    def __init__(self, directory, passphrase, validity_days=DEFAULT_VALIDITY_DAYS,
                 renew_before_days=DEFAULT_RENEW_BEFORE_DAYS, ca_cert=None, ca_key=None, now=utcnow):
        if CRYPTOGRAPHY_IMPORT_ERROR is not None:
            raise PkiError("certificate tunnels need the Python package 'cryptography' on the controller "
                           "(pip install cryptography): %s" % CRYPTOGRAPHY_IMPORT_ERROR)
        if not directory:
            raise PkiError("ipsec_pki_dir is not set: certificate tunnels need a controller directory for the PKI")
        if not passphrase or len(passphrase) < 12:
            raise PkiError("ipsec_pki_passphrase must be set (at least 12 characters, a vault secret): it "
                           "encrypts every private key the controller keeps")
        self.directory = directory
        self.passphrase = passphrase
        self.validity = datetime.timedelta(days=int(validity_days))
        self.renew_before = datetime.timedelta(days=int(renew_before_days))
        if self.renew_before >= self.validity:
            raise PkiError("ipsec_pki_renew_before_days (%s) must be shorter than ipsec_pki_validity_days (%s)"
                           % (renew_before_days, validity_days))
        self.ca_cert_path = ca_cert or os.path.join(directory, "ca.crt")
        self.ca_key_path = ca_key or os.path.join(directory, "ca.key")
        self.user_ca = bool(ca_cert)
        self.now = now
        self._ca = None

    @contextmanager
    def _locked(self):
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700)
        with open(os.path.join(self.directory, ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)   # forks of one play share the directory
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _load_key(self, path):
        with open(path, "rb") as stream:
            data = stream.read()
        try:
            return serialization.load_pem_private_key(data, password=self.passphrase.encode("utf-8"))
        except TypeError:
            raise PkiError("%s is not encrypted: keep every private key encrypted with ipsec_pki_passphrase" % path)
        except ValueError:
            raise PkiError("%s does not decrypt with ipsec_pki_passphrase" % path)

    def ca(self):
        """(certificate, key) of the CA, created on first use unless a user's CA is configured."""
        if self._ca is not None:
            return self._ca
        with self._locked():
            if os.path.exists(self.ca_cert_path):
                with open(self.ca_cert_path, "rb") as stream:
                    cert = x509.load_pem_x509_certificate(stream.read())
                key = self._load_key(self.ca_key_path)
                if cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo) != \
                        key.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo):
                    raise PkiError("%s does not belong to %s" % (self.ca_key_path, self.ca_cert_path))
            elif self.user_ca:
                raise PkiError("ipsec_pki_ca_cert %s does not exist" % self.ca_cert_path)
            else:
                cert, key = self._new_ca()
                _write_private(self.ca_key_path, _encrypted(key, self.passphrase))
                _write_private(self.ca_cert_path, _pem(cert))
        self._ca = (cert, key)
        return self._ca

    def _new_ca(self):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_CN)])
        start = self.now() - BACKDATE
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start)
                .not_valid_after(start + datetime.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=True,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cert, key

    def issue(self, ike_id, start=None, days=None, client=False):
        """A new certificate signed by the CA: (certificate, key). A router's names ``ike_id`` as its
        DNS SAN (serverAuth+clientAuth); a remote-access client's (``client``) names its user-fqdn ID
        as its e-mail SAN (what the hub's ``remote-id=user-fqdn:`` matches), clientAuth only."""
        ca_cert, ca_key = self.ca()
        key = ec.generate_private_key(ec.SECP256R1())
        start = (start or self.now()) - BACKDATE
        validity = datetime.timedelta(days=days) if days else self.validity
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ike_id)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start)
                .not_valid_after(start + validity)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=False, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH] if client else
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.RFC822Name(ike_id) if client else x509.DNSName(ike_id)]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cert, key

    def needs_renewal(self, cert, ike_id, client=False):
        """Why ``cert`` must be replaced (a sentence), or None when it is fine."""
        ca_cert, _key = self.ca()
        try:
            cert.verify_directly_issued_by(ca_cert)
        except Exception:
            return "not issued by the current CA"
        kind = x509.RFC822Name if client else x509.DNSName
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = names.get_values_for_type(kind)
        except x509.ExtensionNotFound:
            dns = []
        if dns != [ike_id]:
            return "names %s, not %s" % (", ".join(dns) or ("no e-mail name" if client else "no DNS name"), ike_id)
        if self.now() >= _not_after(cert) - self.renew_before:
            return "expires %s, within the rotation window of %d days" % (
                _not_after(cert).strftime("%Y-%m-%d"), self.renew_before.days)
        return None

    def router(self, host, ike_id):
        """(certificate, key, reason) of ``host``: the stored one, or a new one and why it was made."""
        crt = os.path.join(self.directory, "%s.crt" % host)
        keyfile = os.path.join(self.directory, "%s.key" % host)
        self.ca()
        with self._locked():
            reason = "new"
            if os.path.exists(crt) and os.path.exists(keyfile):
                with open(crt, "rb") as stream:
                    cert = x509.load_pem_x509_certificate(stream.read())
                reason = self.needs_renewal(cert, ike_id)
                if reason is None:
                    return cert, self._load_key(keyfile), None
            cert, key = self.issue(ike_id)
            _write_private(keyfile, _encrypted(key, self.passphrase))
            _write_private(crt, _pem(cert))
        return cert, key, reason

    def _client_paths(self, hub, name):
        directory = os.path.join(self.directory, "clients", hub)
        return directory, os.path.join(directory, "%s.crt" % name), os.path.join(directory, "%s.key" % name)

    def client_reason(self, hub, name, client_id):
        """Why remote-access client ``name`` of ``hub`` needs a (new) certificate, or None; writes nothing
        (check mode)."""
        _directory, crt, keyfile = self._client_paths(hub, name)
        if not (os.path.exists(crt) and os.path.exists(keyfile)):
            return "new"
        with open(crt, "rb") as stream:
            return self.needs_renewal(x509.load_pem_x509_certificate(stream.read()), client_id, client=True)

    def stored_client_pem(self, hub, name):
        """PEM text of the certificate the PKI holds for a client, or None."""
        _directory, crt, _keyfile = self._client_paths(hub, name)
        if not os.path.exists(crt):
            return None
        with open(crt) as stream:
            return stream.read()

    def client(self, hub, name, client_id):
        """(certificate, key, reason) of a remote-access client: the stored one (``<dir>/clients/<hub>/``,
        key encrypted like every other), or a new one and why it was made."""
        directory, crt, keyfile = self._client_paths(hub, name)
        self.ca()
        with self._locked():
            reason = self.client_reason(hub, name, client_id)
            if reason is None:
                with open(crt, "rb") as stream:
                    return x509.load_pem_x509_certificate(stream.read()), self._load_key(keyfile), None
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700)
            cert, key = self.issue(client_id, client=True)
            _write_private(keyfile, _encrypted(key, self.passphrase))
            _write_private(crt, _pem(cert))
        return cert, key, reason

    def material(self, host, ike_id):
        """What the planner needs for ``host`` (plan/certificates.py): the CA and the router's
        certificate, its key encrypted with a one-time passphrase for the upload."""
        ca_cert, _ca_key = self.ca()
        cert, key, reason = self.router(host, ike_id)
        one_time = secrets.token_urlsafe(24)
        return {"ca": {"pem": _pem(ca_cert), "fingerprint": _fingerprint(ca_cert)},
                "own": {"pem": _pem(cert), "fingerprint": _fingerprint(cert), "key_pem": _encrypted(key, one_time),
                        "passphrase": one_time, "renewed": reason,
                        "invalid_after": _not_after(cert).strftime("%Y-%m-%d %H:%M:%S")}}


def client_export(name, cert, key, ca_cert, passphrase):
    """What a client device gets, every key encrypted with ``passphrase`` (the operator hands it over
    apart from the files): (certificate PEM, PKCS#8 key PEM, PKCS#12 bytes with certificate, key and CA).
    The PKCS#12 uses PBES1 SHA1/3DES and a SHA1 MAC: Apple's and Windows' importers reject the
    AES/PBES2 files that ``BestAvailableEncryption`` makes (macOS before 14, Windows before Server 2019)."""
    if not passphrase or len(passphrase) < 12:
        raise PkiError("the client export passphrase must be at least 12 characters (a vault secret)")
    secret = passphrase.encode("utf-8")
    legacy = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(50000)
              .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1()).build(secret))
    bundle = pkcs12.serialize_key_and_certificates(name.encode("utf-8"), key, cert, [ca_cert], legacy)
    return _pem(cert), _encrypted(key, passphrase), bundle


def pem_text(cert):
    """PEM text of a certificate."""
    return _pem(cert)


def from_hostvars(hostvars, now=utcnow):
    """A Pki from a host's variables (ipsec_pki_*), or None when ipsec_pki_dir is not set."""
    directory = hostvars.get("ipsec_pki_dir")
    if not directory:
        return None
    return Pki(directory, hostvars.get("ipsec_pki_passphrase"),
               validity_days=hostvars.get("ipsec_pki_validity_days") or DEFAULT_VALIDITY_DAYS,
               renew_before_days=hostvars.get("ipsec_pki_renew_before_days") or DEFAULT_RENEW_BEFORE_DAYS,
               ca_cert=hostvars.get("ipsec_pki_ca_cert"), ca_key=hostvars.get("ipsec_pki_ca_key"), now=now)
