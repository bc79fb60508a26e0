"""Firewall evaluation: run a simulated packet through RouterOS filter (or raw) chains.

Pure functions over rows as RouterOS prints them (``{'.id': '*5', 'chain': 'input', 'action': 'drop',
'protocol': 'udp', 'dst-port': '500', 'disabled': 'false'}``). Semantics follow RouterOS 7
(reference §3): rules are tried in order, the first terminal action decides, ``jump`` enters a user
chain and ``return`` (or the end of that chain) comes back, every matcher may be negated with ``!``,
``port`` matches the source *or* destination port, and a chain that ends without a decision accepts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from roslab.clock import parse_duration
from roslab.schema import truthy

# IANA protocol numbers for the names RouterOS accepts in `protocol=` (/ip firewall filter).
PROTOCOL_NUMBERS = {
    "icmp": 1, "igmp": 2, "ggp": 3, "ip-encap": 4, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8,
    "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33,
    "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44,
    "idrp": 45, "rsvp": 46, "gre": 47, "ipsec-esp": 50, "ipsec-ah": 51, "icmpv6": 58,
    "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73, "vmtp": 81, "ospf": 89, "ipip": 94,
    "encap": 98, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udp-lite": 136,
}
TERMINAL_ACTIONS = {"accept": "accept", "drop": "drop", "reject": "reject", "tarpit": "drop",
                    "fasttrack-connection": "accept", "notrack": "accept"}
# actions that record something and let the packet continue down the chain
CONTINUE_ACTIONS = {"passthrough", "log", "add-src-to-address-list", "add-dst-to-address-list",
                    "mark-connection", "mark-packet", "mark-routing", "change-mss", "change-dscp",
                    "change-ttl", "set-priority", "sniff-tzsp", "snat", "dnat"}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}


@dataclass
class Packet:
    """A simulated packet as one router's firewall sees it."""

    protocol: str                      # name or number: "udp", "ipsec-esp", "tcp", "icmp", "17"
    src_address: str
    dst_address: str
    src_port: int | None = None
    dst_port: int | None = None
    in_interface: str | None = None
    out_interface: str | None = None
    connection_state: str = "new"      # new, established, related, invalid, untracked
    ipsec_in: bool = False             # arrived decapsulated from an IPsec SA (ipsec-policy=in,ipsec)
    ipsec_out: bool = False            # will be encapsulated by an IPsec policy (ipsec-policy=out,ipsec)
    size: int = 100                    # bytes, for counters and `limit` in bit mode
    time: float = 0.0                  # lab seconds, for `limit`
    connection_nat_state: str = ""     # "", srcnat, dstnat (the lab does not NAT: usually "")
    tcp_flags: str = ""                # e.g. "syn" for a new TCP connection
    icmp_type: str = "8:0"             # type:code of an ICMP packet (echo request; replies 0:0)
    src_address_type: str = "unicast"  # local when the router itself sends it (output chain)
    dst_address_type: str = "unicast"  # local when addressed to the router (input chain)
    ttl: int = 64
    dscp: int = 0


@dataclass
class Verdict:
    action: str                        # accept, drop, reject
    rule_id: str | None                # the .id of the deciding rule; None: the chain policy (accept)
    matched: list = field(default_factory=list)   # .ids of every rule that matched, in order
    skipped: list = field(default_factory=list)   # (.id, reason) of rules the lab could not evaluate


class FirewallError(ValueError):
    """A rule cannot be evaluated (a value RouterOS would not have accepted)."""


def protocol_number(value):
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    if text not in PROTOCOL_NUMBERS:
        raise FirewallError("unknown protocol %r" % value)
    return PROTOCOL_NUMBERS[text]


def _negated(value):
    text = str(value).strip()
    if text.startswith("!"):
        return True, text[1:].strip()
    return False, text


def address_in(spec, address):
    """Does ``address`` fall in a RouterOS address spec: ``1.2.3.4``, ``1.2.3.0/24``, ``1.2.3.4-1.2.3.9``?"""
    ip = ipaddress.ip_address(str(address).split("%")[0])
    spec = str(spec).strip()
    if "-" in spec:
        low, high = (ipaddress.ip_address(part.strip()) for part in spec.split("-", 1))
        return ip.version == low.version and low <= ip <= high
    try:
        network = ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return False   # a DNS name in an address list: not resolved in the lab
    return ip.version == network.version and ip in network


def ports_match(spec, port):
    """``500``, ``500,4500``, ``1000-2000,3000``: does ``port`` fall in the list?"""
    if port is None:
        return False
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            low, high = part.split("-", 1)
            if int(low) <= port <= int(high):
                return True
        elif int(part) == port:
            return True
    return False


def address_list_contains(entries, list_name, address, now=None):
    """Is ``address`` in address list ``list_name``? ``entries`` are /ip/firewall/address-list rows."""
    for entry in entries:
        if entry.get("list") != list_name or truthy(entry.get("disabled", "false")):
            continue
        expires = entry.get("_expires")
        if expires is not None and now is not None and now >= expires:
            continue
        if address_in(entry.get("address", ""), address):
            return True
    return False


class LimitState:
    """Token buckets for `limit=count[/time][,burst][:packet|bit]`, one per rule id."""

    def __init__(self):
        self._buckets = {}

    @staticmethod
    def parse(spec):
        text = str(spec).strip()
        mode = "packet"
        if ":" in text:
            text, mode = text.rsplit(":", 1)
        rate_part, _sep, burst_part = text.partition(",")
        count_text, _slash, period_text = rate_part.partition("/")
        count = float(count_text)
        period = parse_duration(period_text) if period_text else 1.0
        burst = float(burst_part) if burst_part else 0.0
        if mode not in ("packet", "bit"):
            raise FirewallError("invalid limit mode %r" % mode)
        return count, period, burst, mode

    def allow(self, rule_id, spec, packet):
        count, period, burst, mode = self.parse(spec)
        cost = packet.size * 8 if mode == "bit" else 1
        capacity = max(count + burst, cost)
        tokens, last = self._buckets.get(rule_id, (capacity, packet.time))
        tokens = min(capacity, tokens + (packet.time - last) * count / period)
        if tokens >= cost:
            self._buckets[rule_id] = (tokens - cost, packet.time)
            return True
        self._buckets[rule_id] = (tokens, packet.time)
        return False


def _match_list(negate, matched):
    return matched != negate


def rule_matches(rule, packet, address_lists=(), interface_lists=None, limits=None):
    """Does ``rule`` (a printed row) match ``packet``? Unknown matchers raise FirewallError."""
    number = protocol_number(packet.protocol)
    for key, raw in rule.items():
        if key.startswith(".") or key in _NOT_MATCHERS:
            continue
        negate, value = _negated(raw)
        if key == "protocol":
            ok = protocol_number(value) == number
        elif key in ("src-address", "dst-address"):
            ok = address_in(value, packet.src_address if key == "src-address" else packet.dst_address)
        elif key in ("src-address-list", "dst-address-list"):
            address = packet.src_address if key == "src-address-list" else packet.dst_address
            ok = address_list_contains(address_lists, value, address, packet.time)
        elif key in ("src-port", "dst-port", "port"):
            if number not in PORT_PROTOCOLS:
                ok = False
            elif key == "port":
                ok = ports_match(value, packet.src_port) or ports_match(value, packet.dst_port)
            else:
                ok = ports_match(value, packet.src_port if key == "src-port" else packet.dst_port)
        elif key == "connection-state":
            states = {state.strip() for state in value.split(",")}
            ok = packet.connection_state in states
        elif key == "ipsec-policy":
            direction, _sep, policy = value.partition(",")
            flag = packet.ipsec_in if direction == "in" else packet.ipsec_out
            ok = flag == (policy != "none")
        elif key in ("in-interface", "out-interface"):
            ok = (packet.in_interface if key == "in-interface" else packet.out_interface) == value
        elif key in ("in-interface-list", "out-interface-list"):
            interface = packet.in_interface if key == "in-interface-list" else packet.out_interface
            members = (interface_lists or {}).get(value, ())
            ok = value == "all" and interface is not None or interface in members
        elif key == "connection-nat-state":
            ok = bool(packet.connection_nat_state) and \
                packet.connection_nat_state in {state.strip() for state in value.split(",")}
        elif key in ("connection-mark", "packet-mark", "routing-mark"):
            ok = value == "no-mark"     # the lab's packets carry no marks
        elif key == "tcp-flags":
            wanted = [flag.strip() for flag in value.split(",")]
            have = set(packet.tcp_flags.split(",")) if packet.tcp_flags else set()
            ok = number == 6 and all((flag[1:] not in have) if flag.startswith("!") else (flag in have)
                                     for flag in wanted)
        elif key == "icmp-options":
            wanted_type, _sep, wanted_code = value.partition(":")
            have_type, _sep, have_code = packet.icmp_type.partition(":")
            ok = number == 1 and _in_range(wanted_type, int(have_type)) and \
                (not wanted_code or _in_range(wanted_code, int(have_code)))
        elif key in ("src-address-type", "dst-address-type"):
            have = packet.src_address_type if key == "src-address-type" else packet.dst_address_type
            ok = have in {kind.strip() for kind in value.split(",")}
        elif key == "packet-size":
            ok = _in_range(value, packet.size)
        elif key == "ttl":
            how, _sep, amount = value.partition(":")
            compare = {"equal": packet.ttl == int(amount or 0), "not-equal": packet.ttl != int(amount or 0),
                       "less-than": packet.ttl < int(amount or 0), "greater-than": packet.ttl > int(amount or 0)}
            ok = compare.get(how, False)
        elif key == "dscp":
            ok = _in_range(value, packet.dscp)
        elif key == "fragment":
            ok = not truthy(value)          # the lab's packets are never fragments
        elif key == "connection-limit":
            ok = False                      # the lab opens one connection per flow: never over a limit
        elif key in ("limit", "dst-limit"):
            ok = True   # checked last: a bucket is only spent by packets that matched everything else
            continue
        else:
            raise FirewallError("matcher %s=%s is not emulated" % (key, raw))
        if not _match_list(negate, ok):
            return False
    if "limit" in rule:
        negate, value = _negated(rule["limit"])
        allowed = (limits or LimitState()).allow(rule.get(".id", id(rule)), value, packet)
        if allowed == negate:
            return False
    if "dst-limit" in rule:
        # rate[/time],burst,mode[/expire]: one bucket per address (or pair) the mode names
        negate, value = _negated(rule["dst-limit"])
        parts = value.split(",")
        mode = parts[2].split("/")[0] if len(parts) > 2 else "addresses-and-dst-port"
        per = {"dst-address": packet.dst_address, "src-address": packet.src_address,
               "src-and-dst-addresses": (packet.src_address, packet.dst_address),
               "addresses-and-dst-port": (packet.src_address, packet.dst_address, packet.dst_port),
               "dst-address-and-port": (packet.dst_address, packet.dst_port)}.get(mode)
        if per is None:
            raise FirewallError("invalid dst-limit mode %r" % mode)
        spec = "%s,%s" % (parts[0], parts[1] if len(parts) > 1 else "0")
        allowed = (limits or LimitState()).allow((rule.get(".id", id(rule)), per), spec, packet)
        if allowed == negate:
            return False
    return True


def _in_range(spec, number):
    """``8``, ``0-1360``, ``1,5-7``: does ``number`` fall in it?"""
    return ports_match(spec, number)


# printed properties that are not matchers
_NOT_MATCHERS = {
    "chain", "action", "jump-target", "disabled", "comment", "log", "log-prefix", "bytes", "packets",
    "dynamic", "invalid", "address-list", "address-list-timeout", "reject-with", "passthrough",
    "new-mss", "to-addresses", "to-ports", "hw-offload", "new-connection-mark", "new-packet-mark",
    "new-routing-mark", "place-before", "copy-from",
}


def evaluate(rules, chain, packet, address_lists=(), interface_lists=None, limits=None, max_depth=16,
             strict=True):
    """Run ``packet`` through ``chain`` of ``rules`` (all rows of one table, in print order).

    Returns a Verdict: the action that decided and the rule id, or ("accept", None) when no rule
    decided (RouterOS's built-in chains accept by default). A rule the lab cannot evaluate (an
    unknown matcher or action) raises FirewallError; with ``strict=False`` it is skipped instead and
    listed in ``Verdict.skipped``.
    """
    matched, skipped = [], []
    outcome = _walk(rules, chain, packet, address_lists, interface_lists, limits or LimitState(),
                    matched, max_depth, None if strict else skipped)
    if outcome is None or outcome[0] == "return":   # `return` in a built-in chain: its policy
        return Verdict("accept", None, matched, skipped)
    return Verdict(outcome[0], outcome[1], matched, skipped)


def _walk(rules, chain, packet, address_lists, interface_lists, limits, matched, depth, skipped=None):
    if depth <= 0:
        raise FirewallError("jump nesting too deep at chain %s" % chain)
    for rule in rules:
        if rule.get("chain") != chain or truthy(rule.get("disabled", "false")) \
                or truthy(rule.get("invalid", "false")):
            continue
        try:
            if not rule_matches(rule, packet, address_lists, interface_lists, limits):
                continue
            if rule.get("action", "accept") not in TERMINAL_ACTIONS and rule.get("action") not in \
                    ("return", "jump") and rule.get("action") not in CONTINUE_ACTIONS:
                raise FirewallError("action %s is not emulated" % rule.get("action"))
        except FirewallError as error:
            if skipped is None:
                raise FirewallError("rule %s: %s" % (rule.get(".id"), error)) from None
            skipped.append((rule.get(".id"), str(error)))
            continue
        rule_id = rule.get(".id")
        matched.append(rule_id)
        action = rule.get("action", "accept")
        if action in TERMINAL_ACTIONS:
            return TERMINAL_ACTIONS[action], rule_id
        if action == "return":
            return "return", rule_id
        if action == "jump":
            target = rule.get("jump-target")
            if not target:
                raise FirewallError("rule %s: jump without jump-target" % rule_id)
            outcome = _walk(rules, target, packet, address_lists, interface_lists, limits, matched,
                            depth - 1, skipped)
            if outcome is not None and outcome[0] != "return":
                return outcome
            continue
        if action in CONTINUE_ACTIONS:
            continue
        raise FirewallError("rule %s: action %s is not emulated" % (rule_id, action))
    return None


def raw_notrack(rules, chain, packet, address_lists=(), interface_lists=None, limits=None):
    """Run the raw table; returns (verdict, untracked): a notrack rule makes the packet `untracked`."""
    verdict = evaluate(rules, chain, packet, address_lists, interface_lists, limits)
    untracked = False
    if verdict.rule_id is not None:
        deciding = next((r for r in rules if r.get(".id") == verdict.rule_id), {})
        untracked = deciding.get("action") == "notrack"
    return verdict, untracked
