# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall an IPsec router needs, derived from its tunnels (pure functions, no router access).

Input: what the firewall needs to know of each tunnel ending on the router, a ``TunnelFacts``. The
feature builder (``build``) reads them straight from the intent's ``Tunnel`` model (``facts_of``); a
user of the ipsec_firewall module who does not use the intent passes the same facts as its
``tunnels`` option (``facts_from_option``).

Output: a ``FirewallPlan`` whose ``sections`` map a menus.py section (``address_lists``, ``raw``,
``filter``, ``nat``, ``mangle``) to the ordered owned items (module-option spelling: RouterOS argument
names with ``_`` for ``-``, string values, ``comment`` = ``ipsecfleet:<key> <text>``), and whose
``blocks`` map each item key to the placement block (firewall_placement.BLOCKS) it belongs to.

Everything is overridable: ``options`` change derivation knobs, ``overrides`` replace or remove a
derived item by key or add user items (see ``build_plan``). docs/firewall.md explains every rule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.menus import (
    MENUS_BY_SECTION,
    OWNER_NAME_PREFIX,
    owner_comment,
    owner_key,
)

KEY_PREFIX = "fw-"
DEFAULT_PEER_LIST = "ipsecfleet-peers"
IKE_PORTS = "500,4500"
SECTIONS = ("address_lists", "raw", "filter", "nat", "mangle")

DEFAULT_OPTIONS = {
    "peer_list": DEFAULT_PEER_LIST,
    # new IKE/NAT-T flows per peer set: RouterOS limit syntax count[/time][,burst][:packet]
    "ike_rate_limit": "10,5:packet",
    # "raw" (notrack, RouterOS manual's recommendation), "accept" (accepts before fasttrack), "none"
    "fasttrack_bypass": "raw",
    # "policy" (accept ipsec-policy=out,ipsec), "prefixes" (accept per tunnel prefix pair), "none"
    "nat_bypass": "policy",
    "forward_state": True,       # forward accept established,related + drop invalid
    "mss": "auto",               # "auto" (computed), an integer, or "none" (no clamping rules)
    "wan_mtu": 1500,
    "outer_ip_version": 4,
}


class PlanError(ValueError):
    """The tunnels or overrides cannot produce a valid firewall plan."""


class TunnelFacts(object):
    """What the firewall derivation reads of one tunnel, seen from the router being planned."""

    __slots__ = ("peer_address", "local_prefixes", "remote_prefixes", "enc_algorithms", "auth_algorithms",
                 "ipsec_protocols", "nat_traversal", "encapsulation", "interface")

    def __init__(self, peer_address, local_prefixes=(), remote_prefixes=(), enc_algorithms=None,
                 auth_algorithms=None, ipsec_protocols="esp", nat_traversal=True, encapsulation=None,
                 interface=None):
        self.peer_address = peer_address
        self.local_prefixes = tuple(local_prefixes or ())
        self.remote_prefixes = tuple(remote_prefixes or ())
        # None: the RouterOS proposal default; an empty auth list: an AEAD proposal (no separate ICV)
        self.enc_algorithms = enc_algorithms
        self.auth_algorithms = auth_algorithms
        self.ipsec_protocols = ipsec_protocols or "esp"
        self.nat_traversal = nat_traversal not in (False, "no", "false")
        # route-based: "gre" or "ipip" and the tunnel interface's name; None for policy-based
        if encapsulation not in (None, "gre", "ipip"):
            raise PlanError("encapsulation must be gre or ipip, not %r" % (encapsulation,))
        if encapsulation is not None and not interface:
            raise PlanError("a route-based tunnel (encapsulation %s) needs its interface name" % encapsulation)
        self.encapsulation = encapsulation
        self.interface = interface


def facts_of(tunnel, host):
    """The firewall facts of an intent ``Tunnel`` as ``host`` sees it."""
    _local, remote = tunnel.side(host)
    selectors = tunnel.selectors(host)
    return TunnelFacts(
        # a dynamic end: IKE/NAT-T and ESP from anywhere (the identities tell the ends apart); an end
        # reached by name: the address list holds the name (RouterOS resolves it)
        peer_address=str(remote.address) if not (remote.dynamic or remote.dns_name) else remote.peer_address(),
        local_prefixes=sorted(set(str(src) for src, _dst in selectors)),
        remote_prefixes=sorted(set(str(dst) for _src, dst in selectors)),
        enc_algorithms=tuple(tunnel.suite.proposal["enc_algorithms"]),
        auth_algorithms=tuple(tunnel.suite.proposal["auth_algorithms"]),
        nat_traversal=tunnel.nat_traversal,
        encapsulation=tunnel.mode if tunnel.route_based else None,
        interface=(OWNER_NAME_PREFIX + tunnel.name) if tunnel.route_based else None)


def backup_facts(tunnel, host):
    """The facts of the watcher's backup peer (HA): the same traffic, the backup's address."""
    if tunnel.backup is None or tunnel.watcher() is not tunnel.side(host)[0]:
        return []
    facts = facts_of(tunnel, host)
    facts.peer_address = str(tunnel.backup.address)
    return [facts]


def facts_from_option(entry, index=0):
    """The facts from one entry of the ipsec_firewall module's ``tunnels`` option (plain mapping)."""
    if not isinstance(entry, dict) or not entry.get("peer_address"):
        raise PlanError("tunnel #%d needs a peer_address" % index)
    known = TunnelFacts.__slots__
    unknown = sorted(k for k in entry if k not in known)
    if unknown:
        raise PlanError("tunnel #%d: unknown field(s) %s" % (index, ", ".join(unknown)))
    return TunnelFacts(**dict((k, v) for k, v in entry.items() if v is not None))


class FirewallPlan(object):
    def __init__(self):
        self.sections = dict((section, []) for section in SECTIONS)
        self.blocks = {}           # item key -> placement block name
        self.warnings = []
        self.mss = None            # the MSS clamp value used (None when no clamping)
        self.mss_explanation = None

    def add(self, section, key, block, text, **args):
        item = dict((name, value) for name, value in args.items() if value is not None)
        item["comment"] = owner_comment(KEY_PREFIX + key, text)
        self.sections[section].append(item)
        if block:
            self.blocks[KEY_PREFIX + key] = block
        return item

    def keys(self, section):
        return [item_key(item) for item in self.sections[section]]

    def as_dict(self):
        return {"sections": self.sections, "blocks": self.blocks, "warnings": self.warnings,
                "mss": self.mss, "mss_explanation": self.mss_explanation}


def item_key(item):
    """The owner key of a plan item (``fw-...``)."""
    return owner_key(MENUS_BY_SECTION["filter"], item)


# ---------------------------------------------------------------------------------------------
# MSS arithmetic (docs/firewall.md "MSS clamping" shows the same numbers worked out)
# ---------------------------------------------------------------------------------------------

# ESP: SPI (4) + sequence number (4)
ESP_HEADER = 8
# ESP trailer before padding alignment: pad length (1) + next header (1)
ESP_TRAILER = 2
NATT_UDP = 8
OUTER_IP = {4: 20, 6: 40}
# route-based encapsulation -> the RouterOS protocol name of its packets (GRE 47, IPIP 4)
ENCAPSULATION_PROTOCOL = {"gre": "gre", "ipip": "ipencap"}
INNER_IP_TCP = 40  # inner IPv4 header (20) + TCP header (20): MSS = inner packet - 40

# enc algorithm -> (IV bytes, block size the padded payload must align to, built-in ICV bytes or None)
# CBC ciphers align to their block; CTR/GCM/ChaCha20 only to 4 bytes (RFC 4303 section 2.4).
ENC_OVERHEAD = {
    "aes-128-cbc": (16, 16, None), "aes-192-cbc": (16, 16, None), "aes-256-cbc": (16, 16, None),
    "aes-128-ctr": (8, 4, None), "aes-192-ctr": (8, 4, None), "aes-256-ctr": (8, 4, None),
    "aes-128-gcm": (8, 4, 16), "aes-192-gcm": (8, 4, 16), "aes-256-gcm": (8, 4, 16),
    "chacha20poly1305": (8, 4, 16),
    "camellia-128": (16, 16, None), "camellia-192": (16, 16, None), "camellia-256": (16, 16, None),
    "twofish": (16, 16, None), "blowfish": (8, 8, None), "3des": (8, 8, None), "des": (8, 8, None),
    "null": (0, 4, None),
}
# auth algorithm -> truncated HMAC ICV bytes (RFC 2404 md5/sha1 96 bit, RFC 4868 sha2 half length)
AUTH_ICV = {"md5": 12, "sha1": 12, "sha256": 16, "sha512": 32, "null": 0}
PROPOSAL_DEFAULT_ENC = "aes-256-cbc,aes-192-cbc,aes-128-cbc"
PROPOSAL_DEFAULT_AUTH = "sha1"


def _words(value, default):
    if value is None or value == "":
        value = default
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def esp_overhead_mss(wan_mtu, enc, auth, nat_traversal=True, outer_ip_version=4):
    """Largest TCP MSS whose packets still fit ``wan_mtu`` after ESP tunnel-mode encapsulation.

    Returns (mss, explanation). The padded ESP payload (inner packet + 2 trailer bytes, rounded up to
    the cipher's alignment) must fit what is left of the MTU after the outer IP header, the optional
    NAT-T UDP header, the ESP header, the IV and the ICV.
    """
    if enc not in ENC_OVERHEAD:
        raise PlanError("unknown ESP encryption algorithm %r for the MSS computation" % enc)
    iv, align, aead_icv = ENC_OVERHEAD[enc]
    if aead_icv is not None:
        icv = aead_icv  # AEAD ciphers carry their own tag; auth-algorithms is not used
    else:
        if auth not in AUTH_ICV:
            raise PlanError("unknown ESP auth algorithm %r for the MSS computation" % auth)
        icv = AUTH_ICV[auth]
    if outer_ip_version not in OUTER_IP:
        raise PlanError("outer_ip_version must be 4 or 6")
    outer = OUTER_IP[outer_ip_version]
    natt = NATT_UDP if nat_traversal else 0
    room = int(wan_mtu) - outer - natt - ESP_HEADER - iv - icv
    padded = (room // align) * align
    inner = padded - ESP_TRAILER
    mss = inner - INNER_IP_TCP
    explanation = ("%s/%s: %d MTU - %d outer IP - %d NAT-T UDP - %d ESP header - %d IV - %d ICV = %d; "
                   "aligned to %d = %d; - %d ESP trailer = %d inner packet; - %d inner IP+TCP = MSS %d"
                   % (enc, auth if aead_icv is None else "aead", int(wan_mtu), outer, natt, ESP_HEADER,
                      iv, icv, room, align, padded, ESP_TRAILER, inner, INNER_IP_TCP, mss))
    return mss, explanation


def tunnels_mss(tunnels, wan_mtu=1500, outer_ip_version=4):
    """The smallest MSS over every tunnel and every algorithm it may negotiate, with its explanation."""
    worst = None
    for tunnel in _as_facts(tunnels):
        if tunnel.encapsulation is not None:
            continue    # a route-based tunnel's interface clamps to its own MTU (clamp-tcp-mss)
        natt = tunnel.nat_traversal
        for enc in _words(tunnel.enc_algorithms, PROPOSAL_DEFAULT_ENC):
            # an empty list is how AEAD proposals are written (auth-algorithms=""): no separate ICV
            auths = tunnel.auth_algorithms
            auths = ["null"] if auths is not None and not _words(auths, "") else _words(auths, PROPOSAL_DEFAULT_AUTH)
            for auth in auths:
                candidate = esp_overhead_mss(wan_mtu, enc, auth, natt, outer_ip_version)
                if worst is None or candidate[0] < worst[0]:
                    worst = candidate
    return worst


# ---------------------------------------------------------------------------------------------
# derivation
# ---------------------------------------------------------------------------------------------

def _ipv4_prefixes(values, what, warnings):
    result = []
    for value in values or ():
        try:
            network = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            raise PlanError("%s %r is not an IP prefix" % (what, value))
        if network.version != 4:
            warnings.append("%s %s is IPv6: /ip firewall rules cover IPv4 only, skipped" % (what, network))
            continue
        result.append(str(network))
    return result


def _peer_entry(address, warnings):
    """Address-list entry for a peer (RouterOS accepts IPs, prefixes and DNS names), or None for IPv6."""
    text = str(address).strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text  # a DNS name: RouterOS resolves address-list DNS entries itself
    if network.version != 4:
        warnings.append("peer %s is IPv6: /ip firewall covers IPv4 only, skipped" % text)
        return None
    return str(network.network_address) if network.prefixlen == 32 else str(network)


def _key_text(text):
    """A key-safe spelling of an address or prefix (owner keys stop at the first space)."""
    return text.replace("/", "_").replace(" ", "")


def _as_facts(tunnels):
    if not isinstance(tunnels, (list, tuple)):
        raise PlanError("tunnels must be a list")
    return [t if isinstance(t, TunnelFacts) else facts_from_option(t, i) for i, t in enumerate(tunnels)]


def derive(tunnels, options=None):
    """The firewall plan for one router from its tunnels' facts (before overrides)."""
    tunnels = _as_facts(tunnels)
    opts = dict(DEFAULT_OPTIONS)
    opts.update(dict((k, v) for k, v in (options or {}).items() if v is not None))
    for name, allowed in (("fasttrack_bypass", ("raw", "accept", "none")),
                          ("nat_bypass", ("policy", "prefixes", "none"))):
        if opts[name] not in allowed:
            raise PlanError("%s must be one of %s" % (name, ", ".join(allowed)))
    plan = FirewallPlan()
    peer_list = opts["peer_list"]

    peers = []
    pairs = []  # (local prefix, remote prefix), in tunnel order, unique
    uses_ah = False
    for tunnel in tunnels:
        entry = _peer_entry(tunnel.peer_address, plan.warnings)
        if entry is not None and entry not in peers:
            peers.append(entry)
        if "ah" in _words(tunnel.ipsec_protocols, "esp"):
            uses_ah = True
        local = _ipv4_prefixes(tunnel.local_prefixes, "local prefix", plan.warnings)
        remote = _ipv4_prefixes(tunnel.remote_prefixes, "remote prefix", plan.warnings)
        for src in local:
            for dst in remote:
                if (src, dst) not in pairs:
                    pairs.append((src, dst))

    for peer in peers:
        plan.add("address_lists", "peer-" + _key_text(peer), None, "IPsec peer",
                 list=peer_list, address=peer)

    if not tunnels:
        return plan
    routed = [t for t in tunnels if t.encapsulation is not None]

    # raw: tunnel traffic skips connection tracking, so FastTrack can never take it past the policies
    if opts["fasttrack_bypass"] == "raw":
        for src, dst in pairs:
            pair = _key_text(src) + "-" + _key_text(dst)
            plan.add("raw", "notrack-out-" + pair, "raw-notrack", "tunnel traffic bypasses FastTrack",
                     chain="prerouting", action="notrack", src_address=src, dst_address=dst)
            plan.add("raw", "notrack-in-" + pair, "raw-notrack", "tunnel traffic bypasses FastTrack",
                     chain="prerouting", action="notrack", src_address=dst, dst_address=src)

    # filter input: IKE/NAT-T and ESP (AH) only from the peers
    established = "established,related"
    plan.add("filter", "in-ike-established", "input", "IKE/NAT-T flows of the peers",
             chain="input", action="accept", protocol="udp", dst_port=IKE_PORTS,
             src_address_list=peer_list, connection_state=established)
    plan.add("filter", "in-ike-new", "input", "new IKE/NAT-T from the peers, rate limited",
             chain="input", action="accept", protocol="udp", dst_port=IKE_PORTS,
             src_address_list=peer_list, connection_state="new", limit=opts["ike_rate_limit"])
    plan.add("filter", "in-ike-excess", "input", "drop IKE/NAT-T from the peers over the rate limit",
             chain="input", action="drop", protocol="udp", dst_port=IKE_PORTS,
             src_address_list=peer_list)
    plan.add("filter", "in-esp", "input", "ESP from the peers",
             chain="input", action="accept", protocol="ipsec-esp", src_address_list=peer_list)
    if uses_ah:
        plan.add("filter", "in-ah", "input", "AH from the peers",
                 chain="input", action="accept", protocol="ipsec-ah", src_address_list=peer_list)
    # route-based: GRE / IPIP only from the tunnel's peer and only when it came out of the IPsec SA
    encapsulations = []
    for tunnel in routed:
        protocol = ENCAPSULATION_PROTOCOL[tunnel.encapsulation]
        if tunnel.encapsulation not in encapsulations:
            encapsulations.append(tunnel.encapsulation)
        plan.add("filter", "in-%s-%s" % (tunnel.encapsulation, _key_text(str(tunnel.peer_address))), "input",
                 "%s of %s from its peer, inside IPsec" % (tunnel.encapsulation.upper(), tunnel.interface),
                 chain="input", action="accept", protocol=protocol, src_address=str(tunnel.peer_address),
                 ipsec_policy="in,ipsec")
    plan.add("filter", "in-ike-other", "input", "drop IKE/NAT-T not from a peer",
             chain="input", action="drop", protocol="udp", dst_port=IKE_PORTS)
    plan.add("filter", "in-esp-other", "input", "drop ESP not from a peer",
             chain="input", action="drop", protocol="ipsec-esp")
    plan.add("filter", "in-ah-other", "input", "drop AH not from a peer" if uses_ah else "drop AH (unused)",
             chain="input", action="drop", protocol="ipsec-ah")
    for encapsulation in encapsulations:
        plan.add("filter", "in-%s-other" % encapsulation, "input",
                 "drop %s not from a peer inside IPsec" % encapsulation.upper(),
                 chain="input", action="drop", protocol=ENCAPSULATION_PROTOCOL[encapsulation])

    # filter forward, before FastTrack: policy-matched traffic is accepted before it can be fasttracked
    plan.add("filter", "fwd-ipsec-in", "forward-ipsec", "accept in ipsec policy",
             chain="forward", action="accept", ipsec_policy="in,ipsec")
    plan.add("filter", "fwd-ipsec-out", "forward-ipsec", "accept out ipsec policy",
             chain="forward", action="accept", ipsec_policy="out,ipsec")
    # route-based: what the tunnel interfaces carry was decrypted (in) or will be encrypted (out)
    for tunnel in routed:
        plan.add("filter", "fwd-iface-in-" + tunnel.interface, "forward-ipsec",
                 "accept from route-based tunnel %s" % tunnel.interface,
                 chain="forward", action="accept", in_interface=tunnel.interface)
        plan.add("filter", "fwd-iface-out-" + tunnel.interface, "forward-ipsec",
                 "accept into route-based tunnel %s" % tunnel.interface,
                 chain="forward", action="accept", out_interface=tunnel.interface)
    if opts["fasttrack_bypass"] == "accept":
        for src, dst in pairs:
            pair = _key_text(src) + "-" + _key_text(dst)
            plan.add("filter", "fwd-tunnel-out-" + pair, "forward-ipsec", "tunnel traffic bypasses FastTrack",
                     chain="forward", action="accept", connection_state=established,
                     src_address=src, dst_address=dst)
            plan.add("filter", "fwd-tunnel-in-" + pair, "forward-ipsec", "tunnel traffic bypasses FastTrack",
                     chain="forward", action="accept", connection_state=established,
                     src_address=dst, dst_address=src)
    # filter forward, after FastTrack (an established accept before it would disable FastTrack)
    if opts["forward_state"]:
        plan.add("filter", "fwd-established", "forward-state", "accept established,related",
                 chain="forward", action="accept", connection_state=established)
        plan.add("filter", "fwd-invalid", "forward-state", "drop invalid",
                 chain="forward", action="drop", connection_state="invalid")

    # nat: tunnel traffic must leave with its own addresses, so it is accepted before any masquerade
    if opts["nat_bypass"] == "policy":
        plan.add("nat", "nat-bypass", "nat-bypass", "no NAT for IPsec policy traffic",
                 chain="srcnat", action="accept", ipsec_policy="out,ipsec")
    if opts["nat_bypass"] != "none":
        for tunnel in routed:
            plan.add("nat", "nat-bypass-iface-" + tunnel.interface, "nat-bypass",
                     "no NAT into route-based tunnel %s" % tunnel.interface,
                     chain="srcnat", action="accept", out_interface=tunnel.interface)
    if opts["nat_bypass"] == "prefixes":
        for src, dst in pairs:
            plan.add("nat", "nat-bypass-" + _key_text(src) + "-" + _key_text(dst), "nat-bypass",
                     "no NAT for tunnel traffic", chain="srcnat", action="accept",
                     src_address=src, dst_address=dst)

    # mangle: TCP MSS clamping for traffic through the tunnels, both directions
    mss_option = opts["mss"]
    if str(mss_option) == "auto" and not [t for t in tunnels if t.encapsulation is None]:
        mss_option = "none"     # only route-based tunnels: each interface clamps to its MTU itself
    if str(mss_option) != "none":
        if str(mss_option) == "auto":
            plan.mss, plan.mss_explanation = tunnels_mss(tunnels, opts["wan_mtu"], int(opts["outer_ip_version"]))
        else:
            try:
                plan.mss = int(mss_option)
            except (TypeError, ValueError):
                raise PlanError("mss must be auto, none or an integer, not %r" % (mss_option,))
            plan.mss_explanation = "set explicitly"
        if not 536 <= plan.mss <= 65495:
            raise PlanError("MSS %d is outside 536..65495 (check wan_mtu)" % plan.mss)
        for direction in ("out", "in"):
            plan.add("mangle", "mss-" + direction, "mss", "clamp TCP MSS to %d through the tunnels" % plan.mss,
                     chain="forward", action="change-mss", protocol="tcp", tcp_flags="syn",
                     ipsec_policy=direction + ",ipsec", tcp_mss="!0-%d" % plan.mss,
                     new_mss=str(plan.mss), passthrough="yes")
    return plan


# blocks a user item goes to when it names none: by section and chain
DEFAULT_BLOCK = {
    ("raw", "prerouting"): "raw-notrack",
    ("filter", "input"): "input",
    ("filter", "forward"): "forward-ipsec",
    ("nat", "srcnat"): "nat-bypass",
    ("mangle", "forward"): "mss",
}


def apply_overrides(plan, overrides):
    """Change a derived plan with user overrides, in place; returns the plan.

    ``overrides`` maps a section to a list of entries. Each entry has ``key`` (with or without the
    ``fw-`` prefix): an entry whose key is derived replaces that item's arguments (a value of None
    removes the argument); ``state: absent`` removes the item; an entry with a new key adds a user
    item at the end of its block (``block`` names it, default by section and chain). ``text`` sets
    the human part of the comment.
    """
    for section, entries in (overrides or {}).items():
        if section not in plan.sections:
            raise PlanError("overrides: unknown section %r (one of %s)" % (section, ", ".join(SECTIONS)))
        for entry in entries or ():
            entry = dict(entry)
            key = str(entry.pop("key", "") or "")
            if not key or " " in key:
                raise PlanError("overrides.%s: every entry needs a key without spaces" % section)
            if not key.startswith(KEY_PREFIX):
                key = KEY_PREFIX + key
            state = entry.pop("state", "present")
            block = entry.pop("block", None)
            text = entry.pop("text", None)
            items = plan.sections[section]
            index = next((i for i, item in enumerate(items) if item_key(item) == key), None)
            if state == "absent":
                if index is not None:
                    del items[index]
                    plan.blocks.pop(key, None)
                continue
            if index is not None:
                item = items[index]
                for name, value in entry.items():
                    if value is None:
                        item.pop(name, None)
                    else:
                        item[name] = str(value) if not isinstance(value, bool) else ("yes" if value else "no")
                if text is not None:
                    item["comment"] = owner_comment(key, text)
                if block:
                    plan.blocks[key] = block
                continue
            item = dict((name, str(value) if not isinstance(value, bool) else ("yes" if value else "no"))
                        for name, value in entry.items() if value is not None)
            item["comment"] = owner_comment(key, text or "user rule")
            if section != "address_lists":
                if "chain" not in item:
                    raise PlanError("overrides.%s.%s: a rule needs a chain" % (section, key[len(KEY_PREFIX):]))
                block = block or DEFAULT_BLOCK.get((section, item["chain"]))
                if block is None:
                    raise PlanError("overrides.%s.%s: chain %s has no default block; name one with block"
                                    % (section, key[len(KEY_PREFIX):], item["chain"]))
                plan.blocks[key] = block
                # a new item goes after the last item of its block (or at the end of the section)
                positions = [i for i, existing in enumerate(items) if plan.blocks.get(item_key(existing)) == block]
                items.insert(positions[-1] + 1 if positions else len(items), item)
            else:
                items.append(item)
    return plan


def add_vrrp_rules(plan, interfaces):
    """A VRRP pair member (HA, docs/ha.md): VRRP advertisements (IP protocol 112) are accepted on
    the pair's LAN interfaces only and dropped everywhere else (the WAN side)."""
    for interface in sorted(set(interfaces)):
        plan.add("filter", "in-vrrp-" + _key_text(interface), "input", "VRRP of the pair on the LAN side",
                 chain="input", action="accept", protocol="vrrp", in_interface=interface)
    if interfaces:
        plan.add("filter", "in-vrrp-other", "input", "drop VRRP not from the pair's LAN",
                 chain="input", action="drop", protocol="vrrp")
    return plan


def build_plan(tunnels, options=None, overrides=None):
    """derive + apply_overrides: the desired owned firewall of one router."""
    return apply_overrides(derive(tunnels, options), overrides)


def to_row(item):
    """A plan item in RouterOS argument spelling (``src-address``), as the router prints it."""
    return dict((name.replace("_", "-"), value) for name, value in item.items())
