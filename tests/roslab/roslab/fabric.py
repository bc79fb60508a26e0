"""The lab network: links, reachability, firewalls on the packets that matter, IKE/IPsec between
lab routers, DPD, lifetimes, netwatch, VRRP, the scheduler and the lab clock.

The fabric reads each router's configuration with ``router.items(menu)`` and writes live state only
through the runtime hooks (``set_runtime_rows``, ``set_runtime_props``, ``log``). It never waits
for real time: ``fabric.tick(seconds)`` moves the lab clock and runs everything due on the way.

Call it from the lab loop (``lab.call(fabric.tick, 30)``) when API clients may be connected: routers
are not thread-safe.

Emulated (RouterOS facts, reference §2-§5): directly connected L2 segments plus static routes
through lab routers; firewall filter input/output/forward (and raw prerouting ``notrack``) on IKE
(UDP 500), NAT-T (UDP 4500), ESP/AH, ICMP probes and the API port, with connection tracking so
replies are ``established``; IKEv1 main/aggressive and IKEv2 negotiation (see ``roslab.ike``);
active-peers, installed-sa, policy ph2-state/active, phase-1 and phase-2 rekeys, DPD; netwatch
(simple/icmp/tcp-conn); VRRP master election; scheduler start times and intervals.
Not emulated: NAT devices other than ``set_nat`` (a router behind NAT), IPv6 reachability, dynamic
routing, mode-config, EAP, xauth, real cryptography (SPIs and keys are random numbers).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import logging
import random

from roslab import firewall_eval, ike
from roslab.clock import LabClock, format_duration, parse_duration
from roslab.errors import RosTrap
from roslab.firewall_eval import LimitState, Packet
from roslab.ike import Side, log_line, truthy
from roslab.script import Interpreter, ScriptError

LOG = logging.getLogger("roslab.fabric")

# RouterOS timers (MikroTik manual where known; the rest are the lab's choices, documented in docs/lab.md)
PHASE1_TIMEOUT = 30.0          # seconds before "phase1 negotiation failed due to time up"
RETRANSMIT = 5.0               # an unanswered IKE exchange is retried this often until the timeout
CONNTRACK_UDP_TIMEOUT = 180.0  # /ip firewall connection tracking udp-stream-timeout (3m)
SCHEDULER_STARTUP_DELAY = 3.0  # start-time=startup runs 3s after boot (MikroTik manual, scheduler)
IKEV2_DPD_RETRIES = 5          # IKEv2 ignores dpd-maximum-failures (reference §2)
NEGOTIATION_RETRY = 30.0       # a refused negotiation (notify) is tried again after this
API_PORTS = {"api": 8728, "api-ssl": 8729}
IPSEC = "/ip/ipsec/"
# lab date matches the routers' /system/clock (menus: 2026-01-01 00:00:00 at lab time 0)
LAB_EPOCH = _dt.datetime(2026, 1, 1, 0, 0, 0)

def _empty_result():
    from roslab.store import Result   # the store's reply type (imported late: fabric works on doubles too)
    return Result()


def _host(spec):
    """The single address of a peer `address` (``1.2.3.4`` or ``1.2.3.4/32``), else None."""
    try:
        network = ipaddress.ip_network(str(spec), strict=False)
    except ValueError:
        return None
    if network.num_addresses != 1:
        return None
    return str(network.network_address)


def _link_end(text):
    router, _sep, interface = str(text).partition(":")
    if not interface:
        raise ValueError("a link end is router:interface, got %r" % text)
    return router, interface


def _hex(rng, digits):
    return "%0*x" % (digits, rng.getrandbits(4 * digits))


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


# --- IPsec state ---------------------------------------------------------------------------------
class Child:
    def __init__(self, i_policy, details, spi_i, spi_r, now):
        self.i_policy_id = i_policy[".id"]
        self.r_policy_id = (details["responder_policy"] or details["template"] or {}).get(".id")
        self.details = details
        self.spi_i = spi_i                # SPI of the SA into the initiator (chosen by the initiator)
        self.spi_r = spi_r                # SPI of the SA into the responder
        self.added = now
        self.lifetime = details["lifetime"]
        self.bytes = {"i": 0, "r": 0}     # bytes received by each side through this child
        self.packets = {"i": 0, "r": 0}
        self.ids = {}                     # (router, direction) -> installed-sa .id
        self.rekeys = 0
        self.fingerprint = None


class IkeSa:
    """One phase-1 SA between an initiator router's peer and a responder router."""

    def __init__(self, i_router, i_peer, r_router, outcome, i_addr, r_addr, port, natt, rng, now):
        d = outcome.details
        self.i_router, self.r_router = i_router, r_router
        self.i_peer_name = i_peer["name"]
        self.r_peer_name = d["responder_peer"]["name"]
        self.i_addr, self.r_addr = i_addr, r_addr
        self.port = port
        self.natt = natt
        self.details = d
        self.version = d["version"]
        self.established = now
        self.rekeyed = now
        self.lifetime = d["lifetime"]
        self.spii, self.spir = _hex(rng, 16), _hex(rng, 16)
        self.children = {}                # initiator policy id -> Child
        self.auth_child_done = False      # IKEv2: the IKE_AUTH child has been tried
        self.child_failures = {}          # initiator policy id -> fingerprint already reported
        self.alive = {i_router: True, r_router: True}
        # DPD: when each side stopped hearing the other (None: the peer answers), and its timers
        self.silent_since = {i_router: None, r_router: None}
        self.dpd = {i_router: None, r_router: None}        # (interval, rounds) or None: disabled
        self.ids = {}                     # router -> active-peers .id
        self.fingerprint = None
        self.bytes = {i_router: [0, 0, 0, 0], r_router: [0, 0, 0, 0]}   # rx-bytes, tx-bytes, rx-packets, tx-packets

    def side(self, router):
        return "i" if router == self.i_router else "r"

    def other(self, router):
        return self.r_router if router == self.i_router else self.i_router

    def peer_name(self, router):
        return self.i_peer_name if router == self.i_router else self.r_peer_name

    def address(self, router):
        return self.i_addr if router == self.i_router else self.r_addr


class Attempt:
    """An initiator's phase-1 exchange in progress (waiting for an answer)."""

    def __init__(self, started, cookie):
        self.started = started
        self.deadline = started + PHASE1_TIMEOUT
        self.next_try = started
        self.cookie = cookie
        self.logged = set()               # failure keys already logged during this attempt
        # what active-peers shows while waiting: state, addresses, the responder's cookie if any
        self.stage = None
        self.where = None
        self.cookie_r = "0000000000000000"
        self.row_id = None


class Fabric:
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
        self._dirty = True
        self._notified = all(hasattr(router, "on_change") for router in self.routers.values())
        for name, router in self.routers.items():
            if hasattr(router, "on_change"):
                router.on_change(self._changed)
            self._install_script_run(name, router)
        self.clock.add_poller(self._next_due, self._run_due)
        self._sync_router_clocks()

    @classmethod
    def for_lab(cls, lab, realtime=True, period=1.0, speed=1.0, seed=0):
        """The fabric of a started ``roslab.control.Lab``: its routers and topology links; with
        ``realtime`` the lab clock follows real time on the lab loop. Built on the loop thread."""
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
        if seconds == 0 or not self._notified:
            # routers that do not report their writes (on_change) are looked at on every tick
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
        if getattr(router, "_cmd_run", None) is not None or not hasattr(router, "execute_menu"):
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

    def _apply_runtime_removals(self):
        """SAs removed through the API: an IKE SA killed on one end is deleted on both (delete
        notify); a flushed child SA goes and phase 2 is negotiated again (CREATE_CHILD_SA)."""
        removed, self._runtime_removed = self._runtime_removed, set()
        for name, menu in removed:
            present = {row.get(".id") for row in self._items(self.routers[name], menu)}
            for sa in list(self.sas):
                if not sa.alive.get(name):
                    continue
                if menu == IPSEC + "active-peers" and sa.ids.get(name) not in present:
                    self._teardown(sa)
                    continue
                if menu == IPSEC + "installed-sa":
                    for policy_id, child in list(sa.children.items()):
                        ids = [child.ids.get((name, direction)) for direction in ("in", "out")]
                        if any(i is not None and i not in present for i in ids):
                            del sa.children[policy_id]

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

    def _ipsec_times(self):
        for attempt in self.attempts.values():
            yield attempt.next_try
        for when in self.retry_at.values():
            yield when
        for sa in self.sas:
            yield sa.rekeyed + sa.lifetime
            if all(sa.alive.values()):
                for child in sa.children.values():
                    yield child.added + child.lifetime
            for name in sa.alive:
                due = self._dpd_due(sa, name)
                if due is not None:
                    yield due

    def _netwatch_times(self):
        for state in self.netwatch_state.values():
            yield state["next"]

    def _vrrp_times(self):
        for state in self.vrrp_state.values():
            if state.get("pending") is not None:
                yield state["pending"]

    def _scheduler_times(self):
        now = self.clock.now
        for state in self.scheduler_state.values():
            if state.get("next") is not None and state["next"] >= now - 1e-9:
                yield state["next"]

    def _run_due(self, now):
        dirty, self._dirty = self._dirty, False
        self._sync_router_clocks()
        if self._runtime_removed:
            self._apply_runtime_removals()
        if dirty or self._due(self._ipsec_times(), now):
            self._ipsec(now)
        if dirty or self._due(self._vrrp_times(), now):
            self._vrrp(now)
        if dirty or self._due(self._netwatch_times(), now):
            self._netwatch(now)
        if dirty or self._due(self._scheduler_times(), now):
            self._scheduler(now)
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
        while frontier:
            end = frontier.pop()
            for link in self.links:
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
        for row in self._items(self.routers[name], "/ip/route"):
            try:
                if destination in ipaddress.ip_network(row.get("dst-address", "0.0.0.0/0"), strict=False):
                    gateway = ipaddress.ip_address(row.get("gateway", ""))
                    for iface, _interface, _parent in addresses:
                        if gateway in iface.network:
                            return str(iface.ip)
            except ValueError:
                continue
        return None

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
        # static routes: longest matching dst-address whose gateway is on a connected network
        best = None
        for row in self._items(self.routers[src_router], "/ip/route"):
            if truthy(row.get("disabled", "false")) or not row.get("gateway"):
                continue
            try:
                network = ipaddress.ip_network(row.get("dst-address", "0.0.0.0/0"), strict=False)
            except ValueError:
                continue
            if destination in network and (best is None or network.prefixlen > best[0].prefixlen):
                best = (network, row["gateway"])
        if best is None:
            return None
        first = self.route(src_router, best[1], src_ip, depth=0)
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
            if row is None or not hasattr(router, "set_runtime_props"):
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
    def _side(self, name):
        router = self.routers[name]
        menus = {}
        for menu in (IPSEC + "peer", IPSEC + "profile", IPSEC + "proposal", IPSEC + "identity",
                     IPSEC + "policy", "/certificate"):
            menus[menu] = self._items(router, menu)
        return Side(name, menus)

    def _dpd_settings(self, sa, name, side):
        """(dpd-interval seconds, unanswered rounds before the peer is dead) or None (disable-dpd)."""
        peer = side.peer(sa.peer_name(name))
        profile = (side.profile(peer["profile"]) if peer else None) or {}
        value = profile.get("dpd-interval", "8s")
        if value in ("disable-dpd", "0s", "0"):
            return None
        try:
            interval = parse_duration(value)
        except ValueError:
            return None
        rounds = IKEV2_DPD_RETRIES if sa.version == 2 else int(profile.get("dpd-maximum-failures", "4") or 4)
        return interval, rounds

    @staticmethod
    def _dpd_due(sa, name):
        """When ``name`` declares its silent peer dead: ``rounds`` DPD intervals after it went quiet.

        DPD is event-driven in the lab: a side only needs a timer while its peer does not answer
        (a change of links, routers or firewalls makes the fabric look again)."""
        if not sa.alive.get(name) or sa.dpd.get(name) is None or sa.silent_since.get(name) is None:
            return None
        interval, rounds = sa.dpd[name]
        return sa.silent_since[name] + interval * rounds

    def _log(self, name, line):
        if name not in self.down_routers:
            self.routers[name].log(*line)

    def _sa_fingerprint(self, sa, sides):
        def part(side, peer_name):
            peer = side.peer(peer_name)
            if peer is None:
                return None
            profile = side.profile(peer["profile"])
            return (sorted(peer.items()), [sorted(i.items()) for i in side.identities(peer_name)],
                    sorted((profile or {}).items()))
        return (part(sides[sa.i_router], sa.i_peer_name), part(sides[sa.r_router], sa.r_peer_name))

    def _initiator_policies(self, side, peer_name):
        out = []
        for policy in side.policies():
            if policy.get("peer") == peer_name and not truthy(policy["template"]) \
                    and policy.get("action") == "encrypt" and not truthy(policy.get("invalid", "false")):
                out.append(policy)
        return out

    @staticmethod
    def _policy_fingerprint(policy):
        runtime = {"ph2-state", "active", "ph2-count", "invalid", "bytes", "packets"}
        return tuple(sorted((k, v) for k, v in (policy or {}).items() if k not in runtime))

    def _prune_sas(self):
        self.sas = [sa for sa in self.sas if any(sa.alive.values())]

    def _kill(self, sa, name, reason_line=None):
        """``name`` drops its half of ``sa`` (killing ike2 SA …)."""
        if not sa.alive.get(name):
            return
        sa.alive[name] = False
        if reason_line:
            self._log(name, reason_line)
        self._log(name, log_line("killing-ike2-sa", peer=sa.peer_name(name), local=sa.address(name),
                                 local_port=sa.port, remote=sa.address(sa.other(name)), remote_port=sa.port,
                                 spii=sa.spii, spir=sa.spir))

    def _teardown(self, sa):
        """Both ends delete the SA (a delete notify reaches the other side)."""
        for name in (sa.i_router, sa.r_router):
            self._kill(sa, name)
        self._prune_sas()

    def _ipsec(self, now):
        sides = {name: self._side(name) for name in self.routers if name not in self.down_routers}
        self._check_sas(now, sides)
        initiating = set()
        for name, side in sides.items():
            for peer in side.rows(IPSEC + "peer", ike.PEER_DEFAULTS):
                if truthy(peer["passive"]):
                    continue
                target = _host(peer.get("address", ""))
                if target is None:
                    continue      # a subnet or DNS name: this peer only responds
                key = (name, peer["name"])
                if any(sa.alive.get(name) and sa.peer_name(name) == peer["name"] for sa in self.sas):
                    continue
                if self._held_by_responder(name, peer, target):
                    continue
                initiating.add(key)
                self._initiate(now, name, side, peer, target, sides)
        # peers that stopped initiating (removed, passive, established) forget their exchanges
        for table in (self.attempts, self.retry_at):
            for key in [k for k in table if k not in initiating]:
                del table[key]
        self._prune_sas()

    def _held_by_responder(self, name, peer, target):
        """Another router already initiated to us for this peer pair (one SA per pair)."""
        for sa in self.sas:
            if sa.r_router == name and sa.alive.get(name) and sa.r_peer_name == peer["name"]:
                return True
        return False

    def _initiate(self, now, name, side, peer, target, sides):
        key = (name, peer["name"])
        retry = self.retry_at.get(key)
        if retry is not None and now < retry:
            return
        self.retry_at.pop(key, None)
        attempt = self.attempts.get(key)
        if attempt is None:
            attempt = self.attempts[key] = Attempt(now, _hex(self.rng, 16))
        if now < attempt.next_try:
            return
        local = peer.get("local-address")
        route = self.route(name, target, local or None)
        i_addr = local or (route.src_ip if route else self._source_for(name, target))
        if not side.identities(peer["name"]):
            # RouterOS checks its own identity before sending anything
            self._log(name, log_line("initiator-no-identity", peer=peer["name"]))
            del self.attempts[key]
            self.retry_at[key] = now + NEGOTIATION_RETRY
            return
        port = int(peer.get("port", "500") or 500)
        ok, failed = (False, None)
        if route is not None and port in (500, 4500):
            ok, failed = self._exchange(name, target, i_addr, "udp", port)
        if ok and route.dst_router in sides:
            self._negotiate(now, name, side, peer, target, i_addr, route, sides, attempt, port)
            return
        self._wait(now, key, attempt, "message-1-sent", i_addr or "0.0.0.0", 500, target, port)

    def _wait(self, now, key, attempt, stage, local, local_port, remote, remote_port):
        """No answer (yet): retransmit until the phase-1 timeout, then log `time up` and start over."""
        if now >= attempt.deadline:
            self._log(key[0], log_line("time-up", local=local, local_port=local_port, remote=remote,
                                       remote_port=remote_port, cookie_i=attempt.cookie, cookie_r=attempt.cookie_r))
            attempt = self.attempts[key] = Attempt(now, _hex(self.rng, 16))
            attempt.next_try = now + RETRANSMIT
            return
        attempt.stage = stage
        attempt.where = (local, remote, remote_port)
        attempt.next_try = min(now + RETRANSMIT, attempt.deadline)

    def _negotiate(self, now, name, side, peer, target, i_addr, route, sides, attempt, port):
        key = (name, peer["name"])
        r_name = route.dst_router
        r_side = sides[r_name]
        outcome = ike.negotiate_phase1(side, peer, i_addr, r_side, target, 500, 500)
        if not outcome.ok:
            for line in outcome.responder_logs:
                if (r_name, line) not in attempt.logged:
                    self._log(r_name, line)
                    attempt.logged.add((r_name, line))
            if outcome.silent:
                # the initiator hears nothing more: it retransmits until `time up`. With no
                # matching peer the responder never answered; after a failed IKEv1 authentication
                # it answered the first exchanges (its cookie is known)
                if outcome.failure != "no-peer" and attempt.cookie_r == "0000000000000000":
                    attempt.cookie_r = _hex(self.rng, 16)
                stage = "message-1-sent" if outcome.failure == "no-peer" else "message-3-sent"
                self._wait(now, key, attempt, stage, i_addr, 500, target, port)
                return
            for line in outcome.initiator_logs:
                self._log(name, line)
            del self.attempts[key]
            self.retry_at[key] = now + NEGOTIATION_RETRY
            return
        natt = False
        if name in self.nat or r_name in self.nat:
            natt = outcome.details["nat_traversal"]
            if natt:
                ok, _failed = self._exchange(name, target, i_addr, "udp", 4500)
                if not ok:
                    if attempt.cookie_r == "0000000000000000":
                        attempt.cookie_r = _hex(self.rng, 16)
                    self._wait(now, key, attempt, "message-3-sent", i_addr, 4500, target, 4500)
                    return
        del self.attempts[key]
        # the responder replaces what it still holds for this peer (initial contact)
        for old in list(self.sas):
            if {old.i_router, old.r_router} == {name, r_name} and \
                    old.peer_name(r_name) == outcome.details["responder_peer"]["name"]:
                for end in (old.i_router, old.r_router):
                    old.alive[end] = False
        self._prune_sas()
        sa = IkeSa(name, peer, r_name, outcome, i_addr, target, 4500 if natt else 500, natt, self.rng, now)
        sa.fingerprint = self._sa_fingerprint(sa, sides)
        self.sas.append(sa)
        for line in outcome.responder_logs:
            self._log(r_name, line)
        self._log_established(sa)
        self._children(now, sa, sides)

    def _log_established(self, sa):
        for name, label in ((sa.i_router, "I"), (sa.r_router, "R")):
            values = dict(peer=sa.peer_name(name), local=sa.address(name), local_port=sa.port,
                          remote=sa.address(sa.other(name)), remote_port=sa.port, spii=sa.spii, spir=sa.spir)
            if sa.version == 2:
                self._log(name, log_line("new-ike2-sa", side=label, **values))
            else:
                self._log(name, log_line("ph1-established-v1", **values))

    def _children(self, now, sa, sides):
        """Negotiate phase 2 for every initiator policy without a current child SA."""
        i_side, r_side = sides[sa.i_router], sides[sa.r_router]
        policies = self._initiator_policies(i_side, sa.i_peer_name)
        wanted = {policy[".id"]: policy for policy in policies}
        r_policies = {p[".id"]: p for p in r_side.policies()}
        for policy_id in list(sa.children):
            child = sa.children[policy_id]
            current = self._child_fingerprint(i_side, wanted.get(policy_id), r_side,
                                              r_policies.get(child.r_policy_id))
            if policy_id not in wanted or current != child.fingerprint:
                del sa.children[policy_id]
        for policy_id, policy in wanted.items():
            if policy_id in sa.children:
                continue
            # IKEv2: the first child rides IKE_AUTH (no PFS exchange); later ones are CREATE_CHILD_SA
            first_child = sa.version == 2 and not sa.auth_child_done
            sa.auth_child_done = True
            outcome = ike.negotiate_child(i_side, policy, r_side, sa.details, sa.i_addr, sa.r_addr,
                                          first_child=first_child)
            matched = (outcome.details or {}).get("responder_policy") or (outcome.details or {}).get("template")
            fingerprint = self._child_fingerprint(i_side, policy, r_side, matched)
            if outcome.ok:
                child = Child(policy, outcome.details, "0x%08X" % self.rng.getrandbits(32),
                              "0x%08X" % self.rng.getrandbits(32), now)
                child.fingerprint = fingerprint
                sa.children[policy_id] = child
                sa.child_failures.pop(policy_id, None)
                for line in outcome.responder_logs:
                    self._log(sa.r_router, line)
                if sa.version == 1:
                    self._log(sa.i_router, log_line("ph2-established-v1", mode="Tunnel" if child.details["tunnel"]
                                                    else "Transport", remote=sa.r_addr, remote_port=sa.port,
                                                    local=sa.i_addr, local_port=sa.port, spi=child.spi_i))
                continue
            failure_key = (fingerprint, tuple(sorted(r_policies)))
            if sa.child_failures.get(policy_id) == failure_key:
                continue
            sa.child_failures[policy_id] = failure_key
            for line in outcome.responder_logs:
                self._log(sa.r_router, line)
            for line in outcome.initiator_logs:
                self._log(sa.i_router, line)

    def _rekey_child(self, now, sa, policy_id, child, sides):
        """A phase-2 rekey is a fresh exchange with PFS (IKEv2 CREATE_CHILD_SA, IKEv1 quick mode)."""
        i_side, r_side = sides[sa.i_router], sides[sa.r_router]
        policy = next((p for p in i_side.policies() if p[".id"] == policy_id), None)
        if policy is None:
            return False
        outcome = ike.negotiate_child(i_side, policy, r_side, sa.details, sa.i_addr, sa.r_addr)
        if not outcome.ok:
            return False      # the child goes; _children tries a new one and logs why it fails
        child.added = now
        child.lifetime = outcome.details["lifetime"]
        child.rekeys += 1
        child.spi_i = "0x%08X" % self.rng.getrandbits(32)
        child.spi_r = "0x%08X" % self.rng.getrandbits(32)
        child.ids = {}
        return True

    def _child_fingerprint(self, i_side, policy, r_side, r_policy):
        i_prop = i_side.proposal((policy or {}).get("proposal", "default"))
        r_prop = r_side.proposal((r_policy or {}).get("proposal", "default"))
        return (self._policy_fingerprint(policy), self._policy_fingerprint(r_policy),
                tuple(sorted((i_prop or {}).items())), tuple(sorted((r_prop or {}).items())))

    def _check_sas(self, now, sides):
        for sa in list(self.sas):
            both = all(name in sides for name in (sa.i_router, sa.r_router))
            if both and all(sa.alive.values()):
                if self._sa_fingerprint(sa, sides) != sa.fingerprint:
                    self._teardown(sa)
                    continue
            # DPD, per side: does the other end still answer on the IKE port?
            for name in (sa.i_router, sa.r_router):
                if not sa.alive.get(name) or name not in sides:
                    continue
                sa.dpd[name] = self._dpd_settings(sa, name, sides[name])
                other = sa.other(name)
                answered = sa.alive.get(other) and other not in self.down_routers and \
                    self._exchange(name, sa.address(other), sa.address(name), "udp", sa.port)[0]
                if answered:
                    sa.silent_since[name] = None
                    continue
                if sa.silent_since[name] is None:
                    sa.silent_since[name] = now
                due = self._dpd_due(sa, name)
                if due is not None and now >= due:
                    self._kill(sa, name, log_line("dpd-dead", remote=sa.address(other)))
            if not any(sa.alive.values()):
                continue
            if not all(sa.alive.values()):
                # a half-open SA (the other end rebooted or was killed) expires with its lifetime
                if now >= sa.rekeyed + sa.lifetime:
                    for name in (sa.i_router, sa.r_router):
                        self._kill(sa, name)
                continue
            # lifetimes: rekey when both ends can still talk, else the SA expires
            talk = both and self._exchange(sa.i_router, sa.r_addr, sa.i_addr, "udp", sa.port)[0]
            if now >= sa.rekeyed + sa.lifetime:
                if talk:
                    sa.rekeyed = now
                    sa.spii, sa.spir = _hex(self.rng, 16), _hex(self.rng, 16)
                else:
                    self._teardown(sa)
                    continue
            for policy_id, child in list(sa.children.items()):
                if now >= child.added + child.lifetime:
                    if talk and self._rekey_child(now, sa, policy_id, child, sides):
                        continue
                    del sa.children[policy_id]
            if both:
                self._children(now, sa, sides)
        self._prune_sas()

    def _first_policy(self, router, src, dst):
        """The first enabled, valid, non-template policy of ``router`` whose selectors hold src/dst."""
        for policy in self._side(router).policies():
            if truthy(policy["template"]) or truthy(policy.get("invalid", "false")):
                continue
            if firewall_eval.address_in(policy.get("src-address", "0.0.0.0/0"), src) and \
                    firewall_eval.address_in(policy.get("dst-address", "0.0.0.0/0"), dst):
                return policy
        return None

    def _count_statistic(self, name, field, count=1):
        router = self.routers[name]
        rows = self._items(router, IPSEC + "statistics")
        current = int((rows[0] if rows else {}).get(field, "0") or 0)
        try:
            router.set_runtime_props(IPSEC + "statistics", None, {field: str(current + count)})
        except (KeyError, AttributeError):
            pass

    def _child_for(self, router, src, dst):
        for sa in self.sas:
            if not all(sa.alive.values()) or router not in (sa.i_router, sa.r_router):
                continue
            side = self._side(router)
            policies = {p[".id"]: p for p in side.policies()}
            for policy_id, child in sa.children.items():
                own_id = policy_id if router == sa.i_router else child.r_policy_id
                policy = policies.get(own_id)
                if policy is None and router == sa.r_router and child.details.get("template"):
                    # a policy generated from a template: the initiator's selectors, mirrored
                    i_policy = {p[".id"]: p for p in self._side(sa.i_router).policies()}.get(policy_id)
                    policy = dict(i_policy or {}, **{"src-address": (i_policy or {}).get("dst-address"),
                                                     "dst-address": (i_policy or {}).get("src-address")})
                if policy and firewall_eval.address_in(policy.get("src-address", "0.0.0.0/0"), src) and \
                        firewall_eval.address_in(policy.get("dst-address", "0.0.0.0/0"), dst):
                    return sa, child, policy
        return None, None, None

    # -- runtime rows --------------------------------------------------------------------------------
    def _new_id(self, router):
        if hasattr(router, "new_id"):
            return router.new_id()
        return "*%X" % (0xF0000 + self.rng.getrandbits(16))

    def _write_all(self):
        for name in self.routers:
            if name not in self.down_routers:
                self._write_runtime(name)

    def _write_runtime(self, name, clear=False):
        router = self.routers[name]
        if not hasattr(router, "set_runtime_rows"):
            return
        now = self.clock.now
        peers, sas_rows, policy_state = [], [], {}
        if not clear:
            for sa in self.sas:
                if not sa.alive.get(name) or name not in (sa.i_router, sa.r_router):
                    continue
                peers.append(self._active_peer_row(router, sa, name, now))
                for child in sa.children.values():
                    sas_rows.extend(self._installed_sa_rows(router, sa, child, name, now))
                    own = child.i_policy_id if name == sa.i_router else child.r_policy_id
                    if own is not None:
                        policy_state[own] = policy_state.get(own, 0) + 1
        if not clear:
            for (owner, _peer), attempt in self.attempts.items():
                if owner == name and attempt.stage:
                    peers.append(self._pending_peer_row(router, attempt, now))
        self._set_rows(name, router, IPSEC + "active-peers", peers)
        self._set_rows(name, router, IPSEC + "installed-sa", sas_rows)
        for policy in self._items(router, IPSEC + "policy"):
            if truthy(policy.get("template", "false")):
                continue
            count = policy_state.get(policy[".id"], 0)
            props = {"ph2-state": "established" if count else "no-phase2", "active": "true" if count else "false",
                     "ph2-count": str(count)}
            if any(policy.get(k) != v for k, v in props.items()):
                try:
                    router.set_runtime_props(IPSEC + "policy", policy[".id"], props)
                except KeyError:
                    pass

    def _set_rows(self, name, router, menu, rows):
        # compare with what the router holds now (a restore or an API flush may have changed it)
        if self._items(router, menu) == rows:
            return
        router.set_runtime_rows(menu, rows)

    def _active_peer_row(self, router, sa, name, now):
        if name not in sa.ids:
            sa.ids[name] = self._new_id(router)
        rx_bytes, tx_bytes, rx_packets, tx_packets = sa.bytes[name]
        other = sa.other(name)
        # `id`: the identity the remote end presented (its my-id: address, fqdn, DN, …)
        remote_id = sa.details.get("responder_id" if name == sa.i_router else "initiator_id") or ("", "")
        row = {".id": sa.ids[name], "id": str(remote_id[1]), "local-address": sa.address(name),
               "remote-address": sa.address(other), "port": str(sa.port),
               "side": "initiator" if name == sa.i_router else "responder", "state": "established",
               "uptime": format_duration(now - sa.established), "last-seen": format_duration(self._last_seen(sa, name, now)),
               "ph2-total": str(len(sa.children)), "spii": sa.spii, "spir": sa.spir,
               "rx-bytes": str(rx_bytes), "tx-bytes": str(tx_bytes), "rx-packets": str(rx_packets),
               "tx-packets": str(tx_packets), "natt-peer": "true" if sa.natt else "false",
               "responder": "false" if name == sa.i_router else "true", "dynamic-address": "false"}
        return row

    def _pending_peer_row(self, router, attempt, now):
        """An exchange still waiting for its answer (state as RouterOS names its steps)."""
        if attempt.row_id is None:
            attempt.row_id = self._new_id(router)
        local, remote, port = attempt.where
        return {".id": attempt.row_id, "local-address": local, "remote-address": remote, "port": str(port),
                "side": "initiator", "state": attempt.stage, "uptime": format_duration(now - attempt.started),
                "ph2-total": "0", "spii": attempt.cookie, "spir": attempt.cookie_r, "rx-bytes": "0",
                "tx-bytes": "0", "rx-packets": "0", "tx-packets": "0", "natt-peer": "false",
                "responder": "false", "dynamic-address": "false"}

    @staticmethod
    def _last_seen(sa, name, now):
        if sa.silent_since.get(name) is not None:
            return now - sa.silent_since[name]
        settings = sa.dpd.get(name)
        # a quiet tunnel hears the peer at every DPD exchange
        return (now - sa.established) % settings[0] if settings else now - sa.established

    def _installed_sa_rows(self, router, sa, child, name, now):
        enc, key_size, auth = ike.sa_algorithms(child.details)
        me, other = sa.address(name), sa.address(sa.other(name))
        suffix = ":4500" if sa.natt else ""
        side = sa.side(name)
        inbound_spi = child.spi_i if side == "i" else child.spi_r
        outbound_spi = child.spi_r if side == "i" else child.spi_i
        soft = child.lifetime * 0.8
        rows = []
        for direction, spi, src, dst in (("in", inbound_spi, other, me), ("out", outbound_spi, me, other)):
            id_key = (name, direction)
            if id_key not in child.ids:
                child.ids[id_key] = self._new_id(router)
            counted = child.bytes[side] if direction == "in" else child.bytes["r" if side == "i" else "i"]
            packets = child.packets[side] if direction == "in" else child.packets["r" if side == "i" else "i"]
            rows.append({".id": child.ids[id_key], "spi": spi, "src-address": src + suffix,
                         "dst-address": dst + suffix, "state": "mature", "auth-algorithm": auth,
                         "enc-algorithm": enc, "enc-key-size": str(key_size),
                         "addtime": self.clock.datetime(child.added).strftime("%Y-%m-%d %H:%M:%S"),
                         "expires-in": format_duration(max(0.0, child.added + child.lifetime - now)),
                         "add-lifetime": "%s/%s" % (format_duration(soft), format_duration(child.lifetime)),
                         "current-bytes": str(counted), "current-packets": str(packets),
                         "replay": "128", "invalid-packets": "0",
                         "seen-traffic": "true" if counted else "false",
                         "ESP": "true" if child.details["ipsec-protocols"] == "esp" else "false",
                         "AH": "true" if child.details["ipsec-protocols"] == "ah" else "false",
                         "hw-aead": "false"})
        return rows

    # -- scripts --------------------------------------------------------------------------------------
    def _step_script(self, name, origin, steps, boot=None):
        # a script paused in :delay dies with its router (a reboot does not resume it)
        boot = self.generation[name] if boot is None else boot
        if name in self.down_routers or boot != self.generation[name]:
            return
        self._sync_router_clocks()
        try:
            delay = next(steps)
        except StopIteration:
            return
        except ScriptError as error:
            self.script_errors.append((name, origin, error))
            self._log(name, log_line("script-error", error=error))
            if origin.startswith("scheduler:"):
                self._log(name, log_line("scheduler-failed", name=origin.split(":", 1)[1]))
            return
        self.clock.call_later(delay, lambda: self._step_script(name, origin, steps, boot))

    def _source_of(self, name, text):
        """A scheduler's on-event: a /system/script name runs that script, anything else is source."""
        for row in self._items(self.routers[name], "/system/script"):
            if row.get("name") == text.strip():
                return "/system script run %s" % row["name"]
        return text

    # -- netwatch -------------------------------------------------------------------------------------
    def _netwatch(self, now):
        for name, router in self.routers.items():
            if name in self.down_routers:
                continue
            seen = set()
            for row in self._items(router, "/tool/netwatch"):
                key = (name, row[".id"])
                seen.add(key)
                if truthy(row.get("disabled", "false")):
                    self.netwatch_state.pop(key, None)
                    continue
                # RouterOS takes 1s..; a smaller value would stall the lab clock
                interval = max(1.0, parse_duration(row.get("interval", "10s") or "10s"))
                state = self.netwatch_state.get(key)
                if state is None:
                    delay = parse_duration(row.get("start-delay", "0s") or "0s")
                    state = self.netwatch_state[key] = {"status": "unknown", "next": now + delay, "done": 0,
                                                        "failed": 0, "first": True}
                if now < state["next"]:
                    continue
                state["next"] = now + interval
                up = self._probe(name, row)
                state["done"] += 1
                if not up:
                    state["failed"] += 1
                status = "up" if up else "down"
                props = {"done-tests": str(state["done"]), "failed-tests": str(state["failed"])}
                if status != state["status"]:
                    first = state.pop("first", False)
                    state["status"] = status
                    props.update({"status": status,
                                  "since": self.clock.datetime().strftime("%Y-%m-%d %H:%M:%S")})
                    self._log(name, log_line("netwatch-event", status=status,
                                                type=row.get("type", "simple"), host=row.get("host")))
                    ignore = truthy(row.get("ignore-initial-%s" % status, "false")) and first
                    script = row.get("%s-script" % status, "")
                    if script and not ignore:
                        self.run_script(name, script, "netwatch:%s" % row.get("host"))
                try:
                    router.set_runtime_props("/tool/netwatch", row[".id"], props)
                except KeyError:
                    pass
            for key in [k for k in self.netwatch_state if k[0] == name and k not in seen]:
                del self.netwatch_state[key]

    def _probe(self, name, row):
        kind = row.get("type", "simple")
        host = row.get("host", "")
        if kind in ("simple", "icmp"):
            return self.reachable(name, host, "icmp")
        if kind == "tcp-conn":
            return self.reachable(name, host, "tcp", int(row.get("port", "80") or 80))
        # http-get, https-get, dns: a TCP connection to the service port is what the lab can check
        port = {"http-get": 80, "https-get": 443, "dns": 53}.get(kind, 80)
        return self.reachable(name, host, "tcp" if kind != "dns" else "udp", int(row.get("port", port) or port))

    # -- VRRP ------------------------------------------------------------------------------------------
    def _vrrp(self, now):
        groups = {}
        live_keys = set()
        for name, router in self.routers.items():
            if name in self.down_routers:
                continue
            running = {row["name"] for row in self._items(router, "/interface")
                       if not truthy(row.get("disabled", "false")) and truthy(row.get("running", "true"))}
            for row in self._items(router, "/interface/vrrp"):
                key = (name, row[".id"])
                if truthy(row.get("disabled", "false")) or row.get("interface") not in running:
                    if key in self.vrrp_state:
                        self._vrrp_props(name, row, "init")
                        del self.vrrp_state[key]
                        self._address_cache.clear()
                    continue
                live_keys.add(key)
                segment = frozenset(self._segment(name, row["interface"]))
                # routers only hear advertisements of the same version and authentication
                authentication = row.get("authentication", "none")
                group_key = (min(segment), row.get("vrid", "1"), row.get("version", "3"), authentication,
                             row.get("password", "") if authentication != "none" else "")
                groups.setdefault(group_key, []).append((name, row))
        for key in [k for k in self.vrrp_state if k not in live_keys]:
            del self.vrrp_state[key]
            self._address_cache.clear()
        for members in groups.values():
            self._elect(now, members)

    def _vrrp_rank(self, name, row):
        addresses = [a[0].ip for a in self._addresses(name) if a[1] == row["interface"]]
        return (int(row.get("priority", "100")), max(addresses) if addresses else ipaddress.ip_address("0.0.0.0"))

    def _elect(self, now, members):
        states = {}
        for name, row in members:
            key = (name, row[".id"])
            if key not in self.vrrp_state:
                self.vrrp_state[key] = {"state": "backup", "since": now, "pending": None}
                self._address_cache.clear()
                self._vrrp_props(name, row, "backup")
                if row.get("on-backup"):
                    self.run_script(name, row["on-backup"], "vrrp:%s" % row.get("name"))
            states[key] = self.vrrp_state[key]
        ranked = sorted(members, key=lambda m: self._vrrp_rank(*m), reverse=True)
        masters = [(name, row) for name, row in members if states[(name, row[".id"])]["state"] == "master"]
        best_name, best_row = ranked[0]
        best_key = (best_name, best_row[".id"])
        if masters:
            current = masters[0]
            for extra in masters[1:]:
                self._vrrp_transition(now, extra, "backup")
            if current[0] != best_name and truthy(best_row.get("preemption-mode", "true")) and \
                    self._vrrp_rank(*current) < self._vrrp_rank(best_name, best_row):
                self._vrrp_transition(now, current, "backup")
                self._vrrp_transition(now, (best_name, best_row), "master")
            for name, row in members:
                states[(name, row[".id"])]["pending"] = None
            return
        # no master heard: the best backup takes over after the master-down interval
        interval = parse_duration(best_row.get("interval", "1s") or "1s")
        priority = int(best_row.get("priority", "100"))
        master_down = 3 * interval + (256 - priority) / 256.0 * interval
        for name, row in members:
            if (name, row[".id"]) != best_key:
                states[(name, row[".id"])]["pending"] = None
        state = states[best_key]
        if state["pending"] is None:
            state["pending"] = max(now, state["since"]) + master_down
        if now >= state["pending"]:
            self._vrrp_transition(now, (best_name, best_row), "master")

    def _vrrp_transition(self, now, member, new_state):
        name, row = member
        state = self.vrrp_state[(name, row[".id"])]
        if state["state"] == new_state:
            return
        state.update({"state": new_state, "since": now, "pending": None})
        self._address_cache.clear()      # addresses on the VRRP interface move with the master role
        self._vrrp_props(name, row, new_state)
        script = row.get("on-master" if new_state == "master" else "on-backup")
        if script:
            self.run_script(name, script, "vrrp:%s" % row.get("name"))

    def _vrrp_props(self, name, row, state):
        props = {"master": "true" if state == "master" else "false",
                 "backup": "true" if state == "backup" else "false",
                 "running": "true" if state == "master" else "false"}
        try:
            self.routers[name].set_runtime_props("/interface/vrrp", row[".id"], props)
        except (KeyError, AttributeError):
            pass

    # -- scheduler -------------------------------------------------------------------------------------
    def _scheduler(self, now):
        for name, router in self.routers.items():
            if name in self.down_routers:
                continue
            seen = set()
            for row in self._items(router, "/system/scheduler"):
                key = (name, row[".id"])
                seen.add(key)
                fingerprint = (row.get("start-date"), row.get("start-time"), row.get("interval"),
                               row.get("disabled"))
                state = self.scheduler_state.get(key)
                if state is None or state["fingerprint"] != fingerprint:
                    state = self.scheduler_state[key] = {"fingerprint": fingerprint,
                                                         "runs": int(row.get("run-count", "0") or 0),
                                                         "next": self._first_run(name, row, now)}
                    self._scheduler_props(router, row, state)
                if state["next"] is None or now < state["next"] - 1e-9:
                    continue
                interval = parse_duration(row.get("interval", "0s") or "0s")
                state["runs"] += 1
                state["next"] = state["next"] + interval if interval > 0 else None
                while interval > 0 and state["next"] is not None and state["next"] <= now:
                    state["next"] += interval
                self._scheduler_props(router, row, state)
                self.run_script(name, self._source_of(name, row.get("on-event", "")),
                                "scheduler:%s" % row.get("name"))
            for key in [k for k in self.scheduler_state if k[0] == name and k not in seen]:
                del self.scheduler_state[key]

    def _first_run(self, name, row, now):
        if truthy(row.get("disabled", "false")):
            return None
        interval = parse_duration(row.get("interval", "0s") or "0s")
        start_time = row.get("start-time", "startup")
        if start_time == "startup":
            first = self.booted.get(name, 0.0) + SCHEDULER_STARTUP_DELAY
            if first < now and interval <= 0:
                return None
        else:
            start = _parse_start(row.get("start-date"), start_time, self.clock.datetime())
            first = self.clock.lab_time(start)
            if first < now - 1e-9 and interval <= 0:
                return None
        while interval > 0 and first < now - 1e-9:
            first += interval
        return first

    def _scheduler_props(self, router, row, state):
        props = {"run-count": str(state["runs"])}
        props["next-run"] = self.clock.datetime(state["next"]).strftime("%Y-%m-%d %H:%M:%S") \
            if state["next"] is not None else None
        try:
            router.set_runtime_props("/system/scheduler", row[".id"], props)
        except (KeyError, AttributeError):
            pass


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}


def _parse_start(start_date, start_time, today):
    """Scheduler start-date (``2026-11-27`` or the older ``nov/27/2026``) and start-time (``HH:MM:SS``)."""
    if start_date:
        text = start_date.strip().lower()
        if "/" in text:
            month, day, year = text.split("/")
            date = _dt.date(int(year), _MONTHS[month[:3]], int(day))
        else:
            date = _dt.date.fromisoformat(text)
    else:
        date = today.date()
    hours, minutes, seconds = (int(float(part)) for part in (start_time.split(":") + ["0", "0"])[:3])
    return _dt.datetime.combine(date, _dt.time(hours, minutes, seconds))
