"""IKE negotiation between two lab routers: pure functions over printed configuration rows.

Each side is a ``Side``: a router name plus the rows of its IPsec menus (as ``router.items`` returns
them; missing properties fall back to RouterOS's defaults below). The fabric decides who talks to
whom and whether packets get through; this module decides what RouterOS would agree on and what it
would log (reference §2 and §5):

* phase 1: a responder peer matching the initiator's address and exchange mode, profile
  intersection (encryption, hash, DH group, lifetime under the responder's ``proposal-check``),
  authentication (pre-shared key compare; certificates against the issuing CA in ``/certificate``;
  ``my-id``/``remote-id``);
* phase 2, per initiator policy: the responder's mirrored policy (or a template when the identity
  generates policies), proposal intersection and PFS group.

Every log line the lab writes (IKE, netwatch, scripts) comes from ``LOG_TEXTS``: the wording, its
topics and the evidence for it. Lines marked UNCONFIRMED are our best reconstruction and are kept in
that one table so they can be corrected.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field

from roslab import schema
from roslab.clock import parse_duration
from roslab.schema import truthy  # noqa: F401  (fabric, trace and fabric_ipsec read it from here)

# IKEv1 debug lines name algorithms as the manual prints them (reference §5: "3DES-CBC:AES-CBC",
# "MD5:SHA"), not as the profile spells them; the names the manual does not show follow the
# racoon (ipsec-tools) isakmp names RouterOS's IKEv1 derives from (UNCONFIRMED)
IKEV1_ENC_NAMES = {"3des": "3DES-CBC", "aes-128": "AES-CBC", "aes-192": "AES-CBC", "aes-256": "AES-CBC",
                   "des": "DES-CBC", "blowfish": "Blowfish-CBC", "camellia-128": "CAMELLIA-CBC",
                   "camellia-192": "CAMELLIA-CBC", "camellia-256": "CAMELLIA-CBC"}
IKEV1_HASH_NAMES = {"md5": "MD5", "sha1": "SHA", "sha256": "SHA256", "sha512": "SHA512"}


def ikev1_debug_lines(key, names, local, remote):
    """One debug line per rejected pair of transforms (the responder's DB against the peer's)."""
    lines = []
    for db, mine in enumerate(split_list(local), 1):
        for peer, theirs in enumerate(split_list(remote), 1):
            lines.append(log_line(key, db_transform=db, peer_transform=peer, local=names.get(mine, mine.upper()),
                                  remote_value=names.get(theirs, theirs.upper())))
    return lines


# (topics, text, evidence) — texts quoted from reference §5 unless marked UNCONFIRMED.
LOG_TEXTS = {
    "ph1-no-proposal": ("ipsec,error", "no suitable proposal found.", "MANUAL"),
    "ph1-no-valid-proposal": ("ipsec,error", "%(remote)s failed to get valid proposal.", "MANUAL"),
    "ph1-preprocess": ("ipsec,error", "%(remote)s failed to pre-process ph1 packet (side: 1, status 1).",
                       "MANUAL"),
    "ph1-failed": ("ipsec,error", "%(remote)s phase1 negotiation failed.", "MANUAL"),
    "ph1-rejected-enc": ("ipsec,debug", "rejected enctype: DB(prop#1:trns#%(db_transform)d):Peer(prop#1:trns#%(peer_transform)d) = "
                         "%(local)s:%(remote_value)s", "MANUAL (debug detail)"),
    "ph1-rejected-hash": ("ipsec,debug", "rejected hashtype: DB(prop#1:trns#%(db_transform)d):Peer(prop#1:trns#%(peer_transform)d) = "
                          "%(local)s:%(remote_value)s", "MANUAL (debug detail)"),
    "ph1-notify-no-proposal-v1": ("ipsec,error", "fatal NO-PROPOSAL-CHOSEN notify message", "MANUAL FAQ"),
    "wrong-password-v1": ("ipsec,error", "%(remote)s parsing packet failed, possible cause: wrong password",
                          "FIELD"),
    "identity-not-found-v2": ("ipsec,error", "identity not found for responder: %(local_id)s peer: "
                              "%(remote_id)s", "FIELD (7.23.3)"),
    "reply-notify": ("ipsec", "reply notify: %(notify)s", "FIELD (7.23.3)"),
    "initiator-no-identity": ("ipsec,error", "initiator can't find identity for peer: %(peer)s", "FIELD"),
    "time-up": ("ipsec,error", "phase1 negotiation failed due to time up %(local)s[%(local_port)s]<=>"
                "%(remote)s[%(remote_port)s] %(cookie_i)s:%(cookie_r)s", "MANUAL + FIELD"),
    "respond-new-ph1": ("ipsec,info", "respond new phase 1 (%(mode)s): %(local)s[%(local_port)s]"
                        "<=>%(remote)s[%(remote_port)s]", "MANUAL (prefix); mode wording UNCONFIRMED"),
    "new-ike2-sa": ("ipsec,info", "new ike2 SA (%(side)s): %(peer)s %(local)s[%(local_port)s]-"
                    "%(remote)s[%(remote_port)s] spi:%(spii)s:%(spir)s",
                    "FIELD prefix `new ike2 SA (I)`/`(R)`; the rest UNCONFIRMED"),
    "create-child-respond": ("ipsec", "create child: respond", "FIELD (reference §5)"),
    # --- UNCONFIRMED: no primary evidence; reconstructed from racoon/strongSwan-derived wording ---
    "got-fatal-error-v2": ("ipsec,error", "got fatal error: %(notify)s", "UNCONFIRMED"),
    "killing-ike2-sa": ("ipsec,info", "killing ike2 SA: %(peer)s %(local)s[%(local_port)s]-"
                        "%(remote)s[%(remote_port)s] spi:%(spii)s:%(spir)s", "UNCONFIRMED (suffix)"),
    "ph1-established-v1": ("ipsec,info", "ISAKMP-SA established %(local)s[%(local_port)s]-"
                           "%(remote)s[%(remote_port)s] spi:%(spii)s:%(spir)s", "UNCONFIRMED (racoon)"),
    "ph2-established-v1": ("ipsec,info", "IPsec-SA established: ESP/%(mode)s %(remote)s[%(remote_port)s]->"
                           "%(local)s[%(local_port)s] spi=%(spi)s", "UNCONFIRMED (racoon)"),
    "no-peer-config": ("ipsec,error", "%(remote)s no matching peer configuration found", "UNCONFIRMED"),
    "v1-no-identity": ("ipsec,error", "%(remote)s no identity suits proposal", "UNCONFIRMED"),
    "cert-verify-failed": ("ipsec,error", "can't verify peer's certificate from store", "UNCONFIRMED"),
    # certificate checks the lab makes with real X.509 (roslab.certificates); the behaviour
    # reference gives no RouterOS words for them
    "cert-expired": ("ipsec,error", "peer's certificate has expired", "UNCONFIRMED"),
    "cert-not-yet-valid": ("ipsec,error", "peer's certificate is not valid yet", "UNCONFIRMED"),
    "cert-id-mismatch": ("ipsec,error", "peer's ID does not match certificate: %(remote_id)s", "UNCONFIRMED"),
    "cert-no-own": ("ipsec,error", "no certificate for identity: %(peer)s", "UNCONFIRMED"),
    "failed-get-sainfo": ("ipsec,error", "failed to get sainfo.", "UNCONFIRMED (racoon, reference §5)"),
    "ph2-time-up-v1": ("ipsec,error", "phase2 negotiation failed due to time up waiting for phase1. "
                       "ESP %(remote)s[0]->%(local)s[0]", "UNCONFIRMED (racoon, reference §5)"),
    "mode-config-pool-empty": ("ipsec,error", "mode config: no free address in pool %(name)s", "UNCONFIRMED"),
    "dpd-dead": ("ipsec,info", "peer %(remote)s is not responding, removing", "UNCONFIRMED"),
    # netwatch and scripts (the fabric's other subsystems), in this one table too
    "netwatch-event": ("netwatch,info", "event %(status)s [ type: %(type)s, host: %(host)s ]", "reference §4"),
    "scheduler-failed": ("script,error", "executing script from scheduler (%(name)s) failed, please check it "
                         "manually", "UNCONFIRMED"),
    "script-error": ("script,error", "script error: %(error)s", "UNCONFIRMED"),
    "initiator-id-mismatch": ("ipsec,error", "identity not found for initiator: %(local_id)s peer: %(remote_id)s",
                              "UNCONFIRMED (mirrors the responder's FIELD line)"),
    "ph2-rekey": ("ipsec,debug", "child SA rekeyed: %(spi)s", "UNCONFIRMED"),
}


def correct_log_texts(corrections):
    """Replace UNCONFIRMED log texts with what a real router logged: ``{key: [topics, text]}``
    (placeholders as in the table). Also applied at import from the JSON file named by
    ``ROSLAB_LOG_CORRECTIONS`` when set."""
    for key, (topics, text) in corrections.items():
        if key not in LOG_TEXTS or not LOG_TEXTS[key][2].startswith("UNCONFIRMED"):
            raise KeyError("%s is not an UNCONFIRMED log text" % key)
        LOG_TEXTS[key] = (topics, text, "corrected from a real router")


if os.environ.get("ROSLAB_LOG_CORRECTIONS"):
    with open(os.environ["ROSLAB_LOG_CORRECTIONS"]) as _corrections:
        correct_log_texts(json.load(_corrections))


def log_line(key, **values):
    """(topics, message) of a LOG_TEXTS entry with its placeholders filled."""
    topics, text, _evidence = LOG_TEXTS[key]
    return topics, text % values


# the IPsec defaults: ONE copy, the menu tables' (schema.MENU_TABLES, spec section 2); the
# negotiation also needs the peer's IKE port, which the peer table keeps no default for (500)
def _defaults(menu, **extra):
    return dict(schema.MENU_TABLES["/ip/ipsec/" + menu]["defaults"], **extra)


PROFILE_DEFAULTS = _defaults("profile")
PEER_DEFAULTS = _defaults("peer", port="500")
IDENTITY_DEFAULTS = _defaults("identity")
PROPOSAL_DEFAULTS = _defaults("proposal")
POLICY_DEFAULTS = _defaults("policy")

# proposal enc-algorithms -> (installed-sa enc-algorithm, enc-key-size)
SA_ENCRYPTION = {
    "aes-256-cbc": ("aes-cbc", 256), "aes-192-cbc": ("aes-cbc", 192), "aes-128-cbc": ("aes-cbc", 128),
    "aes-256-ctr": ("aes-ctr", 256), "aes-192-ctr": ("aes-ctr", 192), "aes-128-ctr": ("aes-ctr", 128),
    "aes-256-gcm": ("aes-gcm", 256), "aes-192-gcm": ("aes-gcm", 192), "aes-128-gcm": ("aes-gcm", 128),
    "camellia-256": ("camellia", 256), "camellia-192": ("camellia", 192), "camellia-128": ("camellia", 128),
    "chacha20poly1305": ("chacha20poly1305", 256), "3des": ("3des", 192), "des": ("des", 64),
    "blowfish": ("blowfish", 128), "twofish": ("twofish", 256), "null": ("null", 0),
}
AEAD = {"aes-256-gcm", "aes-192-gcm", "aes-128-gcm", "chacha20poly1305"}
EXCHANGE_MODE_NAMES = {"main": "Identity Protection", "aggressive": "Aggressive", "base": "Base"}


def split_list(value):
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def with_defaults(row, defaults):
    merged = dict(defaults)
    merged.update({key: value for key, value in row.items() if value is not None})
    return merged


def ike_version(peer):
    return 2 if peer.get("exchange-mode") == "ike2" else 1


def psk_bytes(secret):
    """The key RouterOS uses for a `secret`: ``0x…`` is hex, anything else its text."""
    text = str(secret)
    if text[:2].lower() == "0x":
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass
    return text.encode()


@dataclass
class Side:
    """One router's IPsec configuration, rows as printed (enabled or not), by menu path."""

    name: str
    menus: dict
    now: object = None       # the router's wall clock (datetime): certificate validity

    def rows(self, menu, defaults=None, enabled_only=True):
        out = []
        for row in self.menus.get(menu, ()):
            if enabled_only and truthy(row.get("disabled", "false")):
                continue
            out.append(with_defaults(row, defaults) if defaults else dict(row))
        return out

    def peer(self, name):
        return next((p for p in self.rows("/ip/ipsec/peer", PEER_DEFAULTS) if p.get("name") == name), None)

    def profile(self, name):
        for row in self.rows("/ip/ipsec/profile", PROFILE_DEFAULTS, enabled_only=False):
            if row.get("name") == name:
                return row
        return None

    def proposal(self, name):
        for row in self.rows("/ip/ipsec/proposal", PROPOSAL_DEFAULTS, enabled_only=False):
            if row.get("name") == name:
                return row
        return None

    def identities(self, peer_name):
        return [i for i in self.rows("/ip/ipsec/identity", IDENTITY_DEFAULTS) if i.get("peer") == peer_name]

    def policies(self):
        return self.rows("/ip/ipsec/policy", POLICY_DEFAULTS)

    def certificate(self, name):
        return next((c for c in self.menus.get("/certificate", ()) if c.get("name") == name), None)


@dataclass
class Outcome:
    """What one exchange produced: success plus results, or the failure and who logs what."""

    ok: bool
    failure: str | None = None          # no-identity, no-peer, no-proposal, auth, ts, ...
    # True: the initiator hears nothing back and fails with `time up`; False: it is told (notify)
    silent: bool = False
    initiator_logs: list = field(default_factory=list)
    responder_logs: list = field(default_factory=list)
    details: dict = field(default_factory=dict)


def _prefix_contains(spec, address):
    if not spec:
        return True, -1          # a peer without an address accepts any (passive responders)
    try:
        network = ipaddress.ip_network(spec, strict=False)
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False, -1         # a DNS name: not resolved in the lab
    if ip.version != network.version:
        return False, -1
    return ip in network, network.prefixlen


def responder_peer(responder, initiator_address, responder_address, exchange_mode):
    """The responder's peer for an incoming IKE_SA_INIT / main mode: the longest address prefix
    that contains the initiator, whose local-address (if set) is the address the packet hit, with
    the same exchange mode (RouterOS keys peers by address *and* exchange mode)."""
    best, best_length = None, -2
    for peer in responder.rows("/ip/ipsec/peer", PEER_DEFAULTS):
        contains, length = _prefix_contains(peer.get("address"), initiator_address)
        if not contains:
            continue
        if peer.get("local-address") and peer["local-address"] != responder_address:
            continue
        if peer.get("exchange-mode") != exchange_mode:
            continue
        if length > best_length:
            best, best_length = peer, length
    return best


def intersect_phase1(initiator_profile, responder_profile, version):
    """Agree on phase-1 algorithms: returns (chosen dict, None) or (None, (reason, local, remote))."""
    i_enc = split_list(initiator_profile["enc-algorithm"])
    r_enc = split_list(responder_profile["enc-algorithm"])
    enc = next((algorithm for algorithm in i_enc if algorithm in r_enc), None)
    if enc is None:
        return None, ("enc", ",".join(r_enc), ",".join(i_enc))
    if initiator_profile["hash-algorithm"] != responder_profile["hash-algorithm"]:
        return None, ("hash", responder_profile["hash-algorithm"], initiator_profile["hash-algorithm"])
    i_dh = split_list(initiator_profile["dh-group"])
    r_dh = split_list(responder_profile["dh-group"])
    dh = next((group for group in i_dh if group in r_dh), None)
    if dh is None:
        return None, ("dh", ",".join(r_dh), ",".join(i_dh))
    i_life = parse_duration(initiator_profile["lifetime"])
    r_life = parse_duration(responder_profile["lifetime"])
    if version == 2:
        lifetime = min(i_life, r_life)     # not negotiated in IKEv2: the first side to expire rekeys
    else:
        lifetime = lifetime_by_check(responder_profile["proposal-check"], i_life, r_life)
        if lifetime is None:
            return None, ("lifetime", responder_profile["lifetime"], initiator_profile["lifetime"])
    return {"enc": enc, "hash": initiator_profile["hash-algorithm"], "dh": dh, "lifetime": lifetime,
            "prf": initiator_profile.get("prf-algorithm", "auto")}, None


def lifetime_by_check(check, proposed, configured):
    """The responder's `proposal-check` on a proposed lifetime (MikroTik manual, IPsec profile)."""
    if check == "obey":
        return proposed
    if check == "claim":
        return min(proposed, configured)
    if check == "strict":
        return proposed if proposed <= configured else None
    if check == "exact":
        return proposed if proposed == configured else None
    raise ValueError("unknown proposal-check %r" % check)


def _x509(row):
    """The parsed certificate of a /certificate row that carries its PEM (``x509``), else None."""
    if not row or not row.get("x509"):
        return None
    from roslab import certificates   # cryptography only when certificates are in play
    return certificates.load_cert(row["x509"])


def local_id(identity, address, certificate=None):
    """The ID payload a side sends: (type, value)."""
    my_id = identity.get("my-id", "auto")
    if my_id == "auto":
        if identity.get("auth-method") in ("digital-signature", "rsa-signature-hybrid") and certificate:
            cert = _x509(certificate)
            if cert is not None:
                from roslab import certificates
                return certificates.auto_id(cert)
            return ("dn", certificate.get("common-name") or certificate.get("name"))
        return ("address", address)
    kind, _sep, value = my_id.partition(":")
    return (kind, value)


def format_id(ident):
    kind, value = ident
    label = {"address": "ADDR6" if ":" in str(value) else "ADDR4", "fqdn": "FQDN", "user-fqdn": "RFC822",
             "key-id": "KEY_ID", "dn": "DER_ASN1_DN"}.get(kind, kind.upper())
    return "%s:%s" % (label, value)


def remote_id_accepts(identity, presented):
    wanted = identity.get("remote-id", "auto")
    if wanted in ("auto", "ignore"):
        return True
    kind, _sep, value = wanted.partition(":")
    return (kind, value) == tuple(presented)


def _issuer_cn(certificate):
    issuer = certificate.get("issuer", "")
    for part in issuer.replace("/", ",").split(","):
        key, _sep, value = part.strip().partition("=")
        if key.upper() == "CN":
            return value
    return issuer or None


def _is_trusted_ca(certificate):
    ca = truthy(certificate.get("ca", "false")) or truthy(certificate.get("authority", "false")) \
        or "key-cert-sign" in certificate.get("key-usage", "")
    return ca and truthy(certificate.get("trusted", "true"))


def verify_certificate(verifier, identity, presented, presented_id):
    """X.509 checks ``verifier`` makes on the peer's certificate row (with its PEM): None when it is
    accepted, else a LOG_TEXTS failure key. Chain: to an authority in the verifier's store that is
    trusted (or the pinned ``remote-certificate``); dates against the verifier's clock; the ID the
    peer sent must be one its certificate names (subject DN or a SAN), unless remote-id=ignore."""
    from roslab import certificates
    cert = _x509(presented)
    now = verifier.now
    pinned = identity.get("remote-certificate")
    if pinned and pinned != "none":
        mine = _x509(verifier.certificate(pinned))
        if mine is None or certificates.fingerprint(mine) != certificates.fingerprint(cert):
            return "cert-verify-failed"
        reason = certificates.verify_chain(cert, [cert], now) if now is not None else None
        if reason == "untrusted":
            reason = None    # a pinned certificate is trusted as itself (its dates still count)
    else:
        trusted = [_x509(row) for row in verifier.menus.get("/certificate", ())
                   if row.get("x509") and truthy(row.get("trusted", "false")) and
                   truthy(row.get("authority", "false"))]
        intermediates = [_x509(row) for row in verifier.menus.get("/certificate", ())
                         if row.get("x509") and truthy(row.get("authority", "false"))]
        reason = certificates.verify_chain(cert, trusted, now, intermediates) if now is not None else "untrusted"
    if reason is not None:
        return {"untrusted": "cert-verify-failed", "expired": "cert-expired",
                "not-yet-valid": "cert-not-yet-valid"}[reason]
    if identity.get("remote-id") != "ignore" and tuple(presented_id) not in certificates.certificate_ids(cert):
        return "cert-id-mismatch"
    return None


def certificate_trusted(verifier, identity, presented):
    """Would ``verifier`` accept ``presented`` (the peer's certificate row)?"""
    if presented is not None and presented.get("x509"):
        return verify_certificate(verifier, identity, presented,
                                  local_id({"auth-method": "digital-signature"}, None, presented)) is None
    if presented is None or truthy(presented.get("expired", "false")) or truthy(presented.get("revoked", "false")):
        return False
    pinned = identity.get("remote-certificate")
    if pinned and pinned != "none":
        mine = verifier.certificate(pinned)
        if mine is None:
            return False
        keys = ("fingerprint",) if mine.get("fingerprint") else ("common-name",)
        return all(mine.get(key) == presented.get(key) for key in keys)
    issuer = _issuer_cn(presented)
    for candidate in verifier.menus.get("/certificate", ()):
        if _is_trusted_ca(candidate) and candidate.get("common-name") == issuer:
            return True
    return False


def authenticate(initiator, i_identity, i_address, responder, r_identities, r_address, version):
    """Phase-1 authentication. Returns (responder identity, None) or (None, failure key)."""
    i_cert = initiator.certificate(i_identity.get("certificate", "")) if i_identity.get("certificate") else None
    presented_id = local_id(i_identity, i_address, i_cert)
    for r_identity in r_identities:
        if r_identity.get("match-by") == "certificate":
            pinned = r_identity.get("remote-certificate")
            if not (i_cert and pinned and pinned == i_cert.get("name")) and \
                    not certificate_trusted(responder, r_identity, i_cert):
                continue
        elif not remote_id_accepts(r_identity, presented_id):
            continue
        method = i_identity.get("auth-method")
        if r_identity.get("auth-method") != method:
            return None, "auth"
        if method in ("pre-shared-key", "pre-shared-key-xauth"):
            if psk_bytes(r_identity.get("secret", "")) != psk_bytes(i_identity.get("secret", "")):
                return None, "auth"
        elif method == "digital-signature":
            r_cert = responder.certificate(r_identity.get("certificate", "")) \
                if r_identity.get("certificate") else None
            if i_cert is None or not truthy(i_cert.get("private-key", "true")):
                return None, "auth"
            if i_cert.get("x509"):
                failure = verify_certificate(responder, r_identity, i_cert, presented_id)
                if failure:
                    return None, "cert:" + failure
            elif not certificate_trusted(responder, r_identity, i_cert):
                return None, "cert"
            if r_cert is None or not truthy(r_cert.get("private-key", "true")):
                return None, "cert:cert-no-own"
            if r_cert.get("x509"):
                failure = verify_certificate(initiator, i_identity, r_cert, local_id(r_identity, r_address, r_cert))
                if failure:
                    return None, "initiator-cert:" + failure
            elif not certificate_trusted(initiator, i_identity, r_cert):
                return None, "cert"
        else:
            return None, "unsupported:" + method
        return r_identity, None
    return None, "no-identity" if not r_identities else "auth"


def negotiate_phase1(initiator, i_peer, i_address, responder, r_address, i_port=500, r_port=500):
    """Phase 1 between ``initiator`` (with its peer row) and ``responder``, once packets flow.

    Returns an Outcome; on success ``details`` holds the algorithms, lifetimes, both peers and both
    identities. The caller has already checked that UDP 500/4500 gets through both firewalls.
    """
    i_peer = with_defaults(i_peer, PEER_DEFAULTS)
    version = ike_version(i_peer)
    where = {"remote": i_address, "local": r_address}
    i_identities = initiator.identities(i_peer["name"])
    if not i_identities:
        return Outcome(False, "no-identity", silent=False,
                       initiator_logs=[log_line("initiator-no-identity", peer=i_peer["name"])],
                       details={"sent": False})
    i_identity = i_identities[0]
    r_peer = responder_peer(responder, i_address, r_address, i_peer["exchange-mode"])
    if r_peer is None:
        return Outcome(False, "no-peer", silent=True,
                       responder_logs=[log_line("no-peer-config", **where)])
    i_profile = initiator.profile(i_peer["profile"]) or with_defaults({}, PROFILE_DEFAULTS)
    r_profile = responder.profile(r_peer["profile"]) or with_defaults({}, PROFILE_DEFAULTS)
    chosen, mismatch = intersect_phase1(i_profile, r_profile, version)
    responder_logs = []
    if version == 1:
        responder_logs.append(log_line("respond-new-ph1", local=r_address, local_port=r_port, remote=i_address,
                                       remote_port=i_port,
                                       mode=EXCHANGE_MODE_NAMES.get(i_peer["exchange-mode"], "Identity Protection")))
    if mismatch:
        reason, local_value, remote_value = mismatch
        if version == 1:
            if reason == "enc":
                responder_logs += ikev1_debug_lines("ph1-rejected-enc", IKEV1_ENC_NAMES, local_value, remote_value)
            elif reason == "hash":
                responder_logs += ikev1_debug_lines("ph1-rejected-hash", IKEV1_HASH_NAMES, local_value, remote_value)
            responder_logs += [log_line("ph1-no-proposal"), log_line("ph1-no-valid-proposal", **where),
                               log_line("ph1-preprocess", **where), log_line("ph1-failed", **where)]
            initiator_logs = [log_line("ph1-notify-no-proposal-v1")]
        else:
            responder_logs += [log_line("ph1-no-proposal"),
                               log_line("reply-notify", notify="NO_PROPOSAL_CHOSEN")]
            initiator_logs = [log_line("got-fatal-error-v2", notify="NO_PROPOSAL_CHOSEN")]
        return Outcome(False, "no-proposal", initiator_logs=initiator_logs, responder_logs=responder_logs,
                       details={"mismatch": reason, "version": version})
    r_identities = responder.identities(r_peer["name"])
    r_identity, auth_failure = authenticate(initiator, i_identity, i_address, responder, r_identities,
                                            r_address, version)
    if auth_failure:
        i_cert = initiator.certificate(i_identity.get("certificate", "")) if i_identity.get("certificate") else None
        if auth_failure.startswith("initiator-cert:"):
            # the responder authenticated us; we refuse its certificate and tear the exchange down
            key = auth_failure.split(":", 1)[1]
            r_identity_row = next((r for r in r_identities), {})
            r_cert = responder.certificate(r_identity_row.get("certificate", "")) \
                if r_identity_row.get("certificate") else None
            values = {"remote_id": format_id(local_id(r_identity_row, r_address, r_cert))}
            return Outcome(False, "auth", initiator_logs=[log_line(key, **values) if "%(" in LOG_TEXTS[key][1]
                                                          else log_line(key)],
                           responder_logs=responder_logs, details={"why": key, "version": version})
        if auth_failure.startswith("cert:"):
            key = auth_failure.split(":", 1)[1]
            values = {"remote_id": format_id(local_id(i_identity, i_address, i_cert)), "peer": r_peer["name"]}
            responder_logs.append(log_line(key, **values))
            auth_failure = "cert"
            if version == 2:
                responder_logs.append(log_line("reply-notify", notify="AUTHENTICATION_FAILED"))
                return Outcome(False, "auth", initiator_logs=[log_line("got-fatal-error-v2",
                                                                       notify="AUTHENTICATION_FAILED")],
                               responder_logs=responder_logs, details={"why": key, "version": 2})
            return Outcome(False, "auth", silent=True, responder_logs=responder_logs,
                           details={"why": key, "version": 1})
        if version == 2:
            if auth_failure == "cert":
                responder_logs.append(log_line("cert-verify-failed"))
            responder_logs += [
                log_line("identity-not-found-v2", local_id=format_id(("address", r_address)),
                         remote_id=format_id(local_id(i_identity, i_address, i_cert))),
                log_line("reply-notify", notify="AUTHENTICATION_FAILED")]
            return Outcome(False, "auth", initiator_logs=[log_line("got-fatal-error-v2",
                                                                   notify="AUTHENTICATION_FAILED")],
                           responder_logs=responder_logs, details={"why": auth_failure, "version": 2})
        # IKEv1: the responder cannot decrypt message 5 and stays silent; the initiator times out
        if auth_failure == "no-identity":
            responder_logs.append(log_line("v1-no-identity", **where))
        elif auth_failure == "cert":
            responder_logs.append(log_line("cert-verify-failed"))
        else:
            responder_logs.append(log_line("wrong-password-v1", **where))
        return Outcome(False, "auth", silent=True, responder_logs=responder_logs,
                       details={"why": auth_failure, "version": 1})
    r_cert = responder.certificate(r_identity.get("certificate", "")) if r_identity.get("certificate") else None
    responder_id = local_id(r_identity, r_address, r_cert)
    i_cert = initiator.certificate(i_identity.get("certificate", "")) if i_identity.get("certificate") else None
    initiator_id = local_id(i_identity, i_address, i_cert)
    if not remote_id_accepts(i_identity, responder_id):
        # the initiator does not accept who answered (its remote-id); it tears the exchange down
        return Outcome(False, "auth", initiator_logs=[
            log_line("initiator-id-mismatch", local_id=format_id(initiator_id), remote_id=format_id(responder_id))],
            responder_logs=responder_logs, details={"why": "remote-id", "version": version})
    details = dict(chosen)
    details.update({"initiator_id": initiator_id, "responder_id": responder_id})
    details.update({"version": version, "initiator_peer": i_peer, "responder_peer": r_peer,
                    "initiator_identity": i_identity, "responder_identity": r_identity,
                    "initiator_profile": i_profile, "responder_profile": r_profile,
                    "nat_traversal": truthy(i_profile["nat-traversal"]) and truthy(r_profile["nat-traversal"])})
    return Outcome(True, details=details, responder_logs=responder_logs)


def _network(spec):
    return ipaddress.ip_network(spec or "0.0.0.0/0", strict=False)


def _port(spec):
    return "any" if spec in (None, "", "0", "any") else str(spec)


def selectors(policy):
    return (_network(policy.get("src-address")), _network(policy.get("dst-address")),
            policy.get("protocol", "all"), _port(policy.get("src-port")), _port(policy.get("dst-port")))


def mirrored(initiator_policy, responder_policy):
    i_src, i_dst, i_proto, i_sport, i_dport = selectors(initiator_policy)
    r_src, r_dst, r_proto, r_sport, r_dport = selectors(responder_policy)
    return (r_src, r_dst, r_proto, r_sport, r_dport) == (i_dst, i_src, i_proto, i_dport, i_sport)


def template_allows(template, initiator_policy):
    """A template (responder side) covers the initiator's mirrored selectors."""
    i_src, i_dst, i_proto, i_sport, i_dport = selectors(initiator_policy)
    t_src, t_dst, t_proto, t_sport, t_dport = selectors(template)
    if i_dst.version != t_src.version or i_src.version != t_dst.version:
        return False
    return (i_dst.subnet_of(t_src) and i_src.subnet_of(t_dst) and t_proto in ("all", i_proto)
            and t_sport in ("any", i_dport) and t_dport in ("any", i_sport))


def pfs_acceptable(i_pfs, r_pfs, version, proposal_check, with_key_exchange=True):
    """Does the responder accept the initiator's PFS group?

    IKEv2 (RFC 7296 §1.2): the child SA created inside IKE_AUTH has no key exchange, so its
    proposal's DH group is ignored; a mismatch only shows when a CREATE_CHILD_SA (a second child or a
    rekey) carries one. IKEv1 quick mode follows the responder's `proposal-check` (racoon semantics,
    which RouterOS's IKEv1 derives from): obey takes the initiator's group; claim and strict refuse a
    different group when both require PFS; exact refuses any other group when the responder requires
    one; a responder without PFS obeys."""
    if version == 2:
        return not with_key_exchange or i_pfs == r_pfs
    if i_pfs == r_pfs or proposal_check == "obey" or r_pfs == "none":
        return True
    if proposal_check in ("claim", "strict"):
        return i_pfs == "none" and proposal_check == "claim"
    return False


def intersect_proposals(i_proposal, r_proposal, version, proposal_check="obey", with_key_exchange=True):
    """Phase-2 agreement: (chosen, None) or (None, reason)."""
    if i_proposal is None or r_proposal is None or truthy(r_proposal.get("disabled", "false")):
        return None, "proposal"
    i_enc, r_enc = split_list(i_proposal["enc-algorithms"]), split_list(r_proposal["enc-algorithms"])
    enc = next((algorithm for algorithm in i_enc if algorithm in r_enc), None)
    if enc is None:
        return None, "enc"
    i_auth, r_auth = split_list(i_proposal["auth-algorithms"]), split_list(r_proposal["auth-algorithms"])
    auth = next((algorithm for algorithm in i_auth if algorithm in r_auth), None)
    if auth is None:
        if not (enc in AEAD and not i_auth and not r_auth):
            return None, "auth"
        auth = "none"
    i_pfs, r_pfs = i_proposal["pfs-group"], r_proposal["pfs-group"]
    if not pfs_acceptable(i_pfs, r_pfs, version, proposal_check, with_key_exchange):
        return None, "pfs"
    i_life, r_life = parse_duration(i_proposal["lifetime"]), parse_duration(r_proposal["lifetime"])
    if version == 2:
        lifetime = min(i_life, r_life)
    else:
        lifetime = lifetime_by_check(proposal_check, i_life, r_life)
        if lifetime is None:
            return None, "lifetime"
    return {"enc": enc, "auth": auth if auth != "null" else "none", "pfs": i_pfs, "lifetime": lifetime}, None


def negotiate_child(initiator, i_policy, responder, phase1, i_address, r_address, first_child=False):
    """Phase 2 for one initiator policy over an established phase 1 (``phase1`` = its details).

    ``first_child``: IKEv2's child SA created with IKE_AUTH (no PFS key exchange)."""
    i_policy = with_defaults(i_policy, POLICY_DEFAULTS)
    version = phase1["version"]
    r_peer, r_identity = phase1["responder_peer"], phase1["responder_identity"]
    where = {"remote": i_address, "local": r_address}
    responder_logs = [log_line("create-child-respond")] if version == 2 else []
    r_policy, template = None, None
    for candidate in responder.policies():
        if truthy(candidate["template"]) or candidate.get("action") != "encrypt":
            continue
        if candidate.get("peer") == r_peer["name"] and mirrored(i_policy, candidate):
            r_policy = candidate
            break
    if r_policy is None and r_identity.get("generate-policy", "no") != "no":
        group = r_identity.get("policy-template-group", "default")
        for candidate in responder.policies():
            if truthy(candidate["template"]) and candidate.get("group", "default") == group \
                    and template_allows(candidate, i_policy):
                template = candidate
                break
    if r_policy is None and template is None:
        if version == 2:
            responder_logs.append(log_line("reply-notify", notify="TS_UNACCEPTABLE"))
            return Outcome(False, "ts", initiator_logs=[log_line("got-fatal-error-v2", notify="TS_UNACCEPTABLE")],
                           responder_logs=responder_logs)
        return Outcome(False, "ts", silent=True, responder_logs=[log_line("failed-get-sainfo")],
                       initiator_logs=[log_line("ph2-time-up-v1", **{"remote": r_address, "local": i_address})])
    matched = r_policy or template
    mode_ok = truthy(i_policy["tunnel"]) == truthy(matched.get("tunnel", "false")) or template is not None
    protocols_ok = i_policy["ipsec-protocols"] == matched.get("ipsec-protocols", "esp")
    i_proposal = initiator.proposal(i_policy["proposal"])
    r_proposal = responder.proposal(matched.get("proposal", "default"))
    check = phase1["responder_profile"].get("proposal-check", "obey")
    chosen, reason = intersect_proposals(i_proposal, r_proposal, version, check,
                                         with_key_exchange=not (version == 2 and first_child))
    if chosen is None or not mode_ok or not protocols_ok:
        if version == 2:
            responder_logs += [log_line("ph1-no-proposal"), log_line("reply-notify", notify="NO_PROPOSAL_CHOSEN")]
            return Outcome(False, "no-proposal", initiator_logs=[log_line("got-fatal-error-v2",
                                                                          notify="NO_PROPOSAL_CHOSEN")],
                           responder_logs=responder_logs, details={"mismatch": reason or "mode"})
        responder_logs += [log_line("ph1-no-proposal"), log_line("failed-get-sainfo")]
        return Outcome(False, "no-proposal", silent=True, responder_logs=responder_logs,
                       initiator_logs=[log_line("ph2-time-up-v1", remote=r_address, local=i_address)],
                       details={"mismatch": reason or "mode"})
    chosen.update({"responder_policy": r_policy, "template": template, "tunnel": truthy(i_policy["tunnel"]),
                   "ipsec-protocols": i_policy["ipsec-protocols"]})
    return Outcome(True, details=chosen, responder_logs=responder_logs)


def sa_algorithms(chosen):
    """installed-sa enc-algorithm, enc-key-size and auth-algorithm for an agreed proposal."""
    enc_name, key_size = SA_ENCRYPTION.get(chosen["enc"], (chosen["enc"], 0))
    auth = chosen["auth"] if chosen["auth"] in ("md5", "sha1", "sha256", "sha512") else "none"
    return enc_name, key_size, auth
