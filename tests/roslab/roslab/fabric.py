"""The lab network: links, reachability, firewalls on the packets that matter, IKE/IPsec between
lab routers, DPD, lifetimes, netwatch, VRRP, the scheduler and the lab clock.

The fabric reads each router's configuration with ``router.items(menu)`` and writes live state only
through the runtime hooks (``set_runtime_rows``, ``set_runtime_props``, ``log``). It never waits
for real time: ``fabric.tick(seconds)`` moves the lab clock and runs everything due on the way.

The IPsec engine is in ``roslab.fabric_ipsec`` and netwatch/VRRP/scheduler in
``roslab.fabric_services`` (mixins of ``Fabric``); the rules of negotiation in ``roslab.ike`` and of
firewall evaluation in ``roslab.firewall_eval``; ``fabric.trace`` (one packet through a router's
raw, filter, srcnat and IPsec policies) in ``roslab.trace``.

Call it from the lab loop (``lab.call(fabric.tick, 30)``) when API clients may be connected: routers
are not thread-safe.

Emulated (RouterOS facts, reference §2-§5): directly connected L2 segments plus static routes
through lab routers; firewall filter input/output/forward (and raw prerouting ``notrack``) on IKE
(UDP 500), NAT-T (UDP 4500), ESP/AH, ICMP probes and the API port, with connection tracking so
replies are ``established``; IKEv1 main/aggressive and IKEv2 negotiation (see ``roslab.ike``);
active-peers, installed-sa, policy ph2-state/active, phase-1 and phase-2 rekeys, DPD; GRE/IPIP
interfaces as point-to-point links whose packets meet the IPsec policies (``roslab.fabric_tunnels``);
static routes by longest prefix then distance, ``check-gateway``; netwatch
(simple/icmp/tcp-conn); VRRP master election; scheduler start times and intervals.
Not emulated: NAT devices other than ``set_nat`` (a router behind NAT), IPv6 reachability, dynamic
routing, mode-config, EAP, xauth, real cryptography (SPIs and keys are random numbers).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import logging
import random

from roslab import firewall_eval
from roslab.clock import LabClock, format_duration
from roslab.errors import RosTrap
from roslab.fabric_ipsec import (IKEV2_DPD_RETRIES, IPSEC, NEGOTIATION_RETRY, PHASE1_TIMEOUT,  # noqa: F401
                                 RETRANSMIT, IpsecMixin)
from roslab.fabric_services import SCHEDULER_STARTUP_DELAY, ServicesMixin  # noqa: F401
from roslab.fabric_tunnels import ENCAPSULATION_BYTES, TunnelMixin
from roslab.firewall_eval import LimitState, Packet
from roslab.ike import truthy
from roslab.script import Interpreter, ScriptError
from roslab.trace import TraceMixin

LOG = logging.getLogger("roslab.fabric")

# RouterOS timers (MikroTik manual where known; the rest are the lab's choices, documented in docs/lab.md)
CONNTRACK_UDP_TIMEOUT = 180.0  # /ip firewall connection tracking udp-stream-timeout (3m)
API_PORTS = {"api": 8728, "api-ssl": 8729}
# lab date matches the routers' /system/clock (menus: 2026-01-01 00:00:00 at lab time 0)
LAB_EPOCH = _dt.datetime(2026, 1, 1, 0, 0, 0)


def _empty_result():
    from roslab.store import Result   # the store's reply type (imported late: fabric works on doubles too)
    return Result()


def _link_end(text):
    router, _sep, interface = str(text).partition(":")
    if not interface:
        raise ValueError("a link end is router:interface, got %r" % text)
    return router, interface


class Route:
    """How a packet from one router reaches an address: hops of (router, in_if, out_if)."""

    def __init__(self, src_router, src_ip, out_interface, hops, dst_router, in_interface):
        self.src_router = src_router
        self.src_ip = src_ip
        self.out_interface = out_interface
        self.hops = hops                  # [(router, in_interface, out_interface)] forwarding routers
        self.dst_router = dst_router
        self.in_interface = in_interface


class Delivery:
    def __init__(self, ok, reason=None, route=None, rule=None):
        self.ok = ok
        self.reason = reason              # unreachable, blocked
        self.route = route
        self.rule = rule                  # (router, chain, rule id) of the dropping rule

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return "Delivery(ok=%r, reason=%r, rule=%r)" % (self.ok, self.reason, self.rule)


class Fabric(IpsecMixin, ServicesMixin, TunnelMixin, TraceMixin):
    """The lab network over ``routers`` (name -> Router) joined by ``links`` ([a_if, b_if] pairs,
    each ``"router:interface"``)."""

    def __init__(self, routers, links=(), clock=None, seed=0, strict_firewall=False):
        self.routers = dict(routers)
        self.links = [tuple(_link_end(end) for end in link) for link in links]
        self.clock = clock or LabClock(epoch=LAB_EPOCH)
        self.rng = random.Random(seed)
        self.down_routers = set()
        self.down_links = set()
        self.nat = set()                  # routers behind a NAT (their IKE source port is rewritten)
        # the lab's DNS: name -> address, what every router's resolver answers (peer address=<name>)
        self.dns = {}
        self.booted = {name: 0.0 for name in self.routers}
        self.generation = {name: 0 for name in self.routers}    # +1 per power cycle
        self.conntrack = {name: {} for name in self.routers}
        self.limits = {name: LimitState() for name in self.routers}
        self.globals = {name: {} for name in self.routers}
        self.sas = []
        self.attempts = {}                # (router, peer name) -> Attempt
        self.retry_at = {}                # (router, peer name) -> lab time of the next try
        self.netwatch_state = {}          # (router, .id) -> dict
        self.vrrp_state = {}              # (router, .id) -> dict
        self.scheduler_state = {}         # (router, .id) -> dict
        self.script_errors = []           # (router, origin, ScriptError) of scripts that failed
        # rules the lab could not evaluate: (router, chain, rule id, reason); they are skipped
        # unless strict_firewall, which raises instead
        self.strict_firewall = strict_firewall
        self._runtime_removed = set()
        # addresses per router, dropped whenever configuration, links, routers or VRRP roles change
        self._address_cache = {}
        self.firewall_errors = []
        self._tunnel_init()
        self._dirty = True
        for name, router in self.routers.items():
            router.on_change(self._changed)
            self._install_script_run(name, router)
        self.clock.add_poller(self._next_due, self._run_due)
        self._sync_router_clocks()

    @classmethod
    def for_lab(cls, lab, realtime=True, period=1.0, speed=1.0, seed=0):
        """The fabric of a started ``roslab.control.Lab``: ``lab.fabric`` when the lab runs one (a
        second fabric would write the same runtime menus and answer on_change twice; the other
        arguments are then ignored: the lab's clock options apply). Otherwise (``fabric=False``) a
        fabric over its routers and topology links, built on the loop thread; with ``realtime`` its
        clock follows real time on the lab loop."""
        if getattr(lab, "fabric", None) is not None:
            return lab.fabric
        links = (lab.topology or {}).get("links") or lab.links

        def build():
            fabric = cls(lab.routers, links, seed=seed)
            if realtime:
                fabric.run_on_loop(lab.loop, period, speed)
            return fabric
        return lab.call(build)

    # -- public API ---------------------------------------------------------------------------------
    def tick(self, seconds=0.0):
        """Advance the lab clock ``seconds`` (0: just settle what configuration changes started)."""
        if seconds == 0:
            # a settle looks at every router again
            self._dirty = True
        self.clock.advance(seconds)
        # live values (uptime, expires-in) as of the new time, even when nothing was due
        self._sync_router_clocks()
        self._write_all()
        return self.clock.now

    def run_on_loop(self, loop, period=1.0, speed=1.0):
        """Let the lab clock follow real time on an asyncio ``loop`` (the lab daemon): every
        ``period`` seconds the clock advances ``period * speed``. Runs on the loop's thread, so it
        never races API sessions. ``stop_loop()`` ends it."""
        def step():
            try:
                self.tick(period * speed)
            except Exception:                  # keep the daemon's clock going; the error is logged
                LOG.exception("fabric tick failed")
            self._loop_handle = loop.call_later(period, step)
        self.stop_loop()
        self._loop_handle = loop.call_later(period, step)

    def stop_loop(self):
        handle = getattr(self, "_loop_handle", None)
        if handle is not None:
            handle.cancel()
            self._loop_handle = None

    def link_down(self, a_if, b_if=None):
        self._set_link(a_if, b_if, down=True)

    def link_up(self, a_if, b_if=None):
        self._set_link(a_if, b_if, down=False)

    def router_down(self, name):
        """The router stops: its runtime state is gone, it answers nothing, runs nothing."""
        self._router(name)
        self.down_routers.add(name)
        self.generation[name] += 1
        self._address_cache.clear()
        for sa in list(self.sas):
            if name in sa.alive:
                sa.alive[name] = False
        self.conntrack[name] = {}
        for key in [k for k in self.attempts if k[0] == name]:
            del self.attempts[key]
        for state in (self.netwatch_state, self.vrrp_state, self.scheduler_state):
            for key in [k for k in state if k[0] == name]:
                del state[key]
        self._prune_sas()
        self._write_runtime(name, clear=True)
        self._dirty = True

    def router_up(self, name):
        """The router boots (control restores its configuration); state starts empty."""
        self._router(name)
        self.down_routers.discard(name)
        self._address_cache.clear()
        self.booted[name] = self.clock.now
        self.globals[name] = {}
        self._dirty = True
        self.clock.run_due()

    def summary(self):
        """A JSON-able picture of the lab network for status displays: clock, what is down, the
        tunnels (phase 1 and phase 2), exchanges still waiting, and what the lab could not do."""
        tunnels = []
        for sa in self.sas:
            tunnels.append({
                "initiator": "%s/%s" % (sa.i_router, sa.i_peer_name),
                "responder": "%s/%s" % (sa.r_router, sa.r_peer_name),
                "version": sa.version, "addresses": [sa.i_addr, sa.r_addr], "natt": sa.natt,
                "alive": sorted(name for name, up in sa.alive.items() if up),
                "uptime": format_duration(self.clock.now - sa.established),
                "children": len(sa.children)})
        waiting = [{"router": router, "peer": peer, "state": attempt.stage,
                    "since": format_duration(self.clock.now - attempt.started)}
                   for (router, peer), attempt in sorted(self.attempts.items()) if attempt.stage]
        return {"clock": self.clock.now, "datetime": self.clock.datetime().strftime("%Y-%m-%d %H:%M:%S"),
                "routers_down": sorted(self.down_routers),
                "links_down": sorted("%s:%s-%s:%s" % (a + b) for a, b in self.down_links),
                "behind_nat": sorted(self.nat), "tunnels": tunnels, "waiting": waiting,
                "firewall_errors": [list(entry) for entry in self.firewall_errors],
                "script_errors": [[router, origin, str(error)] for router, origin, error in self.script_errors]}

    def set_dns(self, name, address=None):
        """Make ``name`` resolve to ``address`` for every lab router (None: the name no longer resolves)."""
        if address is None:
            self.dns.pop(name, None)
        else:
            self.dns[name] = str(ipaddress.ip_address(address))
        self._dirty = True

    def set_nat(self, name, behind_nat=True):
        """Put ``name`` behind a NAT device: peers see its IKE from another port (NAT-T needed)."""
        self._router(name)
        (self.nat.add if behind_nat else self.nat.discard)(name)
        self._dirty = True

    def reachable(self, src_router, dst_ip, protocol="icmp", dst_port=None):
        """Does a packet from ``src_router`` reach ``dst_ip`` and its answer come back?"""
        src_port = None if dst_port is None else 40000
        there = self.deliver(src_router, dst_ip, protocol, src_port=src_port, dst_port=dst_port)
        if not there:
            return False
        if there.route.dst_router == src_router:
            return True
        back = self._deliver_from(there.route.dst_router, there.route.src_ip, protocol,
                                  src_port=dst_port, dst_port=src_port, src_ip=dst_ip, icmp_type="0:0")
        return bool(back)

    def evaluate(self, router, packet, chain="input"):
        """Run ``packet`` (a roslab.firewall_eval.Packet) through ``router``'s filter ``chain``:
        returns (verdict, rule id) — ("accept", None) when no rule decided. A question, not traffic:
        rule counters do not move."""
        verdict = self._filter(router, chain, packet, count=False)
        return verdict.action, verdict.rule_id

    def api_allowed(self, router, src_ip, port=8728, dst_ip=None):
        """May a new TCP connection from ``src_ip`` reach ``router``'s API ``port``?

        Checks /ip/service (disabled, `address` allow list) and the filter input chain (a new TCP
        SYN). Control calls this before accepting a client connection."""
        if router in self.down_routers:
            return False
        rtr = self._router(router)
        service = next((row for row in self._items(rtr, "/ip/service") if row.get("port") == str(port)), None)
        if service is not None:
            if truthy(service.get("disabled", "false")):
                return False
            allowed = [part for part in service.get("address", "").split(",") if part.strip()]
            if allowed and not any(firewall_eval.address_in(spec, src_ip) for spec in allowed):
                return False
        if dst_ip is None:
            addresses = self._addresses(router)
            dst_ip = str(addresses[0][0].ip) if addresses else "0.0.0.0"
        packet = Packet(protocol="tcp", src_address=src_ip, dst_address=dst_ip, src_port=50000,
                        dst_port=int(port), in_interface=self._interface_towards(router, src_ip),
                        tcp_flags="syn", time=self.clock.now, dst_address_type="local")
        return self._filter(router, "input", packet).action == "accept"

    def run_script(self, router, source, origin="script"):
        """Run a script on ``router`` on the lab clock (``:delay`` resumes later); errors are logged
        and kept in ``script_errors``."""
        interpreter = Interpreter(self._router(router), self.globals[router])
        steps = interpreter.run(source)
        self._step_script(router, origin, steps)
        return interpreter

    def _install_script_run(self, name, router):
        """Answer the API's ``/system/script/run`` on ``router`` with this fabric's interpreter.

        The store dispatches a verb to ``_cmd_<verb>``; menus (below script in the layering) has
        none for `run`, so the fabric provides it on each router instance it drives."""
        if getattr(router, "_cmd_run", None) is not None:
            return

        def run(path, sch, attrs, queries):
            if path != "/system/script":
                raise RosTrap("no such command", 0)
            target = attrs.get(".id") or attrs.get("number")
            rows = self._items(router, "/system/script")
            row = next((r for r in rows if target in (r.get(".id"), r.get("name"))), None)
            if row is None:
                raise RosTrap("no such item", 0)
            interpreter = Interpreter(router, self.globals[name])
            steps = interpreter.run("/system script run %s" % row["name"])
            try:
                delay = next(steps)
            except StopIteration:
                return _empty_result()
            except ScriptError as error:
                self.script_errors.append((name, "api", error))
                raise RosTrap(str(error), 3)      # category 3: a script error
            boot = self.generation[name]
            self.clock.call_later(delay, lambda: self._step_script(name, "api", steps, boot))
            return _empty_result()
        router._cmd_run = run

    def send(self, router, src_address, dst_address, size=1000, count=1, protocol="tcp"):
        """LAN traffic from ``router`` matching an IPsec policy: counted on the SAs of both ends.
        Returns True when it went through an established SA (ESP/NAT-T allowed by the far firewall)."""
        own = self._first_policy(router, src_address, dst_address)
        if own is None:
            # route-based: LAN traffic routed into a GRE/IPIP interface travels encapsulated, on the
            # SA of the transport policy between the tunnel's ends
            route = self._trace_route(router, dst_address, None)
            encapsulation = self.tunnel_encapsulation(router, route and route["out_interface"])
            if encapsulation is not None and encapsulation[1] is not None:
                outer_protocol, outer_src, outer_dst, _kind = encapsulation
                if not self.tunnel_running.get((router, route["out_interface"]), True):
                    return False
                return self.send(router, outer_src, outer_dst, size + ENCAPSULATION_BYTES[outer_protocol],
                                 count, protocol=outer_protocol)
        if own is not None and own.get("action") == "discard":
            self._count_statistic(router, "out-policy-blocked", count)
            return False
        if own is not None and own.get("action") == "none":
            return False
        sa, child, policy = self._child_for(router, src_address, dst_address)
        if child is None:
            if own is not None:
                # a policy wants an SA that is not there: the kernel drops the packet (no state)
                self._count_statistic(router, "out-no-states", count)
            return False
        far = sa.other(router)
        proto, port = ("udp", 4500) if sa.natt else ("ipsec-esp", None)
        if not self._deliver_from(router, sa.address(far), proto, src_port=port, dst_port=port,
                                  src_ip=sa.address(router)):
            return False
        side, far_side = sa.side(router), sa.side(far)
        child.bytes[far_side] += size * count
        child.packets[far_side] += count
        sa.bytes[router][1] += size * count
        sa.bytes[router][3] += count
        sa.bytes[far][0] += size * count
        sa.bytes[far][2] += count
        self._write_all()
        return True

    # -- clock plumbing -----------------------------------------------------------------------------
    def _changed(self, router, menu_path):
        if menu_path.startswith("/log"):
            return
        self._address_cache.clear()
        if menu_path in (IPSEC + "active-peers", IPSEC + "installed-sa"):
            # kill-connections, flush or remove through the API: the fabric drops what went
            name = next((n for n, r in self.routers.items() if r is router), None)
            if name is not None:
                self._runtime_removed.add((name, menu_path))
        self._dirty = True


    def _sync_router_clocks(self):
        for router in self.routers.values():
            try:
                router.clock = self.clock.now
            except AttributeError:
                pass

    def _next_due(self):
        if self._dirty:
            return self.clock.now
        candidates = [t for t in self._due_times() if t is not None]
        return min(candidates) if candidates else None

    def _due_times(self):
        yield from self._ipsec_times()
        yield from self._vrrp_times()
        yield from self._netwatch_times()
        yield from self._scheduler_times()
        yield from self._tunnel_times()


    def _run_due(self, now):
        dirty, self._dirty = self._dirty, False
        self._sync_router_clocks()
        if self._runtime_removed:
            self._apply_runtime_removals()
        if dirty or self._due(self._ipsec_times(), now):
            self._ipsec(now)
        self._tunnels(now)
        if dirty or self._due(self._vrrp_times(), now):
            self._vrrp(now)
        if dirty or self._due(self._netwatch_times(), now):
            self._netwatch(now)
        if dirty or self._due(self._scheduler_times(), now):
            self._scheduler(now)
        if self._runtime_removed:
            # a netwatch, VRRP or scheduler script removed SAs (active-peers remove, installed-sa
            # flush): drop them before the runtime rows are written again from the SAs
            self._apply_runtime_removals()
            self._dirty = True
        self._write_all()

    @staticmethod
    def _due(times, now):
        return any(t is not None and t <= now for t in times)

    # -- network ------------------------------------------------------------------------------------
    def _router(self, name):
        try:
            return self.routers[name]
        except KeyError:
            raise KeyError("no router named %r in this fabric" % name) from None

    def _items(self, router, menu):
        try:
            return router.items(menu)
        except (KeyError, RosTrap):
            return []

    def _set_link(self, a_if, b_if, down):
        ends = [_link_end(a_if)] + ([_link_end(b_if)] if b_if else [])
        changed = False
        for link in self.links:
            if all(end in link for end in ends):
                (self.down_links.add if down else self.down_links.discard)(link)
                changed = True
        if not changed:
            raise KeyError("no link %s" % " - ".join("%s:%s" % end for end in ends))
        self._address_cache.clear()
        self._dirty = True
        self.clock.run_due()

    def _interfaces(self, name):
        """Running interfaces of a router: name -> parent interface (itself, or a VRRP's parent)."""
        router = self.routers[name]
        running = {}
        for row in self._items(router, "/interface"):
            if truthy(row.get("disabled", "false")) or not truthy(row.get("running", "true")):
                continue
            running[row["name"]] = row["name"]
        for row in self._items(router, "/interface/vrrp"):
            parent = row.get("interface")
            if row.get("name") in running and parent in running:
                state = self.vrrp_state.get((name, row[".id"]))
                if state and state["state"] == "master":
                    running[row["name"]] = parent
                else:
                    del running[row["name"]]
        return running

    def _addresses(self, name):
        """(ip_interface, interface, parent interface) of a running router's usable addresses."""
        if name in self.down_routers:
            return []
        cached = self._address_cache.get(name)
        if cached is None:
            cached = self._address_cache[name] = self._read_addresses(name)
        return cached

    def _read_addresses(self, name):
        running = self._interfaces(name)
        out = []
        for row in self._items(self.routers[name], "/ip/address"):
            if truthy(row.get("disabled", "false")) or truthy(row.get("invalid", "false")):
                continue
            interface = row.get("interface")
            if interface not in running:
                continue
            try:
                out.append((ipaddress.ip_interface(row["address"]), interface, running[interface]))
            except (KeyError, ValueError):
                continue
        return out

    def _segment(self, name, interface):
        """Every (router, interface) on the same L2 segment as ``name:interface`` (up links only)."""
        seen = {(name, interface)}
        frontier = [(name, interface)]
        links = self.links + self._tunnel_links      # running GRE/IPIP pairs are point-to-point links
        while frontier:
            end = frontier.pop()
            for link in links:
                if link in self.down_links or end not in link:
                    continue
                for other in link:
                    if other not in seen and other[0] not in self.down_routers:
                        seen.add(other)
                        frontier.append(other)
        return seen

    def _owner(self, ip):
        """(router, interface, parent) owning address ``ip`` (a running router), or None."""
        address = ipaddress.ip_address(ip)
        for name in self.routers:
            for iface, interface, parent in self._addresses(name):
                if iface.ip == address:
                    return name, interface, parent
        return None

    def _interface_towards(self, name, ip):
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for iface, interface, _parent in self._addresses(name):
            if address in iface.network:
                return interface
        return None

    def _source_for(self, name, dst_ip):
        """The address ``name`` sends from towards ``dst_ip`` even when nothing answers there: the
        connected network holding it, else the one holding a static route's gateway."""
        try:
            destination = ipaddress.ip_address(dst_ip)
        except ValueError:
            return None
        addresses = self._addresses(name)
        for iface, _interface, _parent in sorted(addresses, key=lambda a: -a[0].network.prefixlen):
            if destination in iface.network:
                return str(iface.ip)
        for row in self._static_routes(name, destination):
            try:
                gateway = ipaddress.ip_address(row.get("gateway", ""))
            except ValueError:
                continue
            for iface, _interface, _parent in addresses:
                if gateway in iface.network:
                    return str(iface.ip)
        return None

    def _static_routes(self, name, destination):
        """The active static routes of ``name`` holding ``destination``, in the order RouterOS prefers
        them: longest dst-address first, then the lowest distance. Active: enabled, its gateway on a
        connected network of a running interface, and with ``check-gateway=ping`` the gateway
        answering."""
        connected = [iface.network for iface, _i, _p in self._addresses(name)]
        found = []
        for row in self._items(self.routers[name], "/ip/route"):
            if truthy(row.get("disabled", "false")) or not row.get("gateway"):
                continue
            try:
                network = ipaddress.ip_network(row.get("dst-address", "0.0.0.0/0"), strict=False)
                distance = int(row.get("distance", "1") or 1)
            except ValueError:
                continue
            try:
                gateway = ipaddress.ip_address(row["gateway"])
            except ValueError:
                continue            # an interface name as gateway: not emulated
            if destination in network and any(gateway in net for net in connected):
                found.append((-network.prefixlen, distance, len(found), row))
        found.sort(key=lambda entry: entry[:3])
        return [row for _p, _d, _i, row in found
                if row.get("check-gateway") != "ping" or self._gateway_answers(name, row["gateway"])]

    def _gateway_answers(self, name, gateway):
        """check-gateway=ping: an ICMP echo to the gateway and its reply get through (not recorded)."""
        direct = self.route(name, gateway, None, depth=0)
        if direct is None or direct.dst_router == name:
            return False                    # the gateway must be on a connected network
        there = self._deliver_from(name, gateway, "icmp", record=False)
        if not there or there.route.dst_router == name or there.route.hops:
            return False                    # the gateway must be on a connected network
        return bool(self._deliver_from(there.route.dst_router, there.route.src_ip, "icmp", src_ip=gateway,
                                       record=False, icmp_type="0:0"))

    def route(self, src_router, dst_ip, src_ip=None, depth=4):
        """The path from ``src_router`` to ``dst_ip`` (connected segments, then static routes), or None."""
        if src_router in self.down_routers:
            return None
        try:
            destination = ipaddress.ip_address(dst_ip)
        except ValueError:
            return None
        addresses = self._addresses(src_router)
        for iface, interface, _parent in addresses:
            if iface.ip == destination:
                return Route(src_router, src_ip or dst_ip, "lo", [], src_router, "lo")
        # connected networks first, longest prefix
        for iface, interface, parent in sorted(addresses, key=lambda a: -a[0].network.prefixlen):
            if destination not in iface.network:
                continue
            if src_ip and src_ip != str(iface.ip) and not any(str(a[0].ip) == src_ip for a in addresses):
                continue
            owner = self._owner(dst_ip)
            if owner and (owner[0], owner[2]) in self._segment(src_router, parent) and owner[0] != src_router:
                return Route(src_router, src_ip or str(iface.ip), interface, [], owner[0], owner[1])
            return None
        if depth <= 0:
            return None
        # static routes: the preferred active one (longest dst-address, lowest distance); when its
        # gateway does not answer the packet is lost (RouterOS does not try the next route)
        active = self._static_routes(src_router, destination)
        if not active:
            return None
        first = self.route(src_router, active[0]["gateway"], src_ip, depth=0)
        if first is None or first.dst_router == src_router:
            return None
        gateway = first.dst_router
        rest = self.route(gateway, dst_ip, None, depth - 1)
        if rest is None:
            return None
        hops = [(gateway, first.in_interface, rest.out_interface)] + rest.hops
        return Route(src_router, first.src_ip, first.out_interface, hops, rest.dst_router, rest.in_interface)

    # -- firewall ------------------------------------------------------------------------------------
    def _filter(self, name, chain, packet, count=True):
        router = self.routers[name]
        rules = self._items(router, "/ip/firewall/filter")
        lists = self._items(router, "/ip/firewall/address-list")
        try:
            verdict = firewall_eval.evaluate(rules, chain, packet, lists, self._interface_lists(name),
                                             self.limits[name], strict=self.strict_firewall)
        except firewall_eval.FirewallError as error:
            # a jump loop (or, when strict, a matcher the lab does not know): recorded, not fatal
            if self.strict_firewall:
                raise
            self._firewall_error(name, chain, None, str(error))
            return firewall_eval.Verdict("accept", None)
        for rule_id, reason in verdict.skipped:
            self._firewall_error(name, chain, rule_id, reason)
        if count:
            self._count(router, rules, verdict.matched, packet.size)
        return verdict

    def _firewall_error(self, name, chain, rule_id, reason):
        entry = (name, chain, rule_id, reason)
        if entry not in self.firewall_errors:
            self.firewall_errors.append(entry)

    def _interface_lists(self, name):
        lists = {}
        for row in self._items(self.routers[name], "/interface/list/member"):
            if not truthy(row.get("disabled", "false")):
                lists.setdefault(row.get("list"), []).append(row.get("interface"))
        return lists

    def _count(self, router, rules, matched, size):
        by_id = {row[".id"]: row for row in rules}
        for rule_id in matched:
            row = by_id.get(rule_id)
            if row is None:
                continue
            try:
                router.set_runtime_props("/ip/firewall/filter", rule_id, {
                    "bytes": str(int(row.get("bytes", "0") or 0) + size),
                    "packets": str(int(row.get("packets", "0") or 0) + 1)})
            except KeyError:
                pass

    def _conn_key(self, protocol, a_ip, a_port, b_ip, b_port):
        ends = sorted([(a_ip, a_port or 0), (b_ip, b_port or 0)])
        return (str(protocol),) + tuple(ends)

    def _conn_state(self, name, key):
        expires = self.conntrack[name].get(key)
        return "established" if expires is not None and expires >= self.clock.now else "new"

    def _raw_untracked(self, name, chain, packet):
        router = self.routers[name]
        rules = self._items(router, "/ip/firewall/raw")
        if not rules:
            return False
        lists = self._items(router, "/ip/firewall/address-list")
        return firewall_eval.raw_notrack(rules, chain, packet, lists, self._interface_lists(name),
                                         self.limits[name])[1]

    def deliver(self, src_router, dst_ip, protocol, src_port=None, dst_port=None, src_ip=None, record=True):
        """Send one packet from ``src_router`` to ``dst_ip`` through every firewall on the way."""
        return self._deliver_from(src_router, dst_ip, protocol, src_port, dst_port, src_ip, record)

    def _deliver_from(self, src_router, dst_ip, protocol, src_port=None, dst_port=None, src_ip=None,
                      record=True, icmp_type="8:0"):
        route = self.route(src_router, dst_ip, src_ip)
        if route is None:
            return Delivery(False, "unreachable")
        now = self.clock.now
        key = self._conn_key(protocol, route.src_ip, src_port, dst_ip, dst_port)

        def packet(in_interface=None, out_interface=None, state="new"):
            return Packet(protocol=protocol, src_address=route.src_ip, dst_address=str(dst_ip),
                          src_port=src_port, dst_port=dst_port, in_interface=in_interface,
                          out_interface=out_interface, connection_state=state, time=now,
                          icmp_type=icmp_type, src_address_type="local" if out_interface and not in_interface
                          else "unicast", dst_address_type="local" if in_interface and not out_interface
                          else "unicast")

        if route.dst_router == src_router and route.out_interface == "lo":
            return Delivery(True, route=route)
        checks = [(src_router, "output", packet(out_interface=route.out_interface,
                                                 state=self._conn_state(src_router, key)))]
        for hop, in_if, out_if in route.hops:
            checks.append((hop, "forward", packet(in_if, out_if, self._conn_state(hop, key))))
        final = packet(in_interface=route.in_interface, state=self._conn_state(route.dst_router, key))
        if self._raw_untracked(route.dst_router, "prerouting", final):
            final.connection_state = "untracked"
        checks.append((route.dst_router, "input", final))
        for name, chain, pkt in checks:
            verdict = self._filter(name, chain, pkt)
            if verdict.action != "accept":
                return Delivery(False, "blocked", route, (name, chain, verdict.rule_id))
        if record:
            for name in {src_router, route.dst_router} | {hop for hop, _i, _o in route.hops}:
                self.conntrack[name][key] = now + CONNTRACK_UDP_TIMEOUT
        return Delivery(True, route=route)

    def _exchange(self, src_router, dst_ip, src_ip, protocol="udp", port=500, dst_port=None):
        """A request and its answer (IKE): (ok, delivery of the failing leg)."""
        there = self._deliver_from(src_router, dst_ip, protocol, port, dst_port or port, src_ip)
        if not there:
            return False, there
        back = self._deliver_from(there.route.dst_router, there.route.src_ip, protocol, dst_port or port,
                                  port, dst_ip)
        return bool(back), back

    # -- IPsec ---------------------------------------------------------------------------------------


    def _log(self, name, line):
        if name not in self.down_routers:
            self.routers[name].log(*line)


    # -- runtime rows --------------------------------------------------------------------------------
    def _new_id(self, router):
        return router.new_id()

    def _write_all(self):
        for name in self.routers:
            if name not in self.down_routers:
                self._write_runtime(name)


    # -- scripts --------------------------------------------------------------------------------------


    # -- netwatch -------------------------------------------------------------------------------------


    # -- VRRP ------------------------------------------------------------------------------------------


    # -- scheduler -------------------------------------------------------------------------------------


