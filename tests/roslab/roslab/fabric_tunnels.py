"""GRE and IPIP tunnel interfaces between lab routers (a mixin of ``roslab.fabric.Fabric``).

RouterOS facts followed (routeros7-behaviour.md section 4, MikroTik manual "GRE" / "IPIP"):

* a tunnel interface sends its packets from ``local-address`` (``0.0.0.0``: the address routing picks
  towards ``remote-address``) to ``remote-address``, as IP protocol 47 (GRE) or 4 (IPIP,
  ``ipencap``); the far router needs the mirror interface (same type, pointing back);
* the encapsulated packet is one of the router's own packets: it takes filter output and then the
  IPsec policy lookup like any other, so a transport-mode policy between the two WAN addresses
  protecting ``gre``/``ipencap`` encrypts it (ESP, or UDP 4500 with NAT-T); a policy with
  ``level=require`` and no installed SA drops it (out-no-states);
* the far router's filter input sees the decapsulated GRE/IPIP packet with ``ipsec-policy=in,ipsec``
  when it came out of an SA; a plain packet matching its own require policy is dropped;
* with ``keepalive=<interval>,<retries>`` the interface is ``running`` once its packets get through
  both ways and stops running ``interval x retries`` seconds after they stop getting through (the
  lab clock schedules that moment; a real router, whose last answered keepalive may be up to one
  interval older, notices up to one interval sooner); without keepalive it is running whenever it
  is enabled. A new interface runs from the first fabric step its packets get through;
* addresses on a running tunnel interface form a connected point-to-point network between the two
  routers: static routes through the far address lead into the tunnel.

Not emulated: the individual keepalive packets (the lab checks the path on every fabric step and
applies the interval x retries window), GRE keys/sequence numbers, EoIP, IPv6 tunnels (ip6gre/ipipv6),
connection tracking of the GRE flow (the packet is ``new``), the interface's ``ipsec-secret``
dynamic peer in this path (the dynamic objects exist in the store; their SAs are negotiated like any
peer's), fragmentation and ``dont-fragment``.
"""

from __future__ import annotations

from roslab import firewall_eval
from roslab.firewall_eval import Packet
from roslab.ike import POLICY_DEFAULTS, truthy
from roslab.schema import parse_time

# menu -> (IP protocol name of its packets, RouterOS interface type)
TUNNEL_TYPES = {"/interface/gre": ("gre", "gre-tunnel"), "/interface/ipip": ("ipencap", "ipip-tunnel")}
# bytes the encapsulation adds in front of the inner packet (RFC 2784 without key/sequence; RFC 2003)
ENCAPSULATION_BYTES = {"gre": 24, "ipencap": 20}


def keepalive_window(value):
    """Seconds without an answered keepalive before the interface stops running (interval x retries;
    ``10s,10`` -> 100), or None when keepalive is off. Retries default to 10 (RouterOS prints 10s,10)."""
    text = str(value or "").strip()
    if not text:
        return None
    interval, _comma, retries = text.partition(",")
    seconds = parse_time(interval)
    if seconds is None:
        return None
    return seconds * (int(retries) if retries.isdigit() else 10)


class TunnelMixin:
    """Tunnel interfaces: which are running, the point-to-point links they form, encapsulation."""

    def _tunnel_init(self):
        self._tunnel_links = []            # [((router, interface), (router, interface))]
        self.tunnel_running = {}           # (router, interface name) -> bool
        self._tunnel_last_ok = {}          # (router, interface name) -> lab time its keepalives last passed
        self._tunnel_timeouts = {}         # (router, interface name) -> lab time it stops running
        self._tunnel_carried = {}          # (router, interface name) -> its packets got through last step

    def _tunnel_times(self):
        yield from self._tunnel_timeouts.values()

    def tunnel_interface(self, name, interface):
        """(menu, row) of ``name``'s GRE/IPIP interface called ``interface``, or None."""
        router = self.routers[name]
        for menu in TUNNEL_TYPES:
            for row in self._items(router, menu):
                if row.get("name") == interface:
                    return menu, row
        return None

    def tunnel_source(self, name, row):
        """The outer source address of a tunnel interface's packets."""
        local = row.get("local-address", "0.0.0.0") or "0.0.0.0"
        if local not in ("0.0.0.0", "::"):
            return local
        return self._source_for(name, row.get("remote-address", ""))

    def _tunnels(self, now):
        """Recompute which tunnel interfaces run and the links they form (physical links only carry
        the encapsulated packets: a tunnel inside a tunnel is not emulated)."""
        ends = []
        for name in self.routers:
            if name in self.down_routers:
                continue
            for menu in TUNNEL_TYPES:
                for row in self._items(self.routers[name], menu):
                    if truthy(row.get("disabled", "false")):
                        continue
                    ends.append((name, menu, row))
        if not ends and not self._tunnel_links and not self.tunnel_running:
            return False
        self._tunnel_links = []
        self._tunnel_timeouts = {}
        carried_now = {}
        self._address_cache.clear()
        state = {}
        for key in [k for k in self._tunnel_last_ok if k[0] in self.down_routers]:
            del self._tunnel_last_ok[key]                 # a reboot starts the keepalives again
        for name, menu, row in ends:
            source = self.tunnel_source(name, row)
            mirror = None
            if source is not None:
                for other, other_menu, other_row in ends:
                    if other == name or other_menu != menu:
                        continue
                    if other_row.get("remote-address") != source:
                        continue
                    if not any(str(iface.ip) == row.get("remote-address")
                               for iface, _i, _p in self._addresses(other)):
                        continue
                    local = other_row.get("local-address", "0.0.0.0") or "0.0.0.0"
                    if local in ("0.0.0.0", row.get("remote-address")):
                        mirror = (other, other_row)
                        break
            carried = mirror is not None and self._tunnel_passes(name, menu, row, source, mirror[0]) and \
                self._tunnel_passes(mirror[0], menu, mirror[1], row.get("remote-address"), name)
            key = (name, row["name"])
            window = keepalive_window(row.get("keepalive", "10s,10"))
            if carried or self._tunnel_carried.get(key):
                # carried now, or carried until the change this step looks at: the path was fine
                # up to now, so the keepalive timeout counts from here
                self._tunnel_last_ok[key] = now
            carried_now[key] = carried
            if carried:
                state[key] = True
            elif window is None:
                state[key] = True                          # no keepalive: running while enabled
            else:
                # keepalives unanswered: running until interval x retries have passed without one
                last = self._tunnel_last_ok.get(key)
                state[key] = last is not None and now < last + window
                if state[key]:
                    self._tunnel_timeouts[key] = last + window
            if carried and (mirror[0], mirror[1]["name"]) in [e[0] for e in self._tunnel_links]:
                continue
            if carried:
                self._tunnel_links.append(((name, row["name"]), (mirror[0], mirror[1]["name"])))
        self._address_cache.clear()
        self._tunnel_carried = carried_now
        changed = state != self.tunnel_running
        self.tunnel_running = state
        for (name, interface), running in state.items():
            found = self.tunnel_interface(name, interface)
            if found is None:
                continue
            menu, row = found
            mtu = row.get("mtu", "auto")
            props = {"running": "true" if running else "false"}
            if mtu != "auto":
                props["actual-mtu"] = mtu
            try:
                self.routers[name].set_runtime_props(menu, row[".id"], props)
            except KeyError:
                pass
        if changed:
            self._address_cache.clear()
        return changed

    def _tunnel_passes(self, name, menu, row, source, far):
        """Does one encapsulated packet of ``name``'s tunnel interface reach ``far`` and pass its input?"""
        protocol = TUNNEL_TYPES[menu][0]
        dst = row.get("remote-address")
        policy = self._tunnel_policy(name, source, dst, protocol)
        via_sa = False
        if policy is not None and policy.get("action") == "encrypt":
            sa = self._trace_sa(name, policy, source, dst)
            if sa is None:
                if policy.get("level") != "use":
                    return False                           # require/unique: dropped, out-no-states
            else:
                via_sa = True
                outer, port = ("udp", 4500) if sa["natt"] else ("ipsec-esp", None)
                if not self._deliver_from(name, dst, outer, src_port=port, dst_port=port, src_ip=source,
                                          record=False):
                    return False
        elif policy is not None and policy.get("action") == "discard":
            return False
        if not via_sa:
            delivery = self._deliver_from(name, dst, protocol, src_ip=source, record=False)
            if not delivery:
                return False
            # the far end's own require policy for this flow refuses a packet that came in clear
            back = self._tunnel_policy(far, dst, source, protocol)
            if back is not None and back.get("action") == "encrypt" and back.get("level") != "use":
                return False
            return True
        packet = Packet(protocol=protocol, src_address=source, dst_address=dst,
                        in_interface=self._interface_towards(far, source) or self._trace_in_interface(far, source),
                        ipsec_in=True, time=self.clock.now, dst_address_type="local")
        return self._filter(far, "input", packet, count=False).action == "accept"

    def _tunnel_policy(self, name, src, dst, protocol):
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
            return row
        return None

    def tunnel_encapsulation(self, name, out_interface):
        """(protocol, outer src, outer dst, interface type) when ``out_interface`` is a tunnel
        interface of ``name``, else None."""
        if not out_interface:
            return None
        found = self.tunnel_interface(name, out_interface)
        if found is None:
            return None
        menu, row = found
        protocol, kind = TUNNEL_TYPES[menu]
        return protocol, self.tunnel_source(name, row), row.get("remote-address"), kind
