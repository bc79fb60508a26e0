# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis: RouterOS log lines, live states, counters and configuration -> findings with a cause,
the evidence (the log line, counter or rule) and a fix. Pure functions over gathered state
(observe/gather.py builds it), no router access.

The log texts are RouterOS's own (MikroTik manual, field logs, reference section 5 "Monitoring: log
topic ipsec"); each LOG_RULES entry names where its wording comes from. Lines marked UNCONFIRMED in
the reference are matched by their stable part.

A finding is a dict:

    cause      one of CAUSES (stable identifier, e.g. ``psk_mismatch``)
    title      one line for people
    evidence   list of strings: the log lines, states, counters or rules it is based on
    fix        what to do
    peer       the remote address (or peer name) it concerns, when known
    severity   error | warning

Kept Python 3.8+ compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

# cause -> (title, fix); the fix may use {peer} and {detail}
CAUSES = {
    "proposal_mismatch_phase1": (
        "phase 1 (IKE) proposal mismatch",
        "make both ends' /ip ipsec profile agree on enc-algorithm, hash-algorithm and dh-group "
        "(one crypto suite for the tunnel in the intent){detail}"),
    "proposal_mismatch_phase2": (
        "phase 2 (ESP) proposal mismatch",
        "make both ends' /ip ipsec proposal agree on enc-algorithms, auth-algorithms and pfs-group, and the "
        "policies on tunnel mode and ipsec-protocols{detail}"),
    "psk_mismatch": (
        "authentication failed: pre-shared key or identity mismatch",
        "set the same secret on both ends' /ip ipsec identity (the tunnel's auth.psk from one vault variable), "
        "and check my-id/remote-id{detail}"),
    "identity_mismatch": (
        "the remote end presented an identity this end does not accept",
        "align my-id on one end with remote-id on the other (/ip ipsec identity){detail}"),
    "identity_missing": (
        "no /ip ipsec identity for the peer",
        "add an /ip ipsec identity with peer={peer} (the collection derives it from the tunnel; run site.yml)"),
    "certificate_invalid": (
        "the peer's certificate could not be verified",
        "import the issuing CA into /certificate and check the certificate's validity and key usage"),
    "certificate_missing": (
        "the identity names no usable certificate of this router",
        "import this router's certificate with its private key and set it on the /ip ipsec identity"),
    "mode_config_pool_empty": (
        "the remote-access address pool is exhausted",
        "enlarge the pool of ipsec_remote_access (or remove stale clients from /ip ipsec active-peers){detail}"),
    "peer_unreachable": (
        "peer unreachable or IKE (UDP 500/4500) blocked on the way",
        "check the route to {peer} and /ping {peer}; open UDP 500 and 4500 (and ESP) on both ends' input "
        "chain and on every firewall between them; check the peer's address and local-address"),
    "ike_blocked_by_firewall": (
        "IKE blocked by a firewall rule",
        "accept UDP 500 and 4500 from the peer in the input chain before this rule "
        "(the ipsec_firewall role adds these accepts){detail}"),
    "natt_problem": (
        "NAT traversal problem",
        "enable nat-traversal on both ends' /ip ipsec profile and open UDP 4500 on both ends' input chain "
        "when either end is behind NAT{detail}"),
    "selector_mismatch": (
        "phase 2 traffic selectors do not match (TS_UNACCEPTABLE)",
        "make the policies mirror each other: this end's src-address/dst-address must be the other end's "
        "dst-address/src-address (the tunnel's prefixes in the intent){detail}"),
    "nat_not_bypassed": (
        "source NAT rewrites tunnel traffic before IPsec sees it",
        "accept the tunnel's traffic in /ip firewall nat chain=srcnat before the masquerade/src-nat rule "
        "(or give the masquerade ipsec-policy=out,none){detail}"),
    "fasttrack_bypass": (
        "FastTrack bypasses the IPsec policies",
        "exempt the tunnel's traffic from FastTrack: /ip firewall raw action=notrack for both directions of the "
        "tunnel's prefixes, or accept it in forward before the fasttrack-connection rule{detail}"),
    "ph2_stuck": (
        "phase 1 is up but phase 2 is not (policy ph2-state)",
        "read the other end's log for the child SA refusal (selectors, proposal, PFS group); check the policy's "
        "peer, proposal and that the other end has the mirrored policy{detail}"),
    "mtu_fragmentation": (
        "MTU/fragmentation symptoms",
        "clamp TCP MSS for the tunnel's traffic (/ip firewall mangle change-mss, the ipsec_firewall role's MSS "
        "rules) and avoid fragmenting ESP; lower the MTU of the path if large packets still fail{detail}"),
    "one_end_only": (
        "only one end of the tunnel is configured",
        "configure the other end (add it to the tunnel's group and run site.yml there), or remove the tunnel "
        "from the end that still initiates{detail}"),
    "peer_dead": (
        "the peer stopped answering (DPD)",
        "check that {peer} is up and reachable; the tunnel comes back by itself once it answers"),
    "esp_not_received": (
        "SAs installed but no ESP arrives",
        "open ESP (protocol 50) or, with NAT-T, UDP 4500 from the peer in the input chain; check NAT on the "
        "path (enable nat-traversal){detail}"),
    "not_configured": (
        "the tunnel is not configured on this router",
        "run site.yml for this router"),
}

# (cause, compiled pattern, evidence source of the wording). Order matters: the first match names
# a line's cause; later rules (the generic ones) only see lines no earlier rule took.
LOG_RULES = [
    # phase 1 proposal mismatch, IKEv1 (MANUAL) and IKEv2 notify
    ("proposal_mismatch", r"no suitable proposal found", "MANUAL"),
    ("proposal_mismatch_phase1", r"failed to get valid proposal", "MANUAL"),
    ("proposal_mismatch_phase1", r"failed to pre-process ph1 packet", "MANUAL"),
    ("proposal_mismatch_phase1", r"fatal NO-PROPOSAL-CHOSEN notify message", "MANUAL FAQ"),
    ("proposal_mismatch", r"NO_PROPOSAL_CHOSEN", "FIELD notify"),
    ("proposal_detail", r"rejected (enctype|hashtype|dh group|authtype)", "MANUAL (debug)"),
    ("psk_mismatch", r"parsing packet failed, possible cause: wrong password", "FIELD"),
    ("psk_mismatch", r"identity not found for responder", "FIELD 7.23.3"),
    ("psk_mismatch", r"AUTHENTICATION_FAILED", "FIELD 7.23.3"),
    ("psk_mismatch", r"no identity suits proposal", "UNCONFIRMED"),
    ("identity_mismatch", r"identity not found for initiator", "UNCONFIRMED"),
    ("identity_missing", r"initiator can't find identity for peer", "FIELD"),
    ("certificate_invalid", r"can't verify peer's certificate", "UNCONFIRMED"),
    # the lab's certificate checks (roslab.ike LOG_TEXTS cert-*); no RouterOS wording in the reference
    ("certificate_invalid", r"peer's certificate has expired|peer's certificate is not valid yet", "UNCONFIRMED (lab)"),
    ("identity_mismatch", r"peer's ID does not match certificate", "UNCONFIRMED (lab)"),
    ("certificate_missing", r"no certificate for identity", "UNCONFIRMED (lab)"),
    ("mode_config_pool_empty", r"mode config: no free address in pool", "UNCONFIRMED (lab)"),
    ("peer_unreachable", r"phase1 negotiation failed due to time up", "MANUAL + FIELD"),
    ("selector_mismatch", r"TS_UNACCEPTABLE", "FIELD (reference section 5)"),
    ("ph2_failed_v1", r"failed to get sainfo", "UNCONFIRMED (racoon)"),
    ("ph2_timeout_v1", r"phase2 negotiation failed due to time up", "UNCONFIRMED (racoon)"),
    ("one_end_only", r"no matching peer configuration found", "UNCONFIRMED"),
    ("peer_dead", r"is not responding, removing", "UNCONFIRMED"),
    ("proposal_mismatch_phase1", r"phase1 negotiation failed\.", "MANUAL"),
]
_COMPILED = [(cause, re.compile(pattern), source) for cause, pattern, source in LOG_RULES]
# lines that report progress, never a failure (ipsec,info / ipsec,debug)
PROGRESS_PATTERNS = [re.compile(p) for p in (
    r"^new ike2 SA", r"^respond new phase 1", r"^create child: respond", r"^killing ike2 SA",
    r"ISAKMP-SA established", r"IPsec-SA established", r"child SA rekeyed", r"^reply notify: INITIAL_CONTACT")]

_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_ADDRESS = re.compile(r"(?<![\w.])(%s)(?![\w.])|(?<![\w:])([0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})(?![\w:])" % _IPV4)
_REJECTED = re.compile(r"rejected (\w+(?: group)?): .*= ([^:\s]+):([^:\s]+)")
_PORT_4500 = re.compile(r"\[4500\]")


def classify_line(message):
    """The cause a log message reports (a LOG_RULES cause), or None for progress/unknown lines."""
    for cause, pattern, _source in _COMPILED:
        if pattern.search(message):
            return cause
    return None


def is_known_failure(message):
    """True when the diagnosis maps ``message`` to a cause (used to prove the lab's texts are known)."""
    return classify_line(message) is not None


def is_progress(message):
    return any(p.search(message) for p in PROGRESS_PATTERNS)


def addresses_in(message):
    """IP addresses named in a log message, in order (ports and cookies left out)."""
    found = []
    for match in _ADDRESS.finditer(message):
        text = match.group(1) or match.group(2)
        try:
            found.append(str(ipaddress.ip_address(text)))
        except ValueError:
            continue
    return found


def _line_text(entry):
    if isinstance(entry, dict):
        return "%s %s %s" % (entry.get("time", ""), entry.get("topics", ""), entry.get("message", ""))
    return str(entry)


def _message(entry):
    return entry.get("message", "") if isinstance(entry, dict) else str(entry)


def ipsec_log(log_rows):
    """The rows of ``/log`` whose topics include ``ipsec``."""
    return [row for row in log_rows or () if "ipsec" in str(row.get("topics", "")).split(",")]


def finding(cause, evidence, peer=None, detail="", severity="error"):
    title, fix = CAUSES[cause]
    return {"cause": cause, "title": title, "evidence": list(evidence), "peer": peer,
            "fix": fix.format(peer=peer or "the peer", detail=detail), "severity": severity}


def _peer_of(message, own_addresses):
    for address in addresses_in(message):
        if address not in own_addresses and address not in ("0.0.0.0", "::"):
            return address
    return None


def _algorithm_detail(lines):
    """'local AES-CBC, remote 3DES-CBC' from the debug 'rejected enctype: ... = local:remote' lines."""
    parts = []
    for line in lines:
        match = _REJECTED.search(_message(line))
        if match:
            parts.append("%s: this end %s, the other %s" % (match.group(1), match.group(2), match.group(3)))
    return ("; the log names them: " + "; ".join(parts)) if parts else ""


def diagnose_log(log_rows, own_addresses=(), established=(), peer_addresses=()):
    """Findings from the ``ipsec`` log lines of one router (``/log`` rows, oldest first).

    ``own_addresses``: this router's addresses (so the peer named in a line is the other one).
    ``established``: remote addresses whose IKE SA is established now (a NO_PROPOSAL_CHOSEN the
    initiator gets then concerns phase 2). ``peer_addresses``: remote addresses this router has a
    peer for (an authentication failure from an address without one means the other end is not
    configured for this router). The last three lines of each (peer, cause) are the evidence.
    """
    own = set(own_addresses)
    established = set(established)
    rows = [r for r in log_rows or () if not isinstance(r, dict) or "topics" not in r
            or "ipsec" in str(r.get("topics", "")).split(",")]
    classified = []          # (row, cause, peer)
    for index, row in enumerate(rows):
        message = _message(row)
        cause = classify_line(message)
        if cause is None:
            continue
        # the line before, when logged at the same time (one exchange)
        before = _message(rows[index - 1]) if index > 0 and _same_time(rows[index - 1], row) else ""
        after = _message(rows[index + 1]) if index + 1 < len(rows) else ""
        peer = _peer_of(message, own)
        if cause == "proposal_mismatch":
            if "create child: respond" in before or "failed to get sainfo" in after:
                cause = "proposal_mismatch_phase2"      # IKEv2 CREATE_CHILD refused / IKEv1 quick mode
            elif classified and classified[-1][1] == "proposal_mismatch_phase2" and rows[index - 1] is classified[-1][0]:
                cause = "proposal_mismatch_phase2"      # the notify after the refusal
            elif message.startswith("got fatal error") and peer is None:
                # the initiator's notify names no address: phase 1 of a peer still down, or phase 2
                # (a child refused) when every peer's IKE SA is up
                not_up = sorted(set(peer_addresses) - established)
                if not_up or not established:
                    cause = "proposal_mismatch_phase1"
                    peer = not_up[0] if len(not_up) == 1 else None
                else:
                    cause = "proposal_mismatch_phase2"
                    peer = sorted(established)[0] if len(established) == 1 else None
            else:
                cause = "proposal_mismatch_phase1"
        elif cause == "ph2_failed_v1":
            cause = "proposal_mismatch_phase2" if "no suitable proposal" in before else "selector_mismatch"
        elif cause == "ph2_timeout_v1":
            cause = "ph2_stuck"
        elif cause == "peer_unreachable" and _PORT_4500.search(message):
            cause = "natt_problem"
        classified.append((row, cause, peer))
    grouped, order = {}, []
    pending_detail = []
    last_peer = None
    for row, cause, peer in classified:
        if cause == "proposal_detail":
            pending_detail.append(row)
            continue
        if peer is None and last_peer is not None and cause in (last_peer[1],):
            peer = last_peer[0]     # a notify line after the addressed line it answers
        key = (peer, cause)
        if key not in grouped:
            grouped[key] = []
            order.append(key)
        if cause.startswith("proposal_mismatch") and pending_detail:
            grouped[key].extend(pending_detail)
        pending_detail = []
        grouped[key].append(row)
        if peer is not None:
            last_peer = (peer, cause)
    findings = []
    position = dict((id(row), index) for index, row in enumerate(rows))
    last_line = {}      # id(finding) -> index of its newest line
    for peer, cause in _merge_unaddressed(grouped, order):
        lines = grouped[(peer, cause)]
        detail = _algorithm_detail(lines) if cause.startswith("proposal_mismatch") else ""
        if cause == "psk_mismatch" and peer is not None and peer_addresses and peer not in set(peer_addresses):
            cause = "one_end_only"
            detail = ": %s tries to authenticate but this router has no peer for it" % peer
        elif cause == "one_end_only" and peer is not None:
            detail = ": %s initiates IKE but this router has no peer for it" % peer
        elif cause == "natt_problem":
            detail = ": IKE on UDP 4500 gets no answer"
        evidence = [_line_text(line) for line in lines[-3:]]
        if cause.startswith("proposal_mismatch"):
            evidence = [_line_text(line) for line in lines if _REJECTED.search(_message(line))][-2:] + [
                _line_text(line) for line in lines if not _REJECTED.search(_message(line))][-3:]
        findings.append(finding(cause, evidence, peer=peer, detail=detail,
                                severity="warning" if cause == "peer_dead" else "error"))
        last_line[id(findings[-1])] = max(position[id(line)] for line in lines)
    _mark_superseded(findings, last_line, rows)
    return findings


def _mark_superseded(findings, last_line, rows):
    """A log finding whose newest line is older than another failure's newest line for the same peer
    describes the past (a mismatch fixed since, then the link cut): ``current`` False, so ``primary``
    picks the failure the router reports now. Lines logged in the same second are one exchange and
    stay current together."""
    newest = {}
    for item in findings:
        index = last_line[id(item)]
        if index > newest.get(item["peer"], -1):
            newest[item["peer"]] = index
    for item in findings:
        latest = newest[item["peer"]]
        index = last_line[id(item)]
        item["current"] = index == latest or _same_time(rows[index], rows[latest])


def _same_time(first, second):
    if not (isinstance(first, dict) and isinstance(second, dict)):
        return True
    return first.get("time") == second.get("time")


def _merge_unaddressed(grouped, order):
    """Fold groups without a peer into the same cause's group with one (a notify after its line)."""
    keys = []
    for peer, cause in order:
        if peer is None:
            owner = next((k for k in order if k[1] == cause and k[0] is not None), None)
            if owner is not None:
                grouped[owner] = grouped[owner] + grouped[(peer, cause)]
                continue
        keys.append((peer, cause))
    return keys


# --- states and counters ---------------------------------------------------------------------------

def _truthy(value):
    return str(value).lower() in ("true", "yes")


def _int(value):
    try:
        return int(str(value or "0").split("/", maxsplit=1)[0])
    except ValueError:
        return 0


def _host(address):
    text = str(address or "").strip()
    if text.count(":") == 1 and "." in text:
        text = text.split(":", 1)[0]   # 198.51.100.1:4500 (NAT-T)
    return text.split("/", 1)[0]


def diagnose_states(active_peers, installed_sas, policies, peers=(), statistics=None):
    """Findings from live state: peers stuck before ``established``, policies without phase 2 under an
    established phase 1, SAs that carry traffic one way only, and rising error counters."""
    findings = []
    by_name = dict((p.get("name"), p) for p in peers or ())
    established = set(_host(a.get("remote-address")) for a in active_peers or () if a.get("state") == "established")
    for row in active_peers or ():
        state = row.get("state", "")
        if state and state != "established":
            remote = _host(row.get("remote-address"))
            evidence = ["active-peers remote-address=%s state=%s uptime=%s port=%s"
                        % (remote, state, row.get("uptime", "?"), row.get("port", "?"))]
            cause = "natt_problem" if str(row.get("port")) == "4500" else "peer_unreachable"
            detail = ": IKE moved to UDP 4500 and gets no answer there" if cause == "natt_problem" else ""
            findings.append(finding(cause, evidence, peer=remote, detail=detail))
    for policy in policies or ():
        if _truthy(policy.get("template")) or _truthy(policy.get("disabled")) or policy.get("action", "encrypt") != "encrypt":
            continue
        peer = by_name.get(policy.get("peer"))
        remote = _host(peer.get("address")) if peer else None
        state = policy.get("ph2-state")
        if state and state != "established" and remote in established:
            findings.append(finding("ph2_stuck", ["policy %s -> %s peer=%s ph2-state=%s"
                                                  % (policy.get("src-address"), policy.get("dst-address"),
                                                     policy.get("peer"), state)],
                                    peer=remote, detail=""))
    pairs = {}
    for sa in installed_sas or ():
        if sa.get("state") not in (None, "", "mature", "dying"):
            continue
        src, dst = _host(sa.get("src-address")), _host(sa.get("dst-address"))
        pairs.setdefault(frozenset((src, dst)), []).append(sa)
    for _pair, sas in pairs.items():
        outgoing = [sa for sa in sas if _host(sa.get("src-address")) not in established]
        incoming = [sa for sa in sas if _host(sa.get("src-address")) in established]
        sent = sum(_int(sa.get("current-bytes")) for sa in outgoing)
        received = sum(_int(sa.get("current-bytes")) for sa in incoming)
        if outgoing and incoming and sent > 0 and received == 0:
            remote = _host(incoming[0].get("src-address"))
            findings.append(finding("esp_not_received",
                                    ["installed-sa spi=%s %s -> %s current-bytes=%s; outbound carries %d bytes"
                                     % (incoming[0].get("spi"), incoming[0].get("src-address"),
                                        incoming[0].get("dst-address"), incoming[0].get("current-bytes", "0"), sent)],
                                    peer=remote, detail="", severity="warning"))
    findings.extend(diagnose_counters(statistics or {}))
    return findings


# /ip ipsec statistics counters and what a non-zero value says (names from /console/inspect)
COUNTER_CAUSES = (
    ("in-state-protocol-errors", "esp_not_received", "ESP that does not decrypt (wrong keys, a NAT in the path)"),
    ("in-state-mismatches", "esp_not_received", "ESP for an SA the selectors do not fit"),
    ("in-no-states", "esp_not_received", "ESP for an SA that does not exist (the other end still uses an old SA)"),
    ("out-no-states", "ph2_stuck", "traffic matched a policy that has no SA"),
    ("in-template-mismatches", "selector_mismatch", "decrypted traffic that the policy selectors do not match"),
    ("in-no-policies", "selector_mismatch", "decrypted traffic without a matching policy"),
    ("out-bundle-errors", "mtu_fragmentation", "packets that could not be encapsulated"),
    ("in-buffer-errors", "mtu_fragmentation", "packets dropped for buffer/size reasons"),
)


def diagnose_counters(statistics, previous=None):
    """Findings from ``/ip ipsec statistics``: counters that are non-zero (or rose since ``previous``)."""
    findings = []
    by_cause = {}
    for counter, cause, meaning in COUNTER_CAUSES:
        value = _int(statistics.get(counter))
        if previous is not None:
            value -= _int(previous.get(counter))
        if value > 0:
            by_cause.setdefault(cause, []).append("statistics %s=%d (%s)" % (counter, value, meaning))
    for cause, evidence in by_cause.items():
        findings.append(finding(cause, evidence, detail="", severity="warning"))
    return findings


# --- configuration around the tunnel (firewall, NAT, FastTrack, MSS) -----------------------------------

def _net(text):
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def _covers(rule_value, prefix):
    """A rule's address matcher (empty: any) covers ``prefix`` (negation `!` never counts)."""
    if not rule_value:
        return True
    if str(rule_value).startswith("!"):
        return False
    net, wanted = _net(rule_value), _net(prefix)
    if net is None or wanted is None or net.version != wanted.version:
        return False
    return wanted.subnet_of(net)


def _rule_text(menu, rule):
    skip = (".id", "bytes", "packets", "dynamic", "invalid", ".nextid")
    words = ["%s=%s" % (k, v) for k, v in sorted(rule.items()) if k not in skip and v not in ("", None)]
    return "%s %s" % (menu, " ".join(words))


def _ports_match(rule, port):
    for name in ("dst-port", "port"):
        value = rule.get(name)
        if not value:
            continue
        if str(value).startswith("!"):
            return False
        for part in str(value).split(","):
            if "-" in part:
                low, high = part.split("-", 1)
                if low.isdigit() and high.isdigit() and int(low) <= port <= int(high):
                    return True
            elif part.strip() == str(port):
                return True
        return False
    return True


def _active(rule):
    return not _truthy(rule.get("disabled")) and not _truthy(rule.get("invalid"))


def _in_list(address_lists, name, address):
    if str(name).startswith("!"):
        return not _in_list(address_lists, name[1:], address)
    return any(row.get("list") == name and _active(row) and _covers(row.get("address"), address)
               for row in address_lists or ())


# matchers first_verdict evaluates; a rule with any other matcher is uncertain
_EVALUATED = frozenset(("chain", "action", "protocol", "dst-port", "port", "src-address", "src-address-list",
                        "connection-state", "limit", "comment", ".id", "disabled", "invalid", "dynamic", "bytes",
                        "packets", "log", "log-prefix", "reject-with", ".nextid"))


def first_verdict(rules, chain, protocol, port, src, address_lists=()):
    """The first enabled rule of ``chain`` that decides the first packet of a new flow (protocol, dst
    port, source address): accept / drop / reject / tarpit. Matchers understood: protocol, ports,
    src-address, src-address-list (against ``address_lists``), connection-state (the packet is
    ``new``) and limit (assumed under the rate). A rule with any other matcher that could accept
    makes the verdict uncertain: None, as when no rule decides."""
    for rule in rules or ():
        if rule.get("chain") != chain or not _active(rule):
            continue
        action = rule.get("action")
        if action not in ("accept", "drop", "reject", "tarpit"):
            continue
        if any(k not in _EVALUATED and v not in ("", None) for k, v in rule.items()):
            if action == "accept":
                return None
            continue
        if rule.get("protocol") and rule.get("protocol") != protocol:
            continue
        if port is not None and not _ports_match(rule, port):
            continue
        if port is None and (rule.get("dst-port") or rule.get("port")):
            continue
        if not _covers(rule.get("src-address"), src):
            continue
        if rule.get("src-address-list") and not _in_list(address_lists, rule["src-address-list"], src):
            continue
        states = _split_words(rule.get("connection-state"))
        if states and "new" not in states:
            continue
        return rule
    return None


def _split_words(value):
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def diagnose_firewall(filter_rules, remote, address_lists=()):
    """Rules of this router's input chain that drop IKE (UDP 500/4500) or ESP from ``remote``."""
    findings = []
    for protocol, port in (("udp", 500), ("udp", 4500), ("ipsec-esp", None)):
        rule = first_verdict(filter_rules, "input", protocol, port, remote + "/32" if "/" not in remote else remote,
                             address_lists)
        if rule is not None and rule.get("action") != "accept":
            what = "%s %s" % (protocol, port) if port else protocol
            cause = "natt_problem" if port == 4500 else ("esp_not_received" if port is None else "ike_blocked_by_firewall")
            findings.append(finding(cause, [_rule_text("/ip firewall filter", rule)], peer=remote,
                                    detail=": rule %s drops %s from %s" % (rule.get(".id", "?"), what, remote)))
    return findings


def _matches_traffic(rule, src, dst):
    return _covers(rule.get("src-address"), src) and _covers(rule.get("dst-address"), dst)


def diagnose_nat(nat_rules, selectors):
    """A srcnat masquerade/src-nat that catches tunnel traffic (``selectors``: (local, remote) prefix
    pairs) before any rule accepts it and without ``ipsec-policy=out,none``."""
    findings = []
    for local, remote in selectors:
        for rule in nat_rules or ():
            if rule.get("chain") != "srcnat" or not _active(rule):
                continue
            if not _matches_traffic(rule, local, remote):
                continue
            action = rule.get("action")
            if action == "accept":
                break     # bypassed
            if action in ("masquerade", "src-nat", "netmap", "same"):
                if "out,none" in str(rule.get("ipsec-policy", "")):
                    continue
                findings.append(finding("nat_not_bypassed", [_rule_text("/ip firewall nat", rule)],
                                        detail=": %s -> %s is rewritten by rule %s" % (local, remote, rule.get(".id", "?"))))
                break
    return findings


def diagnose_fasttrack(filter_rules, raw_rules, selectors):
    """A forward fasttrack-connection rule reached by tunnel traffic that no raw notrack or earlier
    forward accept exempts (reference: "FastTrack bypasses IPsec policy matching")."""
    findings = []
    for local, remote in selectors:
        exempt = any(r.get("chain") == "prerouting" and r.get("action") == "notrack" and _active(r)
                     and (_matches_traffic(r, local, remote) or _matches_traffic(r, remote, local))
                     for r in raw_rules or ())
        if exempt:
            continue
        for rule in filter_rules or ():
            if rule.get("chain") != "forward" or not _active(rule) or _truthy(rule.get("dynamic")):
                continue
            if rule.get("action") == "accept" and (_matches_traffic(rule, local, remote)
                                                   or _matches_traffic(rule, remote, local)) \
                    and (rule.get("src-address") or rule.get("dst-address") or rule.get("ipsec-policy")):
                break
            if rule.get("action") == "fasttrack-connection" and _matches_traffic(rule, local, remote):
                findings.append(finding("fasttrack_bypass", [_rule_text("/ip firewall filter", rule)],
                                        detail=": %s <-> %s reaches rule %s" % (local, remote, rule.get(".id", "?")),
                                        severity="warning"))
                break
    return findings


def diagnose_mss(mangle_rules, selectors):
    """No TCP MSS clamp (mangle change-mss) for the tunnel's traffic: large TCP segments get
    fragmented or dropped once ESP overhead is added."""
    findings = []
    clamps = [r for r in mangle_rules or () if r.get("action") == "change-mss" and _active(r)]
    for local, remote in selectors:
        covered = any(_matches_traffic(r, local, remote) or _matches_traffic(r, remote, local)
                      or "ipsec" in str(r.get("ipsec-policy", "")) for r in clamps)
        if not covered:
            findings.append(finding("mtu_fragmentation", ["no /ip firewall mangle change-mss rule covers %s <-> %s"
                                                          % (local, remote)],
                                    detail=": TCP through %s <-> %s is not clamped" % (local, remote),
                                    severity="warning"))
    return findings


def diagnose(state, selectors=(), peer_addresses=None):
    """Every finding for one router's gathered ``state`` (observe.gather.gather output):
    log, live state, counters and the firewall around ``selectors`` ((local, remote) prefix pairs).
    Duplicate causes for the same peer are merged."""
    own = state.get("addresses") or ()
    established = [_host(a.get("remote-address")) for a in state.get("active_peers") or ()
                   if a.get("state") == "established"]
    if peer_addresses is None:
        peer_addresses = [_host(p.get("address")) for p in state.get("peers") or ()]
    findings = diagnose_log(state.get("log") or (), own, established, peer_addresses)
    findings += diagnose_states(state.get("active_peers"), state.get("installed_sa"), state.get("policies"),
                                state.get("peers"), state.get("statistics"))
    for address in sorted(set(a for a in peer_addresses if a)):
        if address not in established:
            findings += diagnose_firewall(state.get("filter"), address, state.get("address_lists"))
    findings += diagnose_nat(state.get("nat"), selectors)
    findings += diagnose_fasttrack(state.get("filter"), state.get("raw"), selectors)
    if state.get("mangle") is not None:
        findings += diagnose_mss(state.get("mangle"), selectors)
    return merge(findings)


def merge(findings):
    """One finding per (cause, peer): the evidence of duplicates appended (no repeats)."""
    merged, order = {}, []
    for item in findings:
        key = (item["cause"], item.get("peer"))
        if key not in merged:
            merged[key] = dict(item, evidence=list(item["evidence"]))
            order.append(key)
        else:
            for line in item["evidence"]:
                if line not in merged[key]["evidence"]:
                    merged[key]["evidence"].append(line)
    return [merged[k] for k in order]


def for_peer(findings, remote):
    """The findings that concern ``remote`` (or no peer in particular)."""
    return [f for f in findings if f.get("peer") in (None, remote)]


# the order in which causes explain a down tunnel best (the first present is "the" diagnosis)
PRIORITY = ("not_configured", "one_end_only", "identity_missing", "ike_blocked_by_firewall", "natt_problem",
            "proposal_mismatch_phase1", "psk_mismatch", "identity_mismatch", "certificate_missing", "certificate_invalid",
            "selector_mismatch", "proposal_mismatch_phase2", "peer_unreachable", "peer_dead", "ph2_stuck",
            "nat_not_bypassed", "fasttrack_bypass", "esp_not_received", "mtu_fragmentation")


def primary(findings):
    """The finding that best explains a problem (PRIORITY order among the current ones: a log finding
    superseded by a newer failure of the same peer comes last), or None."""
    ranked = sorted(findings, key=lambda f: (f.get("current") is False,
                                             PRIORITY.index(f["cause"]) if f["cause"] in PRIORITY else len(PRIORITY)))
    return ranked[0] if ranked else None


def diagnose_tunnel(ends):
    """Both ends of one tunnel side by side: ``ends`` is a list of two dicts
    ``{host, state (gathered or None when unreachable), local, remote, selectors}``.

    Adds what only the pair shows: one end configured and the other not, a peer that logs nothing
    from the other (packets never arrive), the other end's firewall blocking IKE. Returns
    ``{host: [findings]}``."""
    result = {}
    for index, end in enumerate(ends):
        other = ends[1 - index]
        state = end.get("state")
        if state is None:
            result[end["host"]] = [finding("peer_unreachable", ["the API of %s could not be read" % end["host"]],
                                           peer=end.get("remote"))]
            continue
        own_findings = for_peer(diagnose(state, end.get("selectors") or ()), end.get("remote"))
        if not end.get("configured", True):
            own_findings.insert(0, finding("not_configured", ["%s has no peer for %s" % (end["host"], end.get("remote"))],
                                           peer=end.get("remote"),
                                           detail=""))
        other_state = other.get("state")
        if other_state is not None and not other.get("configured", True) and end.get("configured", True):
            own_findings.insert(0, finding("one_end_only", ["%s has no peer for %s" % (other["host"], other.get("remote"))],
                                           peer=end.get("remote"),
                                           detail=": %s is not configured for this tunnel" % other["host"]))
        if other_state is not None:
            blocked = diagnose_firewall(other_state.get("filter"), end.get("local") or "", other_state.get("address_lists"))
            for item in blocked:
                item["evidence"] = ["on %s: %s" % (other["host"], line) for line in item["evidence"]]
                item["peer"] = end.get("remote")
            own_findings.extend(blocked)
        result[end["host"]] = merge(own_findings)
    return result


# --- offline: from the inventory alone --------------------------------------------------------------

def offline_check(views):
    """Which tunnel ends cannot agree, from the intent each router is given (no router access).

    ``views``: {host: {tunnel name: facts}} where facts (intent.Tunnel seen from that host, see
    ``tunnel_facts``) are what that host's own inventory variables declare. Returns findings with
    ``tunnel`` and ``hosts`` set."""
    findings = []
    names = sorted(set(name for tunnels in views.values() for name in tunnels))
    for name in names:
        holders = dict((host, tunnels[name]) for host, tunnels in views.items() if name in tunnels)
        ends = set()
        for facts in holders.values():
            ends.update(facts["ends"])
        for end in sorted(ends):
            if end not in views:
                continue  # not a router of this run (outside the play or the inventory)
            if end not in holders:
                holder = sorted(holders)[0]
                findings.append(_offline("one_end_only", name, sorted(ends),
                                         ["%s's intent has tunnel %s, %s's has not" % (holder, name, end)],
                                         ": %s does not declare tunnel %s" % (end, name)))
        for a, b in _pairs(sorted(holders)):
            findings += _compare(name, a, holders[a], b, holders[b])
        for host, facts in holders.items():
            findings += _nat_without_natt(name, host, facts)
    return findings


def _pairs(hosts):
    return [(hosts[i], hosts[j]) for i in range(len(hosts)) for j in range(i + 1, len(hosts))]


def _offline(cause, tunnel, hosts, evidence, detail=""):
    item = finding(cause, evidence, detail=detail)
    item.update(tunnel=tunnel, hosts=list(hosts))
    return item


def _compare(name, a, fa, b, fb):
    found = []
    hosts = [a, b]
    checks = (
        ("proposal_mismatch_phase1", ("ike_version", "phase1")),
        ("proposal_mismatch_phase2", ("phase2",)),
        ("psk_mismatch", ("psk_digest",)),
        ("selector_mismatch", ("prefixes",)),
        ("peer_unreachable", ("addresses",)),
        ("natt_problem", ("nat_traversal",)),
    )
    for cause, fields in checks:
        differences = ["%s: %s has %s, %s has %s" % (f, a, _show(fa, f), b, _show(fb, f))
                       for f in fields if fa.get(f) != fb.get(f)]
        if differences:
            found.append(_offline(cause, name, hosts, differences, ": %s and %s declare tunnel %s differently"
                                  % (a, b, name)))
    return found


def _show(facts, field):
    if field == "psk_digest":
        return "a different secret" if facts.get(field) else "no secret"
    value = facts.get(field)
    if isinstance(value, dict):
        return ", ".join("%s=%s" % (k, value[k]) for k in sorted(value))
    return value


def _nat_without_natt(name, host, facts):
    behind = [end for end, data in facts.get("addresses", {}).items()
              if data.get("local_address") and data.get("local_address") != data.get("address")]
    if behind and not facts.get("nat_traversal"):
        return [_offline("natt_problem", name, [host], ["%s sends from %s but is reached at %s (NAT) and "
                                                        "nat_traversal is false" % (
                                                            end, facts["addresses"][end]["local_address"],
                                                            facts["addresses"][end]["address"]) for end in behind],
                         ": set nat_traversal: true on tunnel %s" % name)]
    return []


def tunnel_facts(tunnel, digest):
    """The comparable facts of an intent.Tunnel (``digest(psk)`` hides the secret)."""
    suite = tunnel.suite
    return {
        "ends": sorted((tunnel.a.host, tunnel.b.host)),
        "ike_version": tunnel.ike_version,
        "phase1": dict(_suite_part(suite, "phase1"), lifetime=tunnel.phase1_lifetime,
                       exchange_mode=tunnel.exchange_mode),
        "phase2": dict(_suite_part(suite, "phase2"), lifetime=tunnel.phase2_lifetime),
        "psk_digest": digest(tunnel.psk or ""),
        "prefixes": dict((e.host, ",".join(str(p) for p in e.prefixes)) for e in (tunnel.a, tunnel.b)),
        "addresses": dict((e.host, {"address": str(e.address),
                                    "local_address": str(e.local_address) if e.local_address else None})
                          for e in (tunnel.a, tunnel.b)),
        "nat_traversal": tunnel.nat_traversal,
    }


def _suite_part(suite, part):
    data = suite.profile if part == "phase1" else suite.proposal
    return dict((k, ",".join(v) if isinstance(v, (list, tuple)) else v) for k, v in data.items())
