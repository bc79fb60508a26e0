"""observe/diagnosis.py on RouterOS log lines (reference section 5), states and counters."""

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import diagnosis

HUB, SPOKE = "198.51.100.1", "198.51.100.2"


def log(*lines):
    """/log rows from (topics, message) pairs, logged in one exchange (the same time)."""
    return [{"time": "00:00:10", "topics": topics, "message": message} for topics, message in lines]


def causes(findings):
    return [f["cause"] for f in findings]


# --- real RouterOS lines, quoted from the reference (MikroTik manual, field logs) -------------------

def test_ikev1_phase1_proposal_mismatch_names_the_algorithms():
    rows = log(("ipsec,debug", "rejected enctype: DB(prop#1:trns#2):Peer(prop#1:trns#1) = 3DES-CBC:AES-CBC"),
               ("ipsec,debug", "rejected hashtype: DB(prop#1:trns#1):Peer(prop#1:trns#1) = MD5:SHA"),
               ("ipsec,error", "no suitable proposal found."),
               ("ipsec,error", "10.5.107.112 failed to get valid proposal."),
               ("ipsec,error", "10.5.107.112 failed to pre-process ph1 packet (side: 1, status 1)."),
               ("ipsec,error", "10.5.107.112 phase1 negotiation failed."))
    found = diagnosis.diagnose_log(rows, own_addresses=["10.5.107.1"])
    assert causes(found) == ["proposal_mismatch_phase1"]
    assert found[0]["peer"] == "10.5.107.112"
    assert "enctype: this end 3DES-CBC, the other AES-CBC" in found[0]["fix"]
    assert "hashtype: this end MD5, the other SHA" in found[0]["fix"]
    assert any("rejected enctype" in line for line in found[0]["evidence"])


def test_remote_rejected_our_proposal():
    found = diagnosis.diagnose_log(log(("ipsec,error", "fatal NO-PROPOSAL-CHOSEN notify message")))
    assert causes(found) == ["proposal_mismatch_phase1"]


def test_ikev1_wrong_password():
    found = diagnosis.diagnose_log(log(("ipsec,error", "%s parsing packet failed, possible cause: wrong password" % SPOKE)),
                                   own_addresses=[HUB], peer_addresses=[SPOKE])
    assert causes(found) == ["psk_mismatch"] and found[0]["peer"] == SPOKE
    assert "same secret" in found[0]["fix"]


def test_ikev2_authentication_failed_on_real_hardware():
    rows = log(("ipsec,error", "identity not found for responder: ADDR4:%s peer: ADDR4:%s" % (HUB, SPOKE)),
               ("ipsec", "reply notify: AUTHENTICATION_FAILED"))
    found = diagnosis.diagnose_log(rows, own_addresses=[HUB], peer_addresses=[SPOKE])
    assert causes(found) == ["psk_mismatch"]
    assert found[0]["peer"] == SPOKE
    assert len(found[0]["evidence"]) == 2


def test_authentication_from_an_address_without_a_peer_is_one_end_only():
    rows = log(("ipsec,error", "identity not found for responder: ADDR4:%s peer: ADDR4:203.0.113.9" % HUB),
               ("ipsec", "reply notify: AUTHENTICATION_FAILED"))
    found = diagnosis.diagnose_log(rows, own_addresses=[HUB], peer_addresses=[SPOKE])
    assert causes(found) == ["one_end_only"] and "203.0.113.9" in found[0]["fix"]


def test_no_identity_configured():
    found = diagnosis.diagnose_log(log(("ipsec,error", "initiator can't find identity for peer: ipsecfleet-t1")))
    assert causes(found) == ["identity_missing"]


def test_time_up_is_unreachable_and_on_4500_a_natt_problem():
    line = "phase1 negotiation failed due to time up %s[500]<=>%s[500] 1a2b3c4d5e6f7a8b:0000000000000000"
    found = diagnosis.diagnose_log(log(("ipsec,error", line % (SPOKE, HUB))), own_addresses=[SPOKE])
    assert causes(found) == ["peer_unreachable"] and found[0]["peer"] == HUB
    natt = "phase1 negotiation failed due to time up %s[4500]<=>%s[4500] 1a2b3c4d5e6f7a8b:9a8b7c6d5e4f3a2b"
    found = diagnosis.diagnose_log(log(("ipsec,error", natt % (SPOKE, HUB))), own_addresses=[SPOKE])
    assert causes(found) == ["natt_problem"]


def test_ikev2_selector_mismatch():
    rows = log(("ipsec", "create child: respond"), ("ipsec", "reply notify: TS_UNACCEPTABLE"))
    assert causes(diagnosis.diagnose_log(rows)) == ["selector_mismatch"]


def test_ikev2_child_proposal_refused_is_phase2():
    rows = log(("ipsec", "create child: respond"), ("ipsec,error", "no suitable proposal found."),
               ("ipsec", "reply notify: NO_PROPOSAL_CHOSEN"))
    assert causes(diagnosis.diagnose_log(rows)) == ["proposal_mismatch_phase2"]
    # the same refusal without a child exchange before it is phase 1
    rows = log(("ipsec,error", "no suitable proposal found."), ("ipsec", "reply notify: NO_PROPOSAL_CHOSEN"))
    assert causes(diagnosis.diagnose_log(rows)) == ["proposal_mismatch_phase1"]


def test_a_child_exchange_long_before_does_not_make_a_refusal_phase2():
    rows = [{"time": "00:00:00", "topics": "ipsec", "message": "create child: respond"},
            {"time": "00:00:40", "topics": "ipsec,error", "message": "no suitable proposal found."},
            {"time": "00:00:40", "topics": "ipsec", "message": "reply notify: NO_PROPOSAL_CHOSEN"}]
    assert causes(diagnosis.diagnose_log(rows)) == ["proposal_mismatch_phase1"]


def test_initiator_notify_is_phase2_when_its_ike_sa_is_up():
    rows = log(("ipsec,error", "got fatal error: NO_PROPOSAL_CHOSEN"))
    assert causes(diagnosis.diagnose_log(rows)) == ["proposal_mismatch_phase1"]
    found = diagnosis.diagnose_log(rows, established=[HUB], peer_addresses=[HUB])
    assert causes(found) == ["proposal_mismatch_phase2"] and found[0]["peer"] == HUB
    # a hub whose other spoke is up: the refusal is phase 1 of the spoke that is not
    found = diagnosis.diagnose_log(rows, established=[SPOKE], peer_addresses=[HUB, SPOKE])
    assert causes(found) == ["proposal_mismatch_phase1"] and found[0]["peer"] == HUB


def test_ikev1_quick_mode():
    assert causes(diagnosis.diagnose_log(log(("ipsec,error", "failed to get sainfo.")))) == ["selector_mismatch"]
    rows = log(("ipsec,error", "no suitable proposal found."), ("ipsec,error", "failed to get sainfo."))
    assert causes(diagnosis.diagnose_log(rows)) == ["proposal_mismatch_phase2"]


def test_progress_lines_are_no_findings():
    rows = log(("ipsec,info", "new ike2 SA (I): ipsecfleet-t1 %s[500]-%s[500] spi:1:2" % (SPOKE, HUB)),
               ("ipsec,info", "respond new phase 1 (Identity Protection): %s[500]<=>%s[500]" % (HUB, SPOKE)),
               ("netwatch,info", "event up [ type: simple, host: 8.8.8.8 ]"))
    assert diagnosis.diagnose_log(rows) == []


def test_other_topics_are_ignored():
    rows = log(("system,error", "phase1 negotiation failed due to time up 1.1.1.1[500]<=>2.2.2.2[500] a:b"))
    assert diagnosis.diagnose_log(rows) == []


def test_every_failure_text_of_the_lab_is_known():
    """Every ipsec,error line and failure notify the lab can log maps to a cause (the lab's texts come
    from the reference; if the lab learns a new one, the diagnosis must learn it too)."""
    from roslab import ike  # the lab package (tests/roslab, installed by make setup): a broken import fails
    values = {"remote": SPOKE, "local": HUB, "local_port": 500, "remote_port": 500, "cookie_i": "a", "cookie_r": "b",
              "peer": "p", "local_id": "ADDR4:" + HUB, "remote_id": "ADDR4:" + SPOKE, "mode": "Identity Protection",
              "side": "R", "spii": "1", "spir": "2", "spi": "3", "status": "up", "type": "simple", "host": "h",
              "name": "n", "error": "e", "notify": "X", "remote_value": "SHA", "db_transform": 1,
              "peer_transform": 1}
    checked = 0
    for key, (topics, text, _evidence) in ike.LOG_TEXTS.items():
        if not topics.startswith("ipsec"):
            continue
        message = text % values
        if "%(notify)s" in text:
            for notify in ("AUTHENTICATION_FAILED", "NO_PROPOSAL_CHOSEN", "TS_UNACCEPTABLE"):
                assert diagnosis.is_known_failure(text % dict(values, notify=notify)), (key, notify)
            checked += 1
        elif "error" in topics or key == "dpd-dead":
            assert diagnosis.is_known_failure(message), key
            checked += 1
        elif key in ("ph1-rejected-enc", "ph1-rejected-hash"):
            assert diagnosis.classify_line(message) == "proposal_detail"
        else:
            assert not diagnosis.is_known_failure(message), key
    assert checked >= 12


# --- states and counters ------------------------------------------------------------------------------

def test_peer_stuck_before_established():
    found = diagnosis.diagnose_states([{"remote-address": HUB, "state": "message-1-sent", "uptime": "25s",
                                        "port": "500"}], [], [])
    assert causes(found) == ["peer_unreachable"] and "state=message-1-sent" in found[0]["evidence"][0]
    found = diagnosis.diagnose_states([{"remote-address": HUB, "state": "message-3-sent", "port": "4500"}], [], [])
    assert causes(found) == ["natt_problem"]


def test_policy_without_phase2_under_established_phase1():
    peers = [{"name": "ipsecfleet-t1", "address": HUB + "/32"}]
    policies = [{"peer": "ipsecfleet-t1", "src-address": "10.20.0.0/24", "dst-address": "10.10.0.0/24",
                 "ph2-state": "no-phase2", "action": "encrypt"}]
    up = [{"remote-address": HUB, "state": "established"}]
    assert causes(diagnosis.diagnose_states(up, [], policies, peers)) == ["ph2_stuck"]
    assert diagnosis.diagnose_states([], [], policies, peers) == []   # phase 1 down: not a phase-2 problem


def test_sa_carrying_traffic_one_way_only():
    up = [{"remote-address": HUB, "state": "established"}]
    sas = [{"spi": "0x1", "src-address": SPOKE, "dst-address": HUB, "state": "mature", "current-bytes": "5000"},
           {"spi": "0x2", "src-address": HUB, "dst-address": SPOKE, "state": "mature", "current-bytes": "0"}]
    assert causes(diagnosis.diagnose_states(up, sas, [])) == ["esp_not_received"]
    sas[1]["current-bytes"] = "4000"
    assert diagnosis.diagnose_states(up, sas, []) == []


def test_counters():
    found = diagnosis.diagnose_counters({"in-state-protocol-errors": "3", "out-no-states": "0", "in-no-policies": "2"})
    assert sorted(causes(found)) == ["esp_not_received", "selector_mismatch"]
    assert diagnosis.diagnose_counters({"in-no-policies": "2"}, previous={"in-no-policies": "2"}) == []


# --- configuration around the tunnel ------------------------------------------------------------------

SELECTORS = [("10.20.0.0/24", "10.10.0.0/24")]


def test_firewall_drop_of_ike():
    rules = [{".id": "*1", "chain": "input", "action": "accept", "protocol": "icmp"},
             {".id": "*2", "chain": "input", "action": "drop", "protocol": "udp", "dst-port": "500,4500"}]
    found = diagnosis.diagnose_firewall(rules, SPOKE)
    assert causes(found) == ["ike_blocked_by_firewall", "natt_problem"]
    assert "*2" in found[0]["fix"]
    rules.insert(0, {".id": "*0", "chain": "input", "action": "accept", "protocol": "udp", "dst-port": "500",
                     "src-address": SPOKE})
    assert causes(diagnosis.diagnose_firewall(rules, SPOKE)) == ["natt_problem"]
    # a rule this check cannot evaluate (an interface list) decides nothing
    assert diagnosis.diagnose_firewall([{"chain": "input", "action": "drop", "in-interface-list": "WAN"}], SPOKE) == []


def test_nat_not_bypassed():
    masquerade = {".id": "*5", "chain": "srcnat", "action": "masquerade", "out-interface-list": "WAN"}
    assert causes(diagnosis.diagnose_nat([masquerade], SELECTORS)) == ["nat_not_bypassed"]
    bypass = {".id": "*4", "chain": "srcnat", "action": "accept", "src-address": "10.20.0.0/24",
              "dst-address": "10.10.0.0/24"}
    assert diagnosis.diagnose_nat([bypass, masquerade], SELECTORS) == []
    assert diagnosis.diagnose_nat([dict(masquerade, **{"ipsec-policy": "out,none"})], SELECTORS) == []


def test_fasttrack_bypass():
    fasttrack = {".id": "*7", "chain": "forward", "action": "fasttrack-connection",
                 "connection-state": "established,related"}
    assert causes(diagnosis.diagnose_fasttrack([fasttrack], [], SELECTORS)) == ["fasttrack_bypass"]
    notrack = {"chain": "prerouting", "action": "notrack", "src-address": "10.20.0.0/24", "dst-address": "10.10.0.0/24"}
    assert diagnosis.diagnose_fasttrack([fasttrack], [notrack], SELECTORS) == []
    accept = {"chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec"}
    assert diagnosis.diagnose_fasttrack([accept, fasttrack], [], SELECTORS) == []
    # the builtin dynamic counter rule is not a real fasttrack rule
    assert diagnosis.diagnose_fasttrack([dict(fasttrack, dynamic="true", action="passthrough")], [], SELECTORS) == []


def test_missing_mss_clamp():
    assert causes(diagnosis.diagnose_mss([], SELECTORS)) == ["mtu_fragmentation"]
    clamp = {"chain": "forward", "action": "change-mss", "ipsec-policy": "out,ipsec", "new-mss": "1360"}
    assert diagnosis.diagnose_mss([clamp], SELECTORS) == []


def test_primary_prefers_the_root_cause():
    found = [diagnosis.finding("peer_unreachable", ["x"]), diagnosis.finding("ike_blocked_by_firewall", ["y"])]
    assert diagnosis.primary(found)["cause"] == "ike_blocked_by_firewall"
    assert diagnosis.primary([]) is None


def test_tunnel_pair_sees_the_other_ends_firewall_and_missing_config():
    spoke = {"addresses": [SPOKE], "peers": [{"name": "p", "address": HUB + "/32"}], "log": log(
        ("ipsec,error", "phase1 negotiation failed due to time up %s[500]<=>%s[500] a:b" % (SPOKE, HUB)))}
    hub = {"addresses": [HUB], "peers": [], "log": [],
           "filter": [{".id": "*9", "chain": "input", "action": "drop", "protocol": "udp"}]}
    result = diagnosis.diagnose_tunnel([
        {"host": "spoke", "state": spoke, "local": SPOKE, "remote": HUB},
        {"host": "hub", "state": hub, "local": HUB, "remote": SPOKE, "configured": False}])
    assert diagnosis.primary(result["spoke"])["cause"] == "one_end_only"
    assert "ike_blocked_by_firewall" in causes(result["spoke"])
    assert any("on hub:" in line for f in result["spoke"] for line in f["evidence"])
    assert causes(result["hub"])[0] == "not_configured"


# --- offline, from the inventory alone ------------------------------------------------------------------

def facts(**changes):
    base = {"ends": ["hub", "spoke"], "ike_version": 2,
            "phase1": {"enc-algorithm": "aes-256", "hash-algorithm": "sha256", "dh-group": "ecp256"},
            "phase2": {"enc-algorithms": "aes-256-gcm", "pfs-group": "ecp256"}, "psk_digest": "d1",
            "prefixes": {"hub": "10.10.0.0/24", "spoke": "10.20.0.0/24"},
            "addresses": {"hub": {"address": HUB, "local_address": None},
                          "spoke": {"address": SPOKE, "local_address": None}},
            "nat_traversal": True}
    base.update(changes)
    return base


def test_offline_agreeing_ends_have_no_findings():
    assert diagnosis.offline_check({"hub": {"t1": facts()}, "spoke": {"t1": facts()}}) == []


def test_offline_finds_what_cannot_agree():
    views = {"hub": {"t1": facts(), "t2": facts(ends=["hub", "spoke2"])},
             "spoke": {"t1": facts(psk_digest="d2", phase2={"enc-algorithms": "aes-128-cbc", "pfs-group": "ecp256"})},
             "spoke2": {}}
    found = diagnosis.offline_check(views)
    by_cause = dict((f["cause"], f) for f in found)
    assert sorted(by_cause) == ["one_end_only", "proposal_mismatch_phase2", "psk_mismatch"]
    assert by_cause["one_end_only"]["tunnel"] == "t2" and "spoke2" in by_cause["one_end_only"]["fix"]
    assert "aes-128-cbc" in by_cause["proposal_mismatch_phase2"]["evidence"][0]
    assert "d1" not in repr(found) and "d2" not in repr(found)   # never the secret (nor its digest)


def test_offline_nat_without_natt():
    behind = facts(nat_traversal=False, addresses={"hub": {"address": HUB, "local_address": None},
                                                   "spoke": {"address": SPOKE, "local_address": "192.168.1.2"}})
    found = diagnosis.offline_check({"hub": {"t1": behind}, "spoke": {"t1": behind}})
    assert causes(found) == ["natt_problem", "natt_problem"]


def test_firewall_check_follows_address_lists_and_connection_state():
    """The collection's own input rules: accepts for the peers' list, then drops for everyone else."""
    rules = [{".id": "*1", "chain": "input", "action": "accept", "protocol": "udp", "dst-port": "500,4500",
              "src-address-list": "peers", "connection-state": "established,related"},
             {".id": "*2", "chain": "input", "action": "accept", "protocol": "udp", "dst-port": "500,4500",
              "src-address-list": "peers", "connection-state": "new", "limit": "10,5:packet"},
             {".id": "*3", "chain": "input", "action": "accept", "protocol": "ipsec-esp", "src-address-list": "peers"},
             {".id": "*4", "chain": "input", "action": "drop", "protocol": "udp", "dst-port": "500,4500"},
             {".id": "*5", "chain": "input", "action": "drop", "protocol": "ipsec-esp"}]
    lists = [{"list": "peers", "address": SPOKE}]
    assert diagnosis.diagnose_firewall(rules, SPOKE, lists) == []
    assert causes(diagnosis.diagnose_firewall(rules, "203.0.113.7", lists)) == [
        "ike_blocked_by_firewall", "natt_problem", "esp_not_received"]
    # an accept this check cannot evaluate before the drop: no claim
    uncertain = [{"chain": "input", "action": "accept", "in-interface": "ether1"}] + rules
    assert diagnosis.diagnose_firewall(uncertain, "203.0.113.7", lists) == []


def test_an_old_failure_does_not_outrank_what_the_router_reports_now():
    # a proposal mismatch fixed 14 minutes ago, then the link cut: the log still holds both; the
    # fixed order of causes alone named the mismatch (the Molecule observe link-cut step found it)
    rows = [{"time": "10:01:00", "topics": "ipsec,error", "message": "%s failed to get valid proposal." % HUB},
            {"time": "10:01:00", "topics": "ipsec,error", "message": "%s phase1 negotiation failed." % HUB},
            {"time": "10:15:00", "topics": "ipsec,error",
             "message": "phase1 negotiation failed due to time up %s[500]<=>%s[500] a:b" % (SPOKE, HUB)}]
    found = diagnosis.diagnose_log(rows, own_addresses=[SPOKE], peer_addresses=[HUB])
    by_cause = dict((f["cause"], f) for f in found)
    assert by_cause["proposal_mismatch_phase1"]["current"] is False and by_cause["peer_unreachable"]["current"] is True
    assert diagnosis.primary(found)["cause"] == "peer_unreachable"
    # lines of one exchange (the same second) stay current together, and the fixed order decides
    same_second = [dict(row, time="10:15:00") for row in rows]
    found = diagnosis.diagnose_log(same_second, own_addresses=[SPOKE], peer_addresses=[HUB])
    assert all(f["current"] for f in found)
    assert diagnosis.primary(found)["cause"] == "proposal_mismatch_phase1"
