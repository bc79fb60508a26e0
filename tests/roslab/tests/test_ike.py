"""IKE negotiation as pure functions over printed rows (reference §2, §5)."""

import copy

import pytest

from roslab.ike import (LOG_TEXTS, Side, intersect_phase1, lifetime_by_check, negotiate_child,
                        negotiate_phase1, psk_bytes, sa_algorithms, with_defaults, PROFILE_DEFAULTS)

HUB, SPOKE = "198.51.100.1", "198.51.100.2"


def config(local_lan, remote_lan, remote_wan, mode="ike2", secret="s3cret", profile=None, proposal=None):
    profile_row = {"name": "p1", "enc-algorithm": "aes-256,aes-128", "hash-algorithm": "sha256",
                   "dh-group": "ecp256,modp2048", "lifetime": "1d"}
    profile_row.update(profile or {})
    proposal_row = {"name": "t1", "enc-algorithms": "aes-256-cbc", "auth-algorithms": "sha256",
                    "pfs-group": "ecp256", "lifetime": "30m"}
    proposal_row.update(proposal or {})
    return {
        "/ip/ipsec/profile": [profile_row],
        "/ip/ipsec/proposal": [proposal_row],
        "/ip/ipsec/peer": [{"name": "to-other", "address": remote_wan + "/32", "profile": "p1",
                            "exchange-mode": mode}],
        "/ip/ipsec/identity": [{"peer": "to-other", "auth-method": "pre-shared-key", "secret": secret}],
        "/ip/ipsec/policy": [{".id": "*10", "peer": "to-other", "src-address": local_lan,
                              "dst-address": remote_lan, "tunnel": "yes", "proposal": "t1"}],
    }


def pair(**spoke_changes):
    hub = config("10.10.0.0/24", "10.20.0.0/24", SPOKE)
    spoke = config("10.20.0.0/24", "10.10.0.0/24", HUB, **spoke_changes)
    return Side("hub", hub), Side("spoke", spoke)


def phase1(hub, spoke):
    peer = spoke.peer("to-other")
    return negotiate_phase1(spoke, peer, SPOKE, hub, HUB)


def messages(logs):
    return [message for _topics, message in logs]


def test_matching_ikev2_agrees_on_the_initiators_first_common_choice():
    hub, spoke = pair()
    outcome = phase1(hub, spoke)
    assert outcome.ok, outcome
    d = outcome.details
    assert (d["enc"], d["hash"], d["dh"], d["lifetime"], d["version"]) == ("aes-256", "sha256", "ecp256", 86400, 2)
    child = negotiate_child(spoke, spoke.policies()[0], hub, d, SPOKE, HUB)
    assert child.ok, child
    assert child.details["responder_policy"][".id"] == "*10"
    assert sa_algorithms(child.details) == ("aes-cbc", 256, "sha256")
    assert messages(child.responder_logs) == ["create child: respond"]


def test_ikev1_rejected_enctype_names_algorithms_as_the_manual():
    # reference section 5: "rejected enctype: DB(prop#1:trns#2):Peer(prop#1:trns#1) = 3DES-CBC:AES-CBC"
    hub, spoke = pair(mode="main", profile={"enc-algorithm": "aes-256"})
    hub.menus["/ip/ipsec/peer"][0]["exchange-mode"] = "main"
    hub.menus["/ip/ipsec/profile"][0]["enc-algorithm"] = "des,3des"
    outcome = phase1(hub, spoke)
    assert outcome.failure == "no-proposal"
    assert [m for t, m in outcome.responder_logs if t == "ipsec,debug"] == [
        "rejected enctype: DB(prop#1:trns#1):Peer(prop#1:trns#1) = DES-CBC:AES-CBC",
        "rejected enctype: DB(prop#1:trns#2):Peer(prop#1:trns#1) = 3DES-CBC:AES-CBC"]


def test_ikev2_profile_mismatch_logs_no_suitable_proposal():
    hub, spoke = pair(profile={"enc-algorithm": "3des"})
    outcome = phase1(hub, spoke)
    assert not outcome.ok and outcome.failure == "no-proposal" and not outcome.silent
    assert ("ipsec,error", "no suitable proposal found.") in outcome.responder_logs
    assert ("ipsec", "reply notify: NO_PROPOSAL_CHOSEN") in outcome.responder_logs


def test_ikev1_profile_mismatch_logs_the_manuals_four_lines():
    hub, spoke = pair(mode="main", profile={"hash-algorithm": "md5"})
    hub.menus["/ip/ipsec/peer"][0]["exchange-mode"] = "main"
    outcome = phase1(hub, spoke)
    assert outcome.failure == "no-proposal"
    errors = [m for t, m in outcome.responder_logs if t == "ipsec,error"]
    assert errors == ["no suitable proposal found.", SPOKE + " failed to get valid proposal.",
                      SPOKE + " failed to pre-process ph1 packet (side: 1, status 1).",
                      SPOKE + " phase1 negotiation failed."]
    assert [m for t, m in outcome.responder_logs if t == "ipsec,debug"] == [
        "rejected hashtype: DB(prop#1:trns#1):Peer(prop#1:trns#1) = SHA256:MD5"]
    assert messages(outcome.initiator_logs) == ["fatal NO-PROPOSAL-CHOSEN notify message"]


def test_ikev2_wrong_psk_is_authentication_failed():
    hub, spoke = pair(secret="other")
    outcome = phase1(hub, spoke)
    assert outcome.failure == "auth"
    assert messages(outcome.responder_logs) == [
        "identity not found for responder: ADDR4:%s peer: ADDR4:%s" % (HUB, SPOKE),
        "reply notify: AUTHENTICATION_FAILED"]
    assert outcome.responder_logs[0][0] == "ipsec,error"


def test_ikev1_wrong_psk_is_silent_and_logs_wrong_password():
    hub, spoke = pair(mode="main", secret="other")
    hub.menus["/ip/ipsec/peer"][0]["exchange-mode"] = "main"
    outcome = phase1(hub, spoke)
    assert outcome.failure == "auth" and outcome.silent
    assert SPOKE + " parsing packet failed, possible cause: wrong password" in messages(outcome.responder_logs)


def test_hex_secret_equals_its_text():
    assert psk_bytes("0x616263") == b"abc" == psk_bytes("abc")
    hub, spoke = pair(secret="0x733363726574")   # "s3cret"
    assert phase1(hub, spoke).ok


def test_initiator_without_identity_never_sends():
    hub, spoke = pair()
    spoke.menus["/ip/ipsec/identity"] = []
    outcome = phase1(hub, spoke)
    assert outcome.failure == "no-identity" and outcome.details == {"sent": False}
    assert outcome.initiator_logs == [("ipsec,error", "initiator can't find identity for peer: to-other")]


def test_exchange_mode_mismatch_finds_no_responder_peer():
    hub, spoke = pair(mode="main")
    outcome = phase1(hub, spoke)
    assert outcome.failure == "no-peer" and outcome.silent


def test_disabled_identity_or_peer_is_ignored():
    hub, spoke = pair()
    hub.menus["/ip/ipsec/peer"][0]["disabled"] = "true"
    assert phase1(hub, spoke).failure == "no-peer"


@pytest.mark.parametrize("check,proposed,configured,expected", [
    ("obey", 7200, 3600, 7200), ("claim", 7200, 3600, 3600), ("strict", 7200, 3600, None),
    ("strict", 1800, 3600, 1800), ("exact", 1800, 3600, None), ("exact", 3600, 3600, 3600),
])
def test_proposal_check_on_lifetimes(check, proposed, configured, expected):
    assert lifetime_by_check(check, proposed, configured) == expected


def test_ikev1_strict_rejects_a_longer_lifetime():
    i = with_defaults({"lifetime": "2d"}, PROFILE_DEFAULTS)
    r = with_defaults({"lifetime": "1d", "proposal-check": "strict"}, PROFILE_DEFAULTS)
    assert intersect_phase1(i, r, 1) == (None, ("lifetime", "1d", "2d"))
    assert intersect_phase1(i, r, 2)[0]["lifetime"] == 86400   # IKEv2 does not negotiate lifetimes


def test_selectors_not_mirrored_is_ts_unacceptable():
    hub, spoke = pair()
    hub.menus["/ip/ipsec/policy"][0]["src-address"] = "10.99.0.0/24"
    p1 = phase1(hub, spoke).details
    child = negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB)
    assert child.failure == "ts"
    assert ("ipsec", "reply notify: TS_UNACCEPTABLE") in child.responder_logs


def test_template_policy_serves_when_identity_generates_policies():
    hub, spoke = pair()
    hub.menus["/ip/ipsec/policy"] = [{".id": "*T", "template": "yes", "group": "vpn",
                                      "src-address": "10.10.0.0/16", "dst-address": "10.0.0.0/8",
                                      "proposal": "t1"}]
    hub.menus["/ip/ipsec/identity"][0].update({"generate-policy": "port-strict", "policy-template-group": "vpn"})
    p1 = phase1(hub, spoke).details
    child = negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB)
    assert child.ok and child.details["template"][".id"] == "*T"
    hub.menus["/ip/ipsec/identity"][0]["generate-policy"] = "no"
    p1 = phase1(hub, spoke).details
    assert negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB).failure == "ts"


@pytest.mark.parametrize("change", [{"pfs-group": "modp2048"}, {"enc-algorithms": "aes-128-gcm"},
                                    {"auth-algorithms": "sha1"}])
def test_phase2_proposal_mismatch(change):
    hub, spoke = pair(proposal=change)
    p1 = phase1(hub, spoke).details
    child = negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB)
    assert child.failure == "no-proposal"
    assert ("ipsec", "reply notify: NO_PROPOSAL_CHOSEN") in child.responder_logs


def test_ikev2_pfs_mismatch_only_shows_with_a_key_exchange():
    hub, spoke = pair(proposal={"pfs-group": "modp2048"})
    p1 = phase1(hub, spoke).details
    # the first child rides IKE_AUTH without KE (RFC 7296 §1.2): it comes up ...
    assert negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB, first_child=True).ok
    # ... and its rekey (CREATE_CHILD_SA with KE) is refused
    assert negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB).failure == "no-proposal"


@pytest.mark.parametrize("check,initiator_pfs,responder_pfs,ok", [
    ("obey", "modp2048", "ecp256", True), ("claim", "modp2048", "ecp256", False),
    ("claim", "none", "ecp256", True), ("strict", "none", "ecp256", False),
    ("exact", "modp2048", "ecp256", False), ("exact", "modp2048", "none", True),
])
def test_ikev1_pfs_follows_proposal_check(check, initiator_pfs, responder_pfs, ok):
    hub, spoke = pair(mode="main", proposal={"pfs-group": initiator_pfs}, profile={"proposal-check": check})
    hub.menus["/ip/ipsec/peer"][0]["exchange-mode"] = "main"
    hub.menus["/ip/ipsec/profile"][0]["proposal-check"] = check
    hub.menus["/ip/ipsec/proposal"][0]["pfs-group"] = responder_pfs
    p1 = phase1(hub, spoke).details
    assert negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB).ok is ok


def test_initiator_checks_the_responders_id():
    hub, spoke = pair()
    spoke.menus["/ip/ipsec/identity"][0]["remote-id"] = "fqdn:hub.example.net"
    outcome = phase1(hub, spoke)
    assert outcome.failure == "auth" and outcome.details["why"] == "remote-id"
    hub.menus["/ip/ipsec/identity"][0]["my-id"] = "fqdn:hub.example.net"
    assert phase1(hub, spoke).ok


def test_gcm_with_empty_auth_on_both_sides():
    gcm = {"enc-algorithms": "aes-256-gcm", "auth-algorithms": ""}
    hub, spoke = pair(proposal=gcm)
    hub.menus["/ip/ipsec/proposal"][0].update(gcm)
    p1 = phase1(hub, spoke).details
    child = negotiate_child(spoke, spoke.policies()[0], hub, p1, SPOKE, HUB)
    assert child.ok and sa_algorithms(child.details) == ("aes-gcm", 256, "none")


def _certs(side, own_cn, ca_cn, trusted_ca=True, with_ca=True):
    rows = [{"name": own_cn, "common-name": own_cn, "issuer": "CN=" + ca_cn, "private-key": "true",
             "fingerprint": own_cn + "-fp"}]
    if with_ca:
        rows.append({"name": ca_cn, "common-name": ca_cn, "issuer": "CN=" + ca_cn, "ca": "true",
                     "trusted": "true" if trusted_ca else "false", "private-key": "false"})
    side.menus["/certificate"] = rows
    side.menus["/ip/ipsec/identity"] = [{"peer": "to-other", "auth-method": "digital-signature",
                                         "certificate": own_cn}]


def test_certificates_checked_against_issuing_ca():
    hub, spoke = pair()
    _certs(hub, "hub", "lab-ca")
    _certs(spoke, "spoke", "lab-ca")
    assert phase1(hub, spoke).ok
    broken = copy.deepcopy(hub.menus)
    hub.menus["/certificate"] = [row for row in hub.menus["/certificate"] if row["name"] != "lab-ca"]
    outcome = phase1(hub, spoke)
    assert outcome.failure == "auth" and outcome.details["why"] == "cert"
    assert ("ipsec", "reply notify: AUTHENTICATION_FAILED") in outcome.responder_logs
    hub.menus = broken
    _certs(spoke, "spoke", "other-ca")
    assert phase1(hub, spoke).failure == "auth"


def test_every_log_text_says_where_it_comes_from():
    for key, (topics, text, evidence) in LOG_TEXTS.items():
        assert topics.split(",")[0] in ("ipsec", "netwatch", "script") and text and evidence, key


def test_unconfirmed_log_texts_can_be_corrected(monkeypatch):
    from roslab import ike
    monkeypatch.setitem(ike.LOG_TEXTS, "dpd-dead", ike.LOG_TEXTS["dpd-dead"])
    ike.correct_log_texts({"dpd-dead": ["ipsec,info", "%(remote)s peer is dead"]})
    assert ike.log_line("dpd-dead", remote="1.2.3.4") == ("ipsec,info", "1.2.3.4 peer is dead")
    with pytest.raises(KeyError):
        ike.correct_log_texts({"time-up": ["ipsec,error", "confirmed texts stay"]})
