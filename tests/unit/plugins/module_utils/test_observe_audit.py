"""observe/audit.py: inventory and router audits, the policy file, the guide's best practices."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import audit

from test_intent_fixtures import hostvars, tunnel

WEAK_SUITE = {"profile": {"enc_algorithm": "3des", "hash_algorithm": "sha1", "dh_group": "modp1024"},
              "proposal": {"enc_algorithms": "3des", "auth_algorithms": "md5", "pfs_group": "none"}}


def rules(findings):
    return sorted(set(f["rule"] for f in findings))


def test_default_intent_is_clean_apart_from_plain_api():
    t = intent.normalize_tunnel(tunnel(), hostvars())
    hv = dict((h, dict(v, ipsec_api_tls=True)) for h, v in hostvars().items())
    assert audit.audit_intent([t], hv) == []
    assert rules(audit.audit_intent([t], hostvars())) == ["api_without_tls"]


def test_weak_intent_is_found_field_by_field():
    t = intent.normalize_tunnel(tunnel(suite=WEAK_SUITE, allow_weak_crypto=True, phase2_lifetime="2d",
                                       auth={"psk": "twenty-four-chars-psk-00"}), hostvars())
    hv = dict((h, dict(v, ipsec_api_tls=True, ipsec_firewall_management_sources=["0.0.0.0/0"]))
              for h, v in hostvars().items())
    # the intent refuses PSKs under 20 characters; a policy may ask for more
    found = audit.audit_intent([t], hv, audit.load_policy({"min_psk_length": 32}))
    assert rules(found) == ["allow_weak_crypto", "api_open_to_world", "dh_below_14", "missing_pfs",
                            "phase2_lifetime_over_24h", "short_psk", "weak_cipher", "weak_hash"]
    assert all(f["source"] == "inventory" and f["fix"] for f in found)
    assert "twenty-four" not in repr(found)


def test_policy_requiring_certificates_fails_psk():
    t = intent.normalize_tunnel(tunnel(), hostvars())
    policy = audit.load_policy({"require_certificates": True, "fail_on": "critical"})
    found = audit.audit_intent([t], {}, policy)
    _reported, failing = audit.apply_policy(found, policy)
    assert [f["rule"] for f in failing] == ["psk_not_certificate"]


def test_policy_file_keys_are_checked():
    for bad in ({"fail_on": "sometimes"}, {"nosuch": 1}, {"ignore": ["nosuch"]}, {"severity": {"weak_hash": "x"}},
                {"max_phase2_lifetime": "soon"}, {"min_psk_length": "20"}, []):
        with pytest.raises(audit.PolicyError):
            audit.load_policy(bad)


def test_policy_decides_what_fails():
    found = [audit._finding(audit.load_policy(None), rule, "x", "m", "router")
             for rule in ("weak_hash", "missing_pfs", "cipher_below_aes256")]
    _r, failing = audit.apply_policy(found, audit.load_policy(None))
    assert [f["rule"] for f in failing] == ["weak_hash"]
    policy = audit.load_policy({"fail_on": "medium", "ignore": ["weak_hash"]})
    reported, failing = audit.apply_policy(found, policy)
    assert [f["rule"] for f in reported] == ["missing_pfs", "cipher_below_aes256"]
    assert [f["rule"] for f in failing] == ["missing_pfs"]
    assert audit.apply_policy(found, audit.load_policy({"fail_on": "never"}))[1] == []
    policy = audit.load_policy({"severity": {"cipher_below_aes256": "critical"}})
    assert audit._finding(policy, "cipher_below_aes256", "x", "m", "router")["severity"] == "critical"


CLEAN_ROUTER = {
    "profiles": [{"name": "default", "default": "true"},
                 {"name": "ipsecfleet-p", "enc-algorithm": "aes-256", "hash-algorithm": "sha384", "dh-group": "ecp384"}],
    "proposals": [{"name": "default", "default": "true"},
                  {"name": "ipsecfleet-x", "enc-algorithms": "aes-256-gcm", "auth-algorithms": "", "pfs-group": "ecp384",
                   "lifetime": "1h", "comment": "ipsecfleet:proposal/x"}],
    "peers": [{"name": "ipsecfleet-t1", "address": "198.51.100.2/32", "profile": "ipsecfleet-p",
               "comment": "ipsecfleet:peer/t1"}],
    "identities": [{"peer": "ipsecfleet-t1", "secret": "x" * 32, "comment": "ipsecfleet:identity/t1"}],
    "policies": [{"peer": "ipsecfleet-t1", "proposal": "ipsecfleet-x", "comment": "ipsecfleet:policy/t1/a"}],
    "services": [{"name": "api", "disabled": "true"}, {"name": "api-ssl", "address": "192.0.2.0/24", "certificate": "api"},
                 {"name": "ssh", "address": ""}],
    "logging": [{"topics": "info"}, {"topics": "error"}],
}


def test_clean_router_has_no_findings():
    assert audit.audit_router("hub", CLEAN_ROUTER) == []


def test_router_defaults_count_when_printed_rows_omit_them():
    # RouterOS leaves values at their defaults out of prints: the default proposal (sha1, modp1024)
    config = dict(CLEAN_ROUTER, policies=[{"peer": "manual", "proposal": "default"}])
    found = audit.audit_router("hub", config)
    assert rules(found) == ["cipher_below_aes256", "dh_below_14", "weak_hash"]
    assert all(f["owned"] is False for f in found)


def test_hand_made_weaknesses_on_a_router():
    config = dict(CLEAN_ROUTER)
    config["peers"] = CLEAN_ROUTER["peers"] + [{"name": "manual", "address": "0.0.0.0/0", "profile": "default"}]
    config["identities"] = CLEAN_ROUTER["identities"] + [{"peer": "manual", "secret": "abc"}]
    config["services"] = [{"name": "api"}, {"name": "telnet"}, {"name": "api-ssl", "address": "10.250.0.0/16"}]
    config["logging"] = [{"topics": "info"}]
    config["pptp_server"] = [{"enabled": "yes"}]
    config["l2tp_server"] = [{"enabled": "yes", "use-ipsec": "no"}]
    found = audit.audit_router("hub", config)
    assert rules(found) == ["api_open_to_world", "api_ssl_anonymous", "api_without_tls", "cipher_below_aes256", "dh_below_14",
                            "insecure_management", "insecure_vpn_server", "ipsec_logging_off", "peer_any_address",
                            "short_psk", "weak_cipher", "weak_hash"]
    assert "abc" not in repr(found)
    assert [f["owned"] for f in found if f["rule"] == "peer_any_address"] == [False]


def test_unreadable_menus_make_no_claims():
    config = dict(CLEAN_ROUTER)
    config.pop("logging")
    assert audit.audit_router("hub", config) == []


def test_every_best_practice_of_the_guide_is_checked():
    for text, checked_by in audit.BEST_PRACTICES:
        assert checked_by and all(rule in audit.RULES for rule in checked_by), text
    assert len(audit.BEST_PRACTICES) == 6


def test_summary_counts_by_severity():
    policy = audit.load_policy(None)
    found = [audit._finding(policy, r, "x", "m", "router") for r in ("weak_hash", "weak_cipher", "missing_pfs")]
    assert audit.summary(found) == [("high", 2), ("medium", 1)]


def test_api_ssl_with_a_certificate_is_clean_and_anonymous_dh_is_a_finding():
    config = dict(CLEAN_ROUTER, services=[{"name": "api-ssl", "address": "10.250.0.0/16", "certificate": "api"}])
    assert audit.audit_router("hub", config) == []
    config["services"] = [{"name": "api-ssl", "address": "10.250.0.0/16", "certificate": "none"}]
    (finding,) = audit.audit_router("hub", config)
    assert finding["rule"] == "api_ssl_anonymous" and "certificate=none" in finding["message"]


def test_force_no_cert_in_the_inventory_is_a_finding():
    policy = audit.load_policy(None)
    found = audit.audit_host_vars("hub", {"ipsec_api_tls": True, "ipsec_api_force_no_cert": True}, policy)
    assert rules(found) == ["api_ssl_anonymous"]
    assert audit.audit_host_vars("hub", {"ipsec_api_tls": True}, policy) == []
