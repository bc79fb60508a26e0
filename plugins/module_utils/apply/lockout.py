# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Protection against locking the management hosts out of a router.

Two independent guards (docs/firewall.md "Lock-out protection"):

1. ``check`` -- static: evaluate the input chain before and after the change (managed and foreign
   rules, in order) for every management source, management port and connection state (``new``: a
   fresh API connection; ``established``: the session in use). A packet is described only by what
   is known (source prefix, TCP, destination port, state, optionally the arrival interface and its
   interface lists); any matcher that depends on something unknown is evaluated both ways, so the
   outcome is a set of possible verdicts, each with the rule that gives it. The plan is refused when
   it adds a way to drop such a packet (a dropping rule that could not drop it before) or removes
   the last way to accept it.
2. ``revert_script`` / ``arm`` / ``disarm`` -- dynamic: a ``/system/script`` that restores the managed
   rules as they were and a ``/system/scheduler`` entry that runs it after the confirm timeout,
   unless a NEW API connection after the change removes both.

Kept Python 3.8+ compatible: the module's ``main()`` may run it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import placement
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus as menu_table
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import rsc
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import (
    format_duration,
    normalize,
    parse_duration,
)

# RouterOS /ip/service defaults: api, api-ssl, ssh, winbox
DEFAULT_MANAGEMENT_PORTS = (8728, 8729, 22, 8291)
MIN_CONFIRM_TIMEOUT = 10    # seconds: the shortest commit-confirm whatever the API timeout
CONFIRM_ROUND_TRIPS = 4     # the confirm: connect, login, print the scheduler, remove it
ACCEPT = "accept"
DROP = "drop"
_RETURN = "return"
_MAX_JUMP_DEPTH = 16
# rule properties that do not restrict which packets match
_NOT_MATCHERS = frozenset((
    ".id", "chain", "action", "comment", "disabled", "dynamic", "invalid", "bytes", "packets", "log",
    "log-prefix", "jump-target", "address-list", "address-list-timeout", "new-mss", "passthrough",
    "to-addresses", "to-ports", "hw-offload", "reject-with", "place-before", ".nextid", "new-priority",
    "new-dscp", "new-ttl", "new-connection-mark", "new-packet-mark", "new-routing-mark",
))
_DROP_ACTIONS = frozenset(("drop", "reject", "tarpit"))
_CONTINUE_ACTIONS = frozenset(("passthrough", "log", "add-src-to-address-list", "add-dst-to-address-list",
                               "fasttrack-connection"))
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17", "icmp": "1", "ipsec-esp": "50", "ipsec-ah": "51", "gre": "47"}


class LockoutError(Exception):
    """The plan would cut off a management source, or the commit-confirm could not be armed."""


# ---------------------------------------------------------------------------------------------
# management sources
# ---------------------------------------------------------------------------------------------

class Source(object):
    """One management source: who connects, and what is known about how the packets arrive."""

    def __init__(self, address, in_interface=None, interface_lists=None, dst_address=None, via_ipsec=False):
        self.network = ipaddress.ip_network(str(address), strict=False)
        self.in_interface = in_interface
        # the interface lists the arrival interface is a member of (None: unknown)
        self.interface_lists = None if interface_lists is None else set(interface_lists)
        self.dst_address = None if dst_address is None else ipaddress.ip_network(str(dst_address), strict=False)
        self.via_ipsec = via_ipsec

    def __str__(self):
        return str(self.network)


def parse_sources(values):
    """Module option ``management_sources`` (strings or dicts) -> Source objects."""
    sources = []
    for value in values or ():
        try:
            if isinstance(value, dict):
                sources.append(Source(value["address"], value.get("in_interface"), value.get("interface_lists"),
                                      value.get("dst_address"), bool(value.get("via_ipsec", False))))
            else:
                sources.append(Source(value))
        except (KeyError, ValueError) as error:
            raise LockoutError("management source %r is not valid: %s" % (value, error))
    return sources


class Packet(object):
    def __init__(self, source, port, state):
        self.source = source
        self.port = int(port)
        self.state = state  # "new" or "established"

    def describe(self):
        return "%s -> tcp/%d (%s)" % (self.source, self.port, self.state)


# ---------------------------------------------------------------------------------------------
# three-valued matching: True, False or None (unknown: depends on what the packet does not say)
# ---------------------------------------------------------------------------------------------

def _negation(text):
    text = str(text).strip()
    if text.startswith("!"):
        return True, text[1:]
    return False, text


def _apply_negation(negated, result):
    if result is None:
        return None
    return (not result) if negated else result


def _networks(text):
    """IP networks of an address matcher value (address, prefix or range); None if not parseable."""
    text = text.strip()
    try:
        if "-" in text:
            first, last = text.split("-", 1)
            return list(ipaddress.summarize_address_range(ipaddress.ip_address(first.strip()),
                                                          ipaddress.ip_address(last.strip())))
        return [ipaddress.ip_network(text, strict=False)]
    except ValueError:
        return None


def _prefix_match(known, value):
    """Does ``known`` (a network: every address the packet may carry) fall in matcher ``value``?"""
    if known is None:
        return None
    nets = _networks(value)
    if nets is None or any(net.version != known.version for net in nets):
        return None if nets is None else False
    if any(known.subnet_of(net) for net in nets):
        return True
    if any(known.overlaps(net) for net in nets):
        return None
    return False


def _port_match(port, value):
    for part in value.split(","):
        part = part.strip()
        if "-" in part:
            low, high = part.split("-", 1)
            if int(low) <= port <= int(high):
                return True
        elif part and int(part) == port:
            return True
    return False


class AddressLists(object):
    """What is known about address-list membership: static entries, plus lists that change at run time."""

    def __init__(self, rows, volatile=()):
        self.entries = {}
        self.unknown_lists = set(volatile)
        for row in rows:
            if normalize("disabled", row.get("disabled", "false")) == "true":
                continue
            name = row.get("list")
            nets = _networks(row.get("address", ""))
            dynamic = normalize("dynamic", row.get("dynamic", "false")) == "true" or row.get("timeout")
            if nets is None or dynamic:
                self.unknown_lists.add(name)  # DNS names resolve, dynamic entries come and go
                continue
            self.entries.setdefault(name, []).extend(nets)

    def contains(self, name, known):
        if known is None:
            return None
        nets = [net for net in self.entries.get(name, []) if net.version == known.version]
        if any(known.subnet_of(net) for net in nets):
            return True
        if name in self.unknown_lists or any(known.overlaps(net) for net in nets):
            return None
        return False


def _match_one(name, value, packet, lists):
    negated, body = _negation(value)
    source = packet.source
    if name == "protocol":
        result = body in ("tcp", "6")
    elif name == "src-address":
        result = _prefix_match(source.network, body)
    elif name == "dst-address":
        result = _prefix_match(source.dst_address, body)
        if result is None and source.dst_address is None and not source.network.is_loopback \
                and all(net.version == 4 and net.subnet_of(_LOOPBACK) for net in (_networks(body) or [_LOOPBACK.supernet()])):
            result = False  # RouterOS drops packets to 127/8 from outside the router as martians
    elif name == "src-address-list":
        result = lists.contains(body, source.network)
    elif name == "dst-address-list":
        result = lists.contains(body, source.dst_address)
    elif name == "dst-port":
        result = _port_match(packet.port, body)
    elif name == "port":
        # matches the source OR the destination port; the source port is an unknown ephemeral one
        result = True if _port_match(packet.port, body) else None
    elif name == "connection-state":
        result = packet.state in [s.strip() for s in body.split(",")]
    elif name == "connection-nat-state":
        result = False  # management connections to the router itself are not NATed
    elif name == "ipsec-policy":
        direction, _sep, policy = body.partition(",")
        if direction == "in" and policy in ("ipsec", "none"):
            result = (policy == "ipsec") == bool(source.via_ipsec)
        else:
            result = None
    elif name == "in-interface":
        result = None if source.in_interface is None else (source.in_interface == body)
    elif name == "in-interface-list":
        if body == "all":
            result = True
        elif body == "none":
            result = False
        else:
            result = None if source.interface_lists is None else (body in source.interface_lists)
    else:
        result = None  # a matcher this analysis does not model (limit, time, src-port, ...)
    return _apply_negation(negated, result)


def rule_matches(row, packet, lists):
    """True, False or None (unknown) for one rule and one packet."""
    verdict = True
    for name, value in row.items():
        if name in _NOT_MATCHERS or value is None:
            continue
        result = _match_one(name, value, packet, lists)
        if result is False:
            return False
        if result is None:
            verdict = None
    return verdict


def _rule_label(row):
    key = menu_table.owner_key(menu_table.MENUS_BY_SECTION["filter"], row) \
        if not normalize("dynamic", row.get("dynamic", "false")) == "true" else None
    if key:
        return "managed rule %s" % key
    identity = row.get(".id")
    comment = row.get("comment")
    return "rule %s%s" % (identity if isinstance(identity, str) else "(new)",
                          (" (%s)" % comment) if comment else "")


def outcomes(rows, chain, packet, lists, _depth=0):
    """Possible verdicts of ``chain`` for ``packet``: a set of (verdict, rule label) pairs.

    The verdict is ``accept`` or ``drop``; falling off the end of a built-in chain is RouterOS's
    implicit accept, of a user chain a return (label None). Unknown matches take both branches.
    """
    if _depth > _MAX_JUMP_DEPTH:
        return set([(ACCEPT, "jump depth exceeded"), (DROP, "jump depth exceeded")])
    results = set()
    for row in rows:
        if row.get("chain") != chain:
            continue
        if normalize("disabled", row.get("disabled", "false")) == "true":
            continue
        if normalize("invalid", row.get("invalid", "false")) == "true":
            continue
        matched = rule_matches(row, packet, lists)
        if matched is False:
            continue
        action = row.get("action", "accept")
        if action in _CONTINUE_ACTIONS:
            continue
        if action == "accept":
            branch = set([(ACCEPT, _rule_label(row))])
        elif action in _DROP_ACTIONS:
            branch = set([(DROP, _rule_label(row))])
        elif action == "return":
            branch = set([(_RETURN, None)])
        elif action == "jump":
            inner = outcomes(rows, row.get("jump-target", ""), packet, lists, _depth + 1)
            branch = set(o for o in inner if o[0] != _RETURN)
            if any(o[0] == _RETURN for o in inner):
                branch.add(("continue", None))
        else:
            branch = set([(ACCEPT, _rule_label(row)), (DROP, _rule_label(row))])  # unknown action
        if matched is True and ("continue", None) not in branch:
            return results | branch
        results |= set(o for o in branch if o[0] != "continue")
    if chain in ("input", "forward", "output"):
        results.add((ACCEPT, "end of chain (implicit accept)"))
    else:
        results.add((_RETURN, None))
    return results


def _volatile_lists(rows):
    """Lists that rules fill at run time (add-src/dst-to-address-list): membership unknowable."""
    return set(row.get("address-list") for row in rows
               if row.get("action") in ("add-src-to-address-list", "add-dst-to-address-list"))


def check(before_rows, after_rows, before_lists, after_lists, sources, ports=DEFAULT_MANAGEMENT_PORTS):
    """Static lock-out analysis of a filter change. Returns a report dict; ``refused`` tells the verdict.

    ``before_rows``/``after_rows``: /ip/firewall/filter rows (RouterOS names) in order, before and
    after the change. ``before_lists``/``after_lists``: /ip/firewall/address-list rows.
    """
    report = {"refused": False, "problems": [], "warnings": [], "checked": 0}
    lists_before = AddressLists(before_lists, _volatile_lists(before_rows))
    lists_after = AddressLists(after_lists, _volatile_lists(after_rows))
    for source in sources:
        for port in ports:
            for state in ("new", "established"):
                packet = Packet(source, port, state)
                report["checked"] += 1
                was = outcomes(before_rows, "input", packet, lists_before)
                now = outcomes(after_rows, "input", packet, lists_after)
                was_drops = set(label for verdict, label in was if verdict == DROP)
                new_drops = sorted(label for verdict, label in now if verdict == DROP and label not in was_drops)
                accepted_before = any(verdict == ACCEPT for verdict, _label in was)
                accepted_after = any(verdict == ACCEPT for verdict, _label in now)
                if new_drops:
                    report["problems"].append("%s would be dropped by %s" % (packet.describe(), ", ".join(new_drops)))
                elif accepted_before and not accepted_after:
                    report["problems"].append("%s would no longer be accepted" % packet.describe())
                elif not accepted_before:
                    report["warnings"].append("%s is already not accepted by the current input chain"
                                              % packet.describe())
    report["refused"] = bool(report["problems"])
    return report


# ---------------------------------------------------------------------------------------------
# commit-confirm: revert script and scheduler
# ---------------------------------------------------------------------------------------------

REVERT_NAME = "ipsecfleet-fw-revert"
# the managed firewall items; the revert removes and re-adds exactly these
OWNED_COMMENT_REGEX = "^" + menu_table.OWNER_COMMENT_PREFIX + placement.KEY_PREFIX
_READONLY = frozenset((".id", "bytes", "packets", "dynamic", "invalid", "creation-time", ".nextid"))


def revert_script(rows_by_path):
    """RouterOS script text that restores the owned firewall items of ``rows_by_path`` as they are now.

    The subset used (and nothing else): per menu ``remove [find where comment~"<regex>"]`` and
    ``add <arg>=<value> ...`` (with ``place-before=<id>`` naming the next foreign, non-dynamic rule of
    the current table, whose id the change never alters), then ``remove [find where name=...]`` of its
    own scheduler and script in ``/system scheduler`` and ``/system script``. Each menu is entered on
    a line of its own, so every ``[find]`` runs in the menu of its command.
    """
    lines = ["# ipsecfleet commit-confirm: restore the managed firewall rules as they were before the change"]
    for path in placement.FIREWALL_PATHS:
        rows = rows_by_path.get(path) or []
        menu = menu_table.MENUS[path]
        lines.append(rsc.menu_header(path))
        lines.append('remove [find where comment~"%s"]' % OWNED_COMMENT_REGEX)
        for index, row in enumerate(rows):
            if not placement.is_ours(menu, row):
                continue
            words = ["add"]
            for name in sorted(row):
                if name in _READONLY or name.startswith("."):
                    continue
                words.append("%s=%s" % (name, rsc.quote(row[name])))
            if menu.ordered:
                following = _next_foreign(menu, rows, index)
                if following is not None:
                    words.append("place-before=%s" % following)
            lines.append(" ".join(words))
    # menu context lines, so every [find] runs in its own menu whatever the interpreter's rule
    lines.extend(["/system scheduler", 'remove [find where name="%s"]' % REVERT_NAME,
                  "/system script", 'remove [find where name="%s"]' % REVERT_NAME])
    return "\n".join(lines) + "\n"


def _next_foreign(menu, rows, index):
    for row in rows[index + 1:]:
        if placement.is_foreign(menu, row):
            return row[".id"]
    return None


def minimum_confirm_timeout(api_timeout):
    """The shortest commit-confirm that lets the confirm arrive before the revert fires, in seconds.

    After the last write the confirm opens a NEW connection and removes the scheduler: the TCP
    connect, the login, the scheduler's print and its removal may each take up to the API
    ``timeout`` before the client gives up (community.routeros passes it to every socket
    operation), so a revert due sooner than CONFIRM_ROUND_TRIPS x timeout can fire while a working
    confirm is still on its way. Never less than MIN_CONFIRM_TIMEOUT.
    """
    try:
        api_timeout = max(0, int(api_timeout or 0))
    except (TypeError, ValueError):
        api_timeout = 0
    return max(MIN_CONFIRM_TIMEOUT, CONFIRM_ROUND_TRIPS * api_timeout)


def timeout_seconds(value, api_timeout=None):
    """``confirm_timeout`` in seconds; refused (before anything is written) when it is not a RouterOS
    time or is shorter than what the confirm needs with the API ``api_timeout``."""
    seconds = parse_duration(value)
    if seconds is None or seconds < MIN_CONFIRM_TIMEOUT:
        raise LockoutError("confirm_timeout %r must be a RouterOS time of at least %ds" % (value, MIN_CONFIRM_TIMEOUT))
    minimum = minimum_confirm_timeout(api_timeout)
    if seconds < minimum:
        raise LockoutError(
            "confirm_timeout %r is shorter than the confirm may need: with the API timeout of %ss the new connection, "
            "its login and the removal of the revert scheduler (%d round trips) may take up to %ds, so the router "
            "could revert a change that worked; give confirm_timeout at least %s (or a shorter API timeout)"
            % (value, api_timeout, CONFIRM_ROUND_TRIPS, minimum, format_duration(minimum)))
    return int(seconds)


def pending_revert(session):
    """True when a revert scheduler from an earlier run is still armed on the router."""
    return any(row.get("name") == REVERT_NAME for row in session.read("/system/scheduler"))


def arm(session, script_text, timeout):
    """Create the revert script and a scheduler that runs it once ``timeout`` seconds from now,
    through the task's counted ``ApiSession`` (the same writes and quoting as every other change).

    RouterOS starts an interval scheduler at the time it is added, so its first run is one interval
    later; the script removes the scheduler (and itself) when it runs, so it runs exactly once.
    """
    if pending_revert(session):
        raise LockoutError("a commit-confirm revert (%s) is already armed on the router from an earlier run; "
                           "wait for it to fire or remove /system scheduler and /system script %s first"
                           % (REVERT_NAME, REVERT_NAME))
    comment = menu_table.owner_comment("fw-revert", "commit-confirm")
    session.add("/system/script", {"name": REVERT_NAME, "source": script_text, "comment": comment})
    session.add("/system/scheduler", {"name": REVERT_NAME, "interval": format_duration(timeout),
                                      "on-event": REVERT_NAME, "comment": comment})


def disarm(session):
    """Remove the scheduler first (so the script can no longer fire), then the script."""
    for path in ("/system/scheduler", "/system/script"):
        for row in session.read(path):
            if row.get("name") == REVERT_NAME:
                session.remove(path, row[".id"])
