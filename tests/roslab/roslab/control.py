"""Labs: many emulated routers in one process, one asyncio loop, plus fault injection and an RPC.

Python API for tests::

    with Lab.from_topology("topology.yml", base_port=0, state_dir=tmp_path) as lab:
        port = lab.ports["hub"]["api"]
        lab.fault_drop_after("hub", 3)          # the 3rd command sentence is run, then the line drops
        lab.reboot("hub")                       # connections dropped, router restored from its snapshot

``base_port=0`` lets the OS pick free ports (what parallel test runs want); otherwise router i gets
``base_port + i`` and api-ssl ``api_port + 1000`` unless the topology names ports.

The fabric (``roslab.fabric``: links, firewalls, IKE, netwatch, VRRP, scheduler) runs in every lab
unless ``fabric=False``: ``lab.fabric`` over the routers and the topology's links, its lab clock
following real time ``speed`` times as fast (``speed=0``: the clock moves only with
``lab.advance(seconds)``, which advances it at once and settles). Runtime state lives in the fabric
and the routers, so everything runs on the lab loop.

API admission (``api_firewall``, on with the fabric): a new connection to a router's api or api-ssl
port is evaluated as a TCP SYN through the router's ``/ip/service`` settings and filter ``input``
chain (``Fabric.api_allowed``). Its source is the router's ``management_address`` from the topology
(per router, or top level for all), else the socket peer address (127.0.0.1): the lab pretends the
client has that address, so rules written for a real management subnet are evaluated meaningfully;
the destination is the router's address on the management address's subnet (else its first
address) and the port the one ``/ip/service`` gives ``api``/``api-ssl`` (8728/8729 by default).
A refused connection is accepted by the kernel and then reset (RST) before the lab reads a byte:
the client's connect succeeds and its first read or write (``/login``) fails with a reset. A real
router dropping the SYN would make the connect time out instead; the reset is the closest
behaviour a 127.0.0.1 listener can give without stalling clients. Established connections stay up.

Persistence: every successful write calls ``router.on_change``; the lab saves ``router.snapshot()``
to ``<state_dir>/routers/<name>.json`` after ``save_delay`` seconds of quiet (debounced), and on stop.
A lab started again on the same state dir restores each router from its file.

Control RPC (what ``roslab`` the CLI uses): JSON lines over a unix socket. The running lab writes
``<state_dir>/lab.json`` (pid, socket path, routers); :class:`ControlClient` reads it.
Request ``{"op": "...", "args": {...}}``; reply ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "..."}``. Ops: see ``Lab.RPC_OPS``.
"""

import asyncio
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time

from roslab import protocol, tls
from roslab.clock import format_duration, parse_duration

LOG = logging.getLogger("roslab.control")

DEFAULT_VERSION = "7.22.2"
TLS_PORT_OFFSET = 1000
LAB_FILE = "lab.json"
INVENTORY_FILE = "inventory.yml"
SOCKET_NAME = "control.sock"
# sun_path is 108 bytes on Linux; longer state dirs get their socket under the temp dir
MAX_SOCKET_PATH = 100
# real seconds between two steps of the lab clock when it follows real time
FABRIC_PERIOD = 0.5
# the port a RouterOS /ip/service listens on when its row does not say (RouterOS defaults)
SERVICE_PORTS = {"api": 8728, "api-ssl": 8729}


def _default_router_factory():
    from roslab.menus import build_router  # late import: control sits above menus
    return build_router


def load_topology(topology):
    """A topology dict from a dict, a YAML/JSON file path, or YAML text."""
    if isinstance(topology, dict):
        return check_topology(topology)
    import yaml
    text = str(topology)
    if os.path.exists(text):
        with open(text, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    else:
        data = yaml.safe_load(text)
    return check_topology(data)


class RouterSpec:
    """How to build one router and where it listens."""

    def __init__(self, name, version=DEFAULT_VERSION, api_port=0, api_ssl_port=None, build=None,
                 management_address=None, behind_nat=False):
        self.name = name
        # behind a NAT device from the start (the fabric's set_nat; `roslab nat` changes it later)
        self.behind_nat = bool(behind_nat)
        self.version = str(version)
        self.management_address = _address_or_none(management_address)
        self.api_port = int(api_port)
        if api_ssl_port is None:
            api_ssl_port = self.api_port + TLS_PORT_OFFSET if self.api_port else 0
        self.api_ssl_port = int(api_ssl_port)
        self.build = dict(build or {})


def _address_or_none(value):
    if value in (None, ""):
        return None
    import ipaddress
    return str(ipaddress.ip_address(str(value)))


# what a topology file may say (docs/lab.md "Topology"); anything else is refused by name, so a
# misspelt key (`adresses`, `defconfig`) never leaves a router silently unconfigured
TOPOLOGY_KEYS = ("routers", "links", "management_address")
ROUTER_KEYS = ("version", "api_port", "api_ssl_port", "management_address", "interfaces",
               "addresses", "identity", "defconf", "api_ssl_certificate", "behind_nat")
# api_ssl_certificate: "lab" (the lab's certificate installed on api-ssl) or "none" (the factory's
# certificate=none: api-ssl speaks only anonymous DH, see roslab.tls)
API_SSL_CERTIFICATE_CHOICES = ("lab", "none")
# an interface entry: its name and the ethernet properties a CHR port has at boot
INTERFACE_KEYS = ("name", "default-name", "mac-address", "mtu", "disabled")


def _refuse_unknown(where, mapping, known):
    unknown = sorted(str(key) for key in mapping if key not in known)
    if unknown:
        raise ValueError("%s: unknown key%s %s (known: %s)" % (
            where, "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(known)))


def check_topology(topology):
    """Refuse a topology with keys the lab does not know, naming each one."""
    if not isinstance(topology, dict) or not isinstance(topology.get("routers"), dict):
        raise ValueError("a topology needs a 'routers' mapping")
    _refuse_unknown("topology", topology, TOPOLOGY_KEYS)
    for name, entry in topology["routers"].items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ValueError("router %s: expected a mapping, got %r" % (name, entry))
        _refuse_unknown("router %s" % name, entry, ROUTER_KEYS)
        if not isinstance(entry.get("behind_nat", False), bool):
            raise ValueError("router %s: behind_nat must be true or false, got %r" % (name, entry["behind_nat"]))
        if entry.get("api_ssl_certificate", "lab") not in API_SSL_CERTIFICATE_CHOICES:
            raise ValueError("router %s: api_ssl_certificate must be one of %s, got %r" % (
                name, ", ".join(API_SSL_CERTIFICATE_CHOICES), entry["api_ssl_certificate"]))
        for index, interface in enumerate(entry.get("interfaces") or ()):
            if not isinstance(interface, dict) or "name" not in interface:
                raise ValueError("router %s: interface %d needs a name" % (name, index + 1))
            _refuse_unknown("router %s interface %s" % (name, interface["name"]), interface,
                            INTERFACE_KEYS)
    return topology


def specs_from_topology(topology, base_port=0):
    check_topology(topology)
    specs = []
    default_management = topology.get("management_address")
    for index, (name, entry) in enumerate(topology["routers"].items()):
        entry = dict(entry or {})
        version = entry.pop("version", DEFAULT_VERSION)
        api_port = entry.pop("api_port", None)
        if api_port is None:
            api_port = base_port + index if base_port else 0
        api_ssl_port = entry.pop("api_ssl_port", None)
        management = entry.pop("management_address", default_management)
        behind_nat = entry.pop("behind_nat", False)
        specs.append(RouterSpec(name, version, api_port, api_ssl_port, build=entry,
                                management_address=management, behind_nat=behind_nat))
    ports = [p for s in specs for p in (s.api_port, s.api_ssl_port) if p]
    if len(ports) != len(set(ports)):
        raise ValueError("topology assigns the same port twice")
    return specs


def router_names(count):
    return ["r%d" % i for i in range(1, count + 1)]


class Lab:
    """Routers in one process: one asyncio loop in a background thread, one listener per port."""

    RPC_OPS = ("ping", "status", "stop", "fault_drop", "fault_delay", "fault_latency", "fault_clear",
               "router_down", "router_up", "reboot", "reset", "clock", "advance",
               "link_down", "link_up", "trace", "nat")

    def __init__(self, specs, links=(), state_dir=None, host="127.0.0.1", router_factory=None,
                 api_ssl=True, save_delay=0.2, topology=None, fabric=True, speed=1.0,
                 api_firewall=True, fabric_period=FABRIC_PERIOD, seed=0):
        self.specs = {spec.name: spec for spec in specs}
        if len(self.specs) != len(specs):
            raise ValueError("router names must be unique")
        self.links = [list(link) for link in links]
        self.topology = topology
        self.host = host
        self.router_factory = router_factory
        self.api_ssl = api_ssl
        self.save_delay = save_delay
        self._own_state_dir = state_dir is None
        self.state_dir = os.path.abspath(str(state_dir)) if state_dir else None
        self.services = {}
        self._loop = None
        self._thread = None
        self._dirty = set()
        self._save_timer = None
        self._control_server = None
        self.control_socket = None
        self.stop_requested = threading.Event()
        self.started = False
        self.fabric_enabled = bool(fabric)
        self.speed = float(speed)
        if self.speed < 0:
            raise ValueError("speed must be >= 0")
        self.fabric_period = float(fabric_period)
        self.api_firewall = bool(api_firewall)
        self.seed = seed
        self.fabric = None
        self.fabric_off_reason = None if self.fabric_enabled else "disabled"
        self._realtime = None
        # (router, error text) of admission checks or clock steps that raised; kept, not fatal
        self.fabric_errors = []

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_topology(cls, topology, base_port=0, state_dir=None, **kwargs):
        data = load_topology(topology)
        return cls(specs_from_topology(data, base_port), links=data.get("links") or (),
                   state_dir=state_dir, topology=data, **kwargs)

    @classmethod
    def with_routers(cls, count, base_port=0, state_dir=None, version=DEFAULT_VERSION, **kwargs):
        topology = {"routers": {name: {"version": version} for name in router_names(count)}}
        return cls.from_topology(topology, base_port=base_port, state_dir=state_dir, **kwargs)

    # -- accessors -------------------------------------------------------------------------------

    def router(self, name):
        return self.services[name].router

    @property
    def routers(self):
        return {name: service.router for name, service in self.services.items()}

    @property
    def ports(self):
        return {name: {"api": s.api_port, "api_ssl": s.tls_port if self.api_ssl else None}
                for name, s in self.services.items()}

    @property
    def tls_dir(self):
        return os.path.join(self.state_dir, "tls")

    def client_ssl_context(self, verify=True, anonymous=False):
        """An SSL context for api-ssl clients that trusts this lab's certificate (``anonymous``: one
        offering anonymous DH, for a router whose api-ssl has ``certificate=none``)."""
        if anonymous:
            return tls.anonymous_client_context()
        return tls.client_context(self.tls_dir, verify=verify)

    def snapshot_path(self, name):
        return os.path.join(self.state_dir, "routers", name + ".json")

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, control=False, timeout=120):
        """Start the loop thread, every router and listener; return once every port listens."""
        if self.started:
            return self
        if self.state_dir is None:
            self.state_dir = tempfile.mkdtemp(prefix="roslab-")
        os.makedirs(os.path.join(self.state_dir, "routers"), exist_ok=True)
        self.stop_requested.clear()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="roslab-loop", daemon=True)
        self._thread.start()
        ready.wait(10)
        try:
            self._submit(self._astart(control), timeout)
        except BaseException:
            self._shutdown_loop()
            raise
        self.started = True
        return self

    def stop(self):
        if not self.started:
            return
        self.started = False
        try:
            self._submit(self._astop(), 60)
        finally:
            self._shutdown_loop()
            if self._own_state_dir and self.state_dir:
                shutil.rmtree(self.state_dir, ignore_errors=True)

    def wait(self, timeout=None):
        """Block until an RPC ``stop`` arrives (the daemon's main thread waits here)."""
        return self.stop_requested.wait(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _shutdown_loop(self):
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        self._loop = self._thread = None

    def _submit(self, coro, timeout=60):
        """Run a coroutine on the lab loop from any other thread and wait for its result."""
        if self._loop is None:
            raise RuntimeError("the lab is not running")
        if threading.current_thread() is self._thread:
            raise RuntimeError("blocking lab call from the lab loop itself")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _astart(self, control):
        factory = self.router_factory or _default_router_factory()
        contexts = tls.ServerContexts(self.tls_dir) if self.api_ssl else None
        for spec in self.specs.values():
            build = dict(spec.build)
            if build.pop("api_ssl_certificate", "lab") == "lab" and self.api_ssl:
                build["api_certificate"] = tls.lab_certificate(self.tls_dir)
            router = factory(name=spec.name, version=spec.version, **build)
            snapshot = self._load_snapshot(spec.name)
            if snapshot is not None:
                router.restore(snapshot)
            router.on_change(self._changed)
            service = protocol.RouterService(
                router, host=self.host, api_port=spec.api_port,
                tls_port=spec.api_ssl_port if self.api_ssl else None, tls_contexts=contexts)
            service.admit = self._admit
            self.services[spec.name] = service
        if self.fabric_enabled:
            self._start_fabric()
        try:
            for service in self.services.values():
                await service.start()
            if control:
                await self._start_control()
        except BaseException:
            for service in self.services.values():
                await service.stop()
            raise
        self._write_lab_files()

    async def _astop(self):
        if self._realtime is not None:
            self._realtime.stop()
            self._realtime = None
        if self._control_server is not None:
            self._control_server.close()
            self._control_server = None
        for service in self.services.values():
            await service.stop()
        self._flush()
        for path in (os.path.join(self.state_dir, LAB_FILE), self.control_socket):
            if path and os.path.exists(path):
                os.unlink(path)

    # -- fabric ----------------------------------------------------------------------------------

    def _start_fabric(self):
        """Build the fabric over the routers (on the loop) and let its clock follow real time."""
        routers = self.routers
        from roslab.fabric import Fabric  # late import: the fabric sits above menus
        links = (self.topology or {}).get("links") or self.links
        self.fabric = Fabric(routers, links, seed=self.seed)
        for spec in self.specs.values():
            if spec.behind_nat:
                self.fabric.set_nat(spec.name)
        self.fabric.tick(0)
        if self.speed > 0:
            self._realtime = _RealTimeClock(self, self._loop, self.speed, self.fabric_period)
            self._realtime.start()

    def _need_fabric(self):
        if self.fabric is None:
            raise LabError("this lab runs without a fabric (%s)" % (self.fabric_off_reason,))
        return self.fabric

    def _record_fabric_error(self, where, exc):
        entry = (where, "%s: %s" % (type(exc).__name__, exc))
        if entry not in self.fabric_errors:
            self.fabric_errors.append(entry)
            LOG.warning("fabric error (%s): %s", *entry)

    def advance(self, seconds):
        """Advance the lab clock ``seconds`` now (durations such as ``"90s"`` too), running every
        event due on the way, and settle; returns the lab time."""
        seconds = _seconds(seconds)
        fabric = self._need_fabric()
        return self._call(fabric.tick, seconds)

    def settle(self):
        """Let the fabric act on configuration changes without moving the clock."""
        return self.advance(0)

    def clock_info(self):
        return self._call(self._clock_info)

    def _clock_info(self):
        fabric = self._need_fabric()
        now = fabric.clock.now
        return {"seconds": now, "uptime": format_duration(now),
                "datetime": fabric.clock.datetime().strftime("%Y-%m-%d %H:%M:%S"),
                "speed": self.speed if self._realtime is not None else 0.0}

    def link_down(self, a_if, b_if=None):
        """The link (or every link of ``a_if``) between two router interfaces goes down."""
        self._call(self._need_fabric().link_down, a_if, b_if)

    def link_up(self, a_if, b_if=None):
        self._call(self._need_fabric().link_up, a_if, b_if)

    def set_nat(self, name, behind_nat=True):
        """Put router ``name`` behind a NAT device (or take it out): its next IKE negotiation sees
        a rewritten source port and moves to UDP 4500 (NAT-T)."""
        self._service(name)
        self._call(self._need_fabric().set_nat, name, behind_nat)

    def _fabric_down(self, name):
        if self.fabric is not None and name not in self.fabric.down_routers:
            self.fabric.router_down(name)

    def _fabric_up(self, name):
        if self.fabric is not None and name in self.fabric.down_routers:
            self.fabric.router_up(name)

    def established_peers(self, name):
        """Active peers in state ``established`` on a router (None without a fabric)."""
        if self.fabric is None:
            return None
        try:
            rows = self.services[name].router.items("/ip/ipsec/active-peers")
        except (KeyError, AttributeError):
            return None
        return sum(1 for row in rows if row.get("state") == "established")

    # -- API admission ---------------------------------------------------------------------------

    def _admit(self, service, transport):
        """``RouterService.admit``: may this new connection in? (runs on the loop)"""
        fabric = self.fabric
        if fabric is None or not self.api_firewall:
            return True
        name = service.router.name
        try:
            peer = transport.get_extra_info("peername")
            local = transport.get_extra_info("sockname")
            kind = "api-ssl" if local and local[1] == service.tls_port and service.tls_port else "api"
            spec = self.specs.get(name)
            source = (spec.management_address if spec else None) or (peer[0] if peer else self.host)
            return fabric.api_allowed(name, source, self._service_port(service.router, kind),
                                      self._destination(name, source))
        except Exception as exc:  # a lab fault must not lock clients out; it is recorded
            self._record_fabric_error("%s admission" % name, exc)
            return True

    @staticmethod
    def _service_port(router, kind):
        for row in router.items("/ip/service"):
            if row.get("name") == kind and str(row.get("port", "")).isdigit():
                return int(row["port"])
        return SERVICE_PORTS[kind]

    def _destination(self, name, source):
        """The router's address on the source's subnet (what a management client would dial)."""
        import ipaddress
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return None
        for row in self.services[name].router.items("/ip/address"):
            try:
                interface = ipaddress.ip_interface(row.get("address", ""))
            except ValueError:
                continue
            if row.get("disabled") != "true" and address in interface.network:
                return str(interface.ip)
        return None

    # -- persistence -----------------------------------------------------------------------------

    def _load_snapshot(self, name):
        path = self.snapshot_path(name)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    def _changed(self, router, menu_path=None):
        """``router.on_change`` callback: schedule a debounced save on the lab loop."""
        if self._loop is None:
            return
        if threading.current_thread() is self._thread:
            self._mark_dirty(router.name)
        else:
            self._loop.call_soon_threadsafe(self._mark_dirty, router.name)

    def _mark_dirty(self, name):
        self._dirty.add(name)
        if self._save_timer is None:
            self._save_timer = self._loop.call_later(self.save_delay, self._flush)

    def _flush(self):
        if self._save_timer is not None:
            self._save_timer.cancel()
            self._save_timer = None
        dirty, self._dirty = self._dirty, set()
        for name in sorted(dirty):
            if name in self.services:
                self._save(name)

    def _save(self, name):
        path = self.snapshot_path(name)
        tmp = path + ".tmp"
        # json.dumps uses the C encoder; json.dump to a file would not
        text = json.dumps(self.services[name].router.snapshot(), separators=(",", ":"))
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def save_now(self):
        """Write every pending snapshot now (tests that inspect the state dir)."""
        return self._call(self._flush)

    # -- lab files ---------------------------------------------------------------------------------

    def _write_lab_files(self):
        routers = self.status_rows()
        info = {"pid": os.getpid(), "socket": self.control_socket, "host": self.host,
                "state_dir": self.state_dir, "routers": routers,
                "fabric": {"running": self.fabric is not None, "speed": self.speed,
                           "off_reason": self.fabric_off_reason}}
        _write_atomic(os.path.join(self.state_dir, LAB_FILE), json.dumps(info, indent=1))
        _write_atomic(os.path.join(self.state_dir, INVENTORY_FILE), self.inventory_yaml())

    def inventory_yaml(self):
        """Ansible inventory: one host per router (group ``roslab``)."""
        import yaml
        hosts = {}
        for name, service in self.services.items():
            host = {"ansible_host": self.host, "routeros_api_port": service.api_port,
                    "routeros_version": service.router.version}
            if self.api_ssl:
                host["routeros_api_tls_port"] = service.tls_port
            hosts[name] = host
        return yaml.safe_dump({"all": {"children": {"roslab": {"hosts": hosts}}}},
                              sort_keys=False)

    # -- running-lab operations (thread-safe, from tests or the RPC) ------------------------------

    def _call(self, fn, *args):
        """Run a plain function on the lab loop (or directly when the lab is not running)."""
        if self._loop is None or threading.current_thread() is self._thread:
            return fn(*args)

        async def wrapper():
            return fn(*args)
        return self._submit(wrapper())

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the lab loop and return its result: the thread-safe way for tests
        and the fabric to read or change routers while clients are connected."""
        return self._call(fn, *args)

    @property
    def loop(self):
        return self._loop

    def _service(self, name):
        try:
            return self.services[name]
        except KeyError:
            raise KeyError("no router named %r in this lab" % name) from None

    def fault_drop_after(self, name, n, when="after"):
        """The n-th command sentence from now (``/login`` counts) is executed ("after") or not
        ("before"); then the connection closes without a reply. Fires once."""
        if when not in ("after", "before"):
            raise ValueError("when must be 'after' or 'before'")
        if int(n) < 1:
            raise ValueError("n must be >= 1")
        faults = self._service(name).faults

        def apply():
            faults.drop_at, faults.drop_when, faults.seen = int(n), when, 0
        self._call(apply)

    def fault_delay(self, name, seconds):
        """Every command to this router waits ``seconds`` before it runs (0 clears)."""
        faults = self._service(name).faults
        self._call(setattr, faults, "delay", max(0.0, float(seconds)))

    def fault_latency(self, name, seconds):
        """Every sentence to this router arrives ``seconds`` after it was sent (0 clears)."""
        faults = self._service(name).faults
        self._call(setattr, faults, "latency", max(0.0, float(seconds)))

    def clear_faults(self, name):
        self._call(self._service(name).faults.clear)

    async def _arouter_down(self, name):
        service = self._service(name)
        await service.stop()
        self._fabric_down(name)

    async def _arouter_up(self, name):
        service = self._service(name)
        self._fabric_up(name)
        await service.start()

    def router_down(self, name):
        """Listeners closed (connections refused), every connection dropped; the fabric loses the
        router's runtime state (its peers notice by DPD or timeouts)."""
        self._submit(self._arouter_down(name))

    def router_up(self, name):
        """Listening again; the fabric boots the router (empty runtime state, startup scripts)."""
        self._submit(self._arouter_up(name))

    async def _areboot(self, name, down_for=0.0):
        service = self._service(name)
        listening = service.listening
        if down_for > 0 and listening:
            await service.stop()
        service.drop_connections()
        if listening:
            self._fabric_down(name)
        # the saved configuration is the current one once pending writes are flushed
        self._dirty.discard(name)
        self._save(name)
        service.router.restore(self._load_snapshot(name))
        if down_for > 0 and listening:
            await asyncio.sleep(down_for)
        if listening:
            self._fabric_up(name)
        if down_for > 0 and listening:
            await service.start()

    def reboot(self, name, down_for=0.0):
        """Drop connections, restore the router from its saved snapshot (runtime state is lost);
        with ``down_for`` the ports refuse connections that long."""
        self._submit(self._areboot(name, float(down_for)), timeout=60 + float(down_for))

    def reset(self, name):
        """Factory defaults (``router.reset()``), saved; connections dropped."""
        service = self._service(name)

        def apply():
            service.drop_connections()
            # a reset reboots the router: runtime state goes with it
            was_up = self.fabric is not None and name not in self.fabric.down_routers
            self._fabric_down(name)
            service.router.reset()
            self._dirty.discard(name)
            self._save(name)
            if was_up:
                self._fabric_up(name)
        self._call(apply)

    def status_rows(self):
        rows = []
        for name, service in self.services.items():
            faults = service.faults
            rows.append({
                "router": name, "version": service.router.version,
                "api_port": service.api_port,
                "api_ssl_port": service.tls_port if self.api_ssl else None,
                "up": service.listening, "connections": len(service.sessions),
                "commands": service.commands, "refused": service.refused, "logins": service.logins,
                "peers": self.established_peers(name),
                "faults": {"drop_at": faults.drop_at, "drop_when": faults.drop_when,
                           "delay": faults.delay, "latency": faults.latency},
            })
        return rows

    def status(self):
        return self._call(self.status_rows)

    def api_usage(self):
        """{router: {"logins": n, "commands": {path: n}}} since the lab started or the last reset."""
        def read():
            return dict((name, {"logins": s.logins, "commands": dict(s.command_counts),
                                "most_in_transit": s.most_in_transit})
                        for name, s in self.services.items())
        return self._call(read)

    def reset_api_usage(self):
        def reset():
            for service in self.services.values():
                service.logins = 0
                service.command_counts.clear()
                service.most_in_transit = 0
        self._call(reset)

    # -- control RPC ------------------------------------------------------------------------------

    def _socket_path(self):
        path = os.path.join(self.state_dir, SOCKET_NAME)
        if len(path) > MAX_SOCKET_PATH:
            digest = hashlib.sha1(self.state_dir.encode()).hexdigest()[:12]
            path = os.path.join(tempfile.gettempdir(), "roslab-%s.sock" % digest)
        return path

    async def _start_control(self):
        path = self._socket_path()
        if os.path.exists(path):
            if _socket_alive(path):
                raise RuntimeError("another lab already serves %s" % path)
            os.unlink(path)
        self._control_server = await asyncio.start_unix_server(self._serve_client, path)
        os.chmod(path, 0o600)
        self.control_socket = path

    async def _serve_client(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    request = json.loads(line)
                    result = await self._dispatch(request.get("op"), request.get("args") or {})
                    reply = {"ok": True, "result": result}
                except Exception as exc:  # the client gets the reason; the lab keeps running
                    reply = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _dispatch(self, op, args):
        if op not in self.RPC_OPS:
            raise ValueError("unknown op %r" % (op,))
        if op == "ping":
            return "pong"
        if op == "status":
            return self.status_rows()
        if op == "stop":
            self.stop_requested.set()
            return "stopping"
        if op == "clock":
            return self._clock_info()
        if op == "advance":
            self._need_fabric().tick(_seconds(args["seconds"]))
            return self._clock_info()
        if op in ("link_down", "link_up"):
            fabric = self._need_fabric()
            getattr(fabric, op)(args["a"], args.get("b"))
            return {"down_links": sorted("%s:%s-%s:%s" % (a + b) for a, b in fabric.down_links)}
        if op == "nat":
            fabric = self._need_fabric()
            self._service(args["router"])
            fabric.set_nat(args["router"], bool(args.get("on", True)))
            return {"behind_nat": sorted(fabric.nat)}
        if op == "trace":
            return self._need_fabric().trace(args["router"], args["src"], args["dst"],
                                             args.get("protocol") or "tcp", args.get("port"),
                                             args.get("state") or "new")
        name = args.get("router")
        if op == "fault_drop":
            self.fault_drop_after(name, args["n"], "before" if args.get("before") else "after")
        elif op == "fault_delay":
            self.fault_delay(name, args["seconds"])
        elif op == "fault_latency":
            self.fault_latency(name, args["seconds"])
        elif op == "fault_clear":
            self.clear_faults(name)
        elif op == "router_down":
            await self._arouter_down(name)
        elif op == "router_up":
            await self._arouter_up(name)
        elif op == "reboot":
            await self._areboot(name, float(args.get("down_for", 0)))
        elif op == "reset":
            self.reset(name)
        return [row for row in self.status_rows() if row["router"] == name]


class ControlClient:
    """Talks to a running lab's control socket (``roslab`` CLI, tests)."""

    def __init__(self, state_dir=".lab", timeout=60):
        self.state_dir = os.path.abspath(str(state_dir))
        self.timeout = timeout

    def lab_info(self):
        path = os.path.join(self.state_dir, LAB_FILE)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    def socket_path(self):
        info = self.lab_info()
        if info and info.get("socket"):
            return info["socket"]
        return os.path.join(self.state_dir, SOCKET_NAME)

    def call(self, op, **args):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path())
            sock.sendall((json.dumps({"op": op, "args": args}) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("lab closed the control connection")
                data += chunk
        reply = json.loads(data)
        if not reply.get("ok"):
            raise LabError(reply.get("error", "unknown error"))
        return reply["result"]

    def alive(self):
        try:
            return self.call("ping") == "pong"
        except (OSError, ConnectionError, ValueError, LabError):
            return False


class LabError(Exception):
    """The lab refused a control request."""


class _RealTimeClock:
    """Moves a lab's fabric clock with real time on the lab loop: every ``period`` real seconds it
    advances by the real time elapsed since the last step times ``speed`` (a slow step or a busy
    loop is caught up, not lost). A step that raises is recorded and the clock keeps going."""

    def __init__(self, lab, loop, speed, period):
        self.lab, self.loop, self.speed, self.period = lab, loop, speed, period
        self._handle = None
        self._last = None

    def start(self):
        self._last = self.loop.time()
        self._handle = self.loop.call_later(self.period, self._step)

    def stop(self):
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _step(self):
        now = self.loop.time()
        elapsed, self._last = now - self._last, now
        try:
            self.lab.fabric.tick(elapsed * self.speed)
        except Exception as exc:
            self.lab._record_fabric_error("clock", exc)
        self._handle = self.loop.call_later(self.period, self._step)


def _seconds(value):
    """Seconds from a number or a RouterOS duration (``90s``, ``2m``, ``1h30m``, ``00:05:00``)."""
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError("the lab clock only moves forward")
    return seconds


def _socket_alive(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        try:
            sock.connect(path)
            return True
        except OSError:
            return False


def _write_atomic(path, text):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def wait_until(predicate, timeout=10.0, interval=0.02):
    """Poll ``predicate`` until true or timeout; returns its last value (test helper)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
