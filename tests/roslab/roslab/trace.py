"""A packet trace through one lab router: which rule of each chain decides, the source after srcnat,
and whether the packet leaves encrypted (by which policy and SA) or in clear.

A mixin of ``roslab.fabric.Fabric`` (``fabric.trace(...)``). A question, not traffic: rule counters,
connection tracking and ``limit`` buckets do not move.

RouterOS facts it follows (reference §3, MikroTik manual "Packet Flow in RouterOS" and IPsec page):

* a forwarded packet meets raw prerouting, then filter forward, then srcnat in postrouting, then the
  IPsec policy lookup, which sees the packet **after** srcnat: a masquerade that rewrites the source
  of LAN-to-LAN traffic makes the tunnel policy miss it, and it leaves in clear;
* ``ipsec-policy=out,ipsec|none`` in filter and srcnat asks whether the packet, as it is then (before
  srcnat), matches an encrypting policy: that is why the collection's ``accept ipsec-policy=out,ipsec``
  above the masquerade, or defconf's masquerade with ``ipsec-policy=out,none``, spares tunnel traffic;
* raw ``notrack`` makes the packet ``untracked``: no connection, so no NAT and no FastTrack;
* NAT rules see only a connection's first packet: an established packet keeps the NAT decided then,
  so the srcnat chain is evaluated as for the connection's first (``new``) packet;
* FastTrack: an established/related packet accepted by a ``fasttrack-connection`` rule bypasses the
  IPsec policies and leaves in clear (the manual's "random packet drops" symptom);
* the router's own packets take raw output, filter output, srcnat; packets to the router's own
  addresses take raw prerouting and filter input;
* a packet that arrived decrypted from an SA matches ``ipsec-policy=in,ipsec``;
* a packet routed into a GRE/IPIP interface (and matching no policy itself) is encapsulated: the
  router sends the GRE/IPIP packet from the interface's local address to its remote-address, and
  that packet is traced again as the router's own (output), where a transport-mode policy encrypts
  it (``encapsulated`` and ``outer`` in the result).

Lab simplifications: mangle and dstnat do not change packets and are not traced; lab topologies
usually have no default route, so a destination that is neither connected nor statically routed is
taken out of the interface of the matching tunnel policy's SA (``route.via == "ipsec-policy"``),
where a real router needs a route (a default route out of WAN).
"""

from __future__ import annotations

import ipaddress

from roslab import firewall_eval
from roslab.firewall_eval import LimitState, Packet
from roslab.ike import POLICY_DEFAULTS, truthy

SRCNAT_ACTIONS = ("masquerade", "src-nat", "netmap", "same", "endpoint-independent-nat")
STATES = ("new", "established", "related", "invalid", "untracked")
EPHEMERAL_PORT = 49152
PORT_PROTOCOLS = ("tcp", "udp", "6", "17")


class TraceMixin:
    """``Fabric.trace``: how one router's firewall and IPsec policies treat a packet."""

    def trace(self, router, src, dst, protocol="tcp", dst_port=None, state="new", src_port=None):
        """Trace a packet from ``src`` to ``dst`` through ``router`` (the router it enters, or the
        one that sends it when ``src`` is its own address).

        ``state`` is the connection state of the packet (``new``, ``established``, ``related``,
        ``invalid``); raw ``notrack`` turns it into ``untracked``. Returns a JSON-able dict:
        ``path`` (forward, output, input), ``arrived`` (``via`` interface, local or ipsec: a source
        inside a tunnel's remote selector came decrypted from its SA, ``ipsec-policy=in,ipsec``),
        ``route``, ``chains`` (one entry per chain met: table,
        chain, action, rule id and comment, rules skipped), ``connection_state``, ``fasttracked``,
        ``src_after_nat``, ``nat`` (the rewriting action or None), ``ipsec`` (policy and SA, or
        None) and ``result``: ``encrypted``, ``clear``, ``local`` (delivered to the router),
        ``dropped`` or ``unreachable``, with a ``reason``.
        """
        name = router
        rtr = self._router(name)
        state = str(state)
        if state not in STATES:
            raise ValueError("state must be one of %s, got %r" % (", ".join(STATES), state))
        protocol = str(protocol)
        firewall_eval.protocol_number(protocol)        # unknown names fail here, not mid-trace
        str_protocol = protocol.lower()
        has_ports = str_protocol in PORT_PROTOCOLS
        if has_ports and src_port is None:
            src_port = EPHEMERAL_PORT
        if not has_ports:
            src_port = dst_port = None
        src, dst = str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst))
        own = {str(iface.ip) for iface, _if, _parent in self._addresses(name)}
        path = "output" if src in own else "input" if dst in own else "forward"
        out = {"router": name, "protocol": protocol, "src": src, "dst": dst, "src_port": src_port,
               "dst_port": dst_port, "state": state, "path": path, "arrived": None, "route": None,
               "chains": [],
               "connection_state": state, "fasttracked": False, "src_after_nat": src, "nat": None,
               "ipsec": None, "encapsulated": None, "outer": None, "result": None, "reason": ""}

        in_interface = None if path == "output" else self._trace_in_interface(name, src)
        # a source behind no interface of ROUTER but inside a tunnel's remote selector arrived
        # decrypted from that tunnel's SA (ipsec-policy=in,ipsec), on the SA's interface
        inbound = self._trace_inbound(name, src, dst) if path != "output" and in_interface is None else None
        if inbound is not None:
            in_interface = self._interface_towards(name, inbound["sa"]["dst"].split(":")[0])
            out["arrived"] = dict(inbound, via="ipsec", interface=in_interface)
        else:
            out["arrived"] = {"via": "local" if path == "output" else "interface", "interface": in_interface}
        policy_pre = self._trace_policy(name, src, dst, str_protocol, src_port, dst_port)
        ipsec_out = policy_pre is not None and policy_pre.get("action") == "encrypt"
        out_interface = None
        if path != "input":
            route = self._trace_route(name, dst, policy_pre)
            if route is None:
                out.update(result="unreachable", reason="no route to %s" % dst)
                return out
            out["route"] = route
            out_interface = route["out_interface"]
        else:
            out["route"] = {"out_interface": None, "via": "local"}
        lists = self._items(rtr, "/ip/firewall/address-list")
        interface_lists = self._interface_lists(name)

        def packet(connection_state):
            return Packet(protocol=protocol, src_address=src, dst_address=dst, src_port=src_port,
                          dst_port=dst_port, in_interface=in_interface, out_interface=out_interface,
                          connection_state=connection_state, ipsec_in=inbound is not None,
                          ipsec_out=ipsec_out and path != "input",
                          time=self.clock.now,
                          tcp_flags="syn" if str_protocol in ("tcp", "6") and connection_state == "new" else "",
                          src_address_type="local" if path == "output" else "unicast",
                          dst_address_type="local" if path == "input" else "unicast")

        def chain(table, chain_name, pkt, rewrite=None):
            rules = self._items(rtr, "/ip/firewall/" + table)
            evaluated = rules if rewrite is None else [rewrite(rule) for rule in rules]
            try:
                verdict = firewall_eval.evaluate(evaluated, chain_name, pkt, lists, interface_lists,
                                                 LimitState(), strict=False)
            except firewall_eval.FirewallError as error:   # a jump loop: the lab cannot say
                entry = {"table": table, "chain": chain_name, "action": "error", "rule": None,
                         "comment": None, "skipped": [[None, str(error)]]}
                out["chains"].append(entry)
                return entry
            row = next((r for r in rules if r.get(".id") == verdict.rule_id), {})
            action = row.get("action", "accept") if verdict.rule_id else "accept"
            entry = {"table": table, "chain": chain_name, "action": action, "rule": verdict.rule_id,
                     "comment": row.get("comment"), "skipped": [list(s) for s in verdict.skipped]}
            if verdict.rule_id is None:
                entry["action"] = "accept"
                entry["comment"] = "no rule decided: the chain accepts"
            out["chains"].append(entry)
            return entry

        connection_state = state
        raw = chain("raw", "output" if path == "output" else "prerouting", packet(state))
        if raw["action"] == "notrack":
            connection_state = "untracked"
        elif raw["action"] in ("drop", "reject"):
            out.update(result="dropped", reason="raw %s rule %s" % (raw["chain"], raw["rule"]))
            return out
        out["connection_state"] = connection_state

        filter_chain = {"forward": "forward", "output": "output", "input": "input"}[path]
        decided = chain("filter", filter_chain, packet(connection_state))
        if decided["action"] in ("drop", "reject", "tarpit"):
            out.update(result="dropped", reason="filter %s rule %s" % (filter_chain, decided["rule"]))
            return out
        if path == "input":
            out.update(result="local", reason="accepted by filter input")
            return out
        fasttracked = decided["action"] == "fasttrack-connection" and connection_state in ("established",
                                                                                           "related")
        out["fasttracked"] = fasttracked

        src_after = src
        if connection_state == "untracked":
            out["chains"].append({"table": "nat", "chain": "srcnat", "action": "not-evaluated", "rule": None,
                                  "comment": "untracked: no connection to NAT", "skipped": []})
        else:
            nat_actions = {}

            def as_terminal(rule):
                # the lab's evaluator knows filter actions: a rewriting NAT action decides like a drop
                if rule.get("action") in SRCNAT_ACTIONS:
                    nat_actions[rule.get(".id")] = rule["action"]
                    return dict(rule, action="drop")
                return rule
            # NAT sees the connection's first packet; its decision holds for the whole connection
            nat = chain("nat", "srcnat", packet("new"), rewrite=as_terminal)
            if nat["rule"] in nat_actions:
                nat_row = next(r for r in self._items(rtr, "/ip/firewall/nat") if r.get(".id") == nat["rule"])
                src_after = self._trace_rewrite(name, nat_row, src, out_interface)
                out["nat"] = nat_row["action"]
        out["src_after_nat"] = src_after

        if fasttracked:
            out.update(result="clear", reason="fasttracked by filter %s rule %s: IPsec policies are bypassed"
                       % (filter_chain, decided["rule"]))
            return out
        policy = self._trace_policy(name, src_after, dst, str_protocol, src_port, dst_port)
        encapsulation = self.tunnel_encapsulation(name, out_interface) if policy is None else None
        if encapsulation is not None:
            # routed into a GRE/IPIP interface: the router sends the encapsulated packet itself, and
            # that packet meets raw/filter output, srcnat and the IPsec policies (a transport policy)
            outer_protocol, outer_src, outer_dst, kind = encapsulation
            if outer_src is None:
                out.update(result="unreachable", reason="tunnel %s has no route to its remote-address %s"
                           % (out_interface, outer_dst))
                return out
            outer = self.trace(name, outer_src, outer_dst, protocol=outer_protocol)
            out["encapsulated"] = {"interface": out_interface, "type": kind, "protocol": outer_protocol,
                                   "src": outer_src, "dst": outer_dst,
                                   "running": self.tunnel_running.get((name, out_interface), True)}
            out["outer"] = outer
            out["ipsec"] = outer.get("ipsec")
            out.update(result=outer["result"], reason="routed into %s %s, encapsulated as %s %s -> %s: %s"
                       % (kind, out_interface, outer_protocol, outer_src, outer_dst, outer["reason"]))
            return out
        if policy is None:
            rewritten = " (source rewritten by %s)" % out["nat"] if src_after != src else ""
            out.update(result="clear", reason="no IPsec policy matches %s -> %s%s" % (src_after, dst, rewritten))
            return out
        info = {"policy": policy.get(".id"), "comment": policy.get("comment"), "peer": policy.get("peer"),
                "action": policy.get("action"), "level": policy.get("level"), "sa": None}
        out["ipsec"] = info
        if policy.get("action") == "none":
            out.update(result="clear", reason="policy %s has action=none" % policy.get(".id"))
            return out
        if policy.get("action") == "discard":
            out.update(result="dropped", reason="policy %s has action=discard" % policy.get(".id"))
            return out
        sa = self._trace_sa(name, policy, src_after, dst)
        if sa is None:
            if policy.get("level") == "use":
                out.update(result="clear", reason="policy %s (level=use) has no SA" % policy.get(".id"))
            else:
                out.update(result="dropped", reason="policy %s has no installed SA (out-no-states)"
                           % policy.get(".id"))
            return out
        info["sa"] = sa
        out.update(result="encrypted", reason="policy %s, SA %s -> %s spi %s"
                   % (policy.get(".id"), sa["src"], sa["dst"], sa["spi"]))
        return out

    # -- helpers -----------------------------------------------------------------------------------
    def _trace_in_interface(self, name, src):
        interface = self._interface_towards(name, src)
        if interface is None:
            via = self._source_for(name, src)        # a statically routed source: the gateway's side
            if via is not None:
                interface = self._interface_towards(name, via)
        return interface

    def _trace_route(self, name, dst, policy):
        """{out_interface, via}: connected, static, or (the lab has no default route) the interface
        holding the local address of the encrypting policy's tunnel; None: no way out."""
        interface = self._interface_towards(name, dst)
        if interface is not None:
            return {"out_interface": interface, "via": "connected"}
        source = self._source_for(name, dst)
        if source is not None:
            return {"out_interface": self._interface_towards(name, source), "via": "static"}
        if policy is not None and policy.get("action") == "encrypt":
            local = self._trace_tunnel_source(name, policy)
            interface = self._interface_towards(name, local) if local else None
            if interface is not None:
                return {"out_interface": interface, "via": "ipsec-policy"}
        return None

    def _trace_tunnel_source(self, name, policy):
        for sa in self.sas:
            if name in (sa.i_router, sa.r_router) and sa.alive.get(name) and \
                    sa.peer_name(name) == policy.get("peer"):
                return sa.address(name)
        if policy.get("sa-src-address") and policy.get("sa-src-address") not in ("0.0.0.0", "::"):
            return policy["sa-src-address"]
        peer = next((p for p in self._items(self._router(name), "/ip/ipsec/peer")
                     if p.get("name") == policy.get("peer")), None)
        if peer is None:
            return None
        if peer.get("local-address"):
            return peer["local-address"]
        remote = str(peer.get("address", "")).split("/")[0]
        try:
            return self._source_for(name, remote)
        except ValueError:
            return None

    def _trace_policy(self, name, src, dst, protocol, src_port, dst_port):
        """The first enabled, valid, non-template policy whose selectors hold the packet."""
        for policy in self._side(name).policies():
            row = dict(POLICY_DEFAULTS, **policy)
            if truthy(row["template"]) or truthy(row.get("invalid", "false")):
                continue
            if not (firewall_eval.address_in(row.get("src-address", "0.0.0.0/0"), src)
                    and firewall_eval.address_in(row.get("dst-address", "0.0.0.0/0"), dst)):
                continue
            if row["protocol"] not in ("all", "255") and \
                    firewall_eval.protocol_number(row["protocol"]) != firewall_eval.protocol_number(protocol):
                continue
            if not (_port_ok(row["src-port"], src_port) and _port_ok(row["dst-port"], dst_port)):
                continue
            return row
        return None

    def _trace_sa(self, name, policy, src, dst, inbound=False):
        """The outbound (or inbound) SA of the child negotiated for ``policy``, as installed-sa shows it."""
        for sa in self.sas:
            if name not in (sa.i_router, sa.r_router) or not all(sa.alive.values()):
                continue
            for policy_id, child in sa.children.items():
                own = policy_id if name == sa.i_router else child.r_policy_id
                if own == policy.get(".id"):
                    return self._trace_sa_info(name, sa, child, inbound)
        sa, child, _own = self._child_for(name, src, dst)     # a responder's template-generated policy
        if child is not None and sa.peer_name(name) == policy.get("peer"):
            return self._trace_sa_info(name, sa, child, inbound)
        return None

    def _trace_inbound(self, name, src, dst):
        """The policy and inbound SA a decrypted ``src`` -> ``dst`` packet came through, or None."""
        for policy in self._side(name).policies():
            row = dict(POLICY_DEFAULTS, **policy)
            if truthy(row["template"]) or row["action"] != "encrypt" or \
                    not (firewall_eval.address_in(row.get("dst-address", "0.0.0.0/0"), src)
                         and firewall_eval.address_in(row.get("src-address", "0.0.0.0/0"), dst)):
                continue
            sa = self._trace_sa(name, row, dst, src, inbound=True)
            if sa is not None:
                return {"policy": row.get(".id"), "comment": row.get("comment"), "sa": sa}
        return None

    @staticmethod
    def _trace_sa_info(name, sa, child, inbound=False):
        outbound = child.spi_r if sa.side(name) == "i" else child.spi_i
        incoming = child.spi_i if sa.side(name) == "i" else child.spi_r
        suffix = ":4500" if sa.natt else ""
        me, other = sa.address(name) + suffix, sa.address(sa.other(name)) + suffix
        src, dst = (other, me) if inbound else (me, other)
        return {"src": src, "dst": dst, "spi": incoming if inbound else outbound, "peer": sa.peer_name(name),
                "natt": bool(sa.natt)}

    def _trace_rewrite(self, name, rule, src, out_interface):
        """The source after a srcnat action: masquerade takes the out-interface's address."""
        action = rule.get("action")
        if action in ("masquerade", "endpoint-independent-nat") and not rule.get("to-addresses"):
            for iface, interface, _parent in self._addresses(name):
                if interface == out_interface:
                    return str(iface.ip)
            return src
        to = str(rule.get("to-addresses", "")).strip()
        if not to:
            return src
        if action == "netmap":
            try:
                network = ipaddress.ip_network(to, strict=False)
                host = int(ipaddress.ip_address(src)) & int(network.hostmask)
                return str(ipaddress.ip_address(int(network.network_address) | host))
            except ValueError:
                return src
        return to.split("-")[0].split("/")[0].strip()


def _port_ok(spec, port):
    spec = str(spec).strip()
    if spec in ("", "any", "0"):
        return True
    return port is not None and firewall_eval.ports_match(spec, port)


def format_trace(result):
    """The trace as lines for a terminal (``roslab trace``)."""
    ports = lambda address, port: address if port is None else "%s:%s" % (address, port)  # noqa: E731
    route = result.get("route") or {}
    head = "%s: %s %s -> %s (%s), path %s" % (
        result["router"], result["protocol"], ports(result["src"], result["src_port"]),
        ports(result["dst"], result["dst_port"]), result["state"], result["path"])
    if route.get("out_interface"):
        head += ", out %s (%s)" % (route["out_interface"], route["via"])
    lines = [head]
    arrived = result.get("arrived") or {}
    if arrived.get("via") == "ipsec":
        lines.append("  arrived          decrypted by SA %s -> %s spi=%s (policy %s %s)" % (
            arrived["sa"]["src"], arrived["sa"]["dst"], arrived["sa"]["spi"], arrived["policy"],
            arrived["comment"] or ""))
    for entry in result["chains"]:
        label = "%s %s" % (entry["table"], entry["chain"])
        lines.append("  %-16s %-22s %-5s %s" % (label, entry["action"], entry["rule"] or "-",
                                                entry["comment"] or ""))
        for rule_id, reason in entry.get("skipped") or ():
            lines.append("  %-16s skipped rule %s: %s" % ("", rule_id, reason))
    if result["connection_state"] != result["state"]:
        lines.append("  connection state  %s" % result["connection_state"])
    if result["path"] != "input" and result["result"] not in ("unreachable",):
        rewritten = "rewritten by %s" % result["nat"] if result["nat"] else "unchanged"
        lines.append("  source after srcnat  %s (%s)" % (result["src_after_nat"], rewritten))
    encapsulated = result.get("encapsulated")
    if encapsulated:
        lines.append("  tunnel           routed into %s %s (%s), encapsulated %s %s -> %s" % (
            encapsulated["type"], encapsulated["interface"], "running" if encapsulated["running"] else "not running",
            encapsulated["protocol"], encapsulated["src"], encapsulated["dst"]))
        for line in format_trace(result["outer"]).splitlines()[:-1]:
            lines.append("    " + line)
    ipsec = result.get("ipsec")
    if ipsec:
        lines.append("  ipsec policy     %s %s peer=%s action=%s" % (ipsec["policy"], ipsec["comment"] or "",
                                                                    ipsec["peer"], ipsec["action"]))
        if ipsec.get("sa"):
            sa = ipsec["sa"]
            lines.append("  ipsec SA         %s -> %s spi=%s" % (sa["src"], sa["dst"], sa["spi"]))
    lines.append("%s: %s" % (result["result"], result["reason"]))
    return "\n".join(lines)
