"""Lab control tests: many routers, ports, persistence, reboot/reset, faults, the control RPC.

``MemoryRouter`` is a TEST DOUBLE of the ``Router`` contract (tests/roslab/README.md) used so that
lab mechanics are tested apart from menu behaviour: ``/set`` writes configuration (and reports a
change), ``/get`` reads it, ``/runtime`` writes state that a reboot must forget.
Labs with real routers are exercised in test_conformance_librouteros.py.
"""

import json
import os
import socket
import time

import pytest

from roslab.control import ControlClient, Lab, LabError, load_topology, specs_from_topology
from roslab.errors import RosTrap
from roslab.protocol import ApiClient


class MemResult:
    def __init__(self, rows=(), done=None, empty=False):
        self.rows, self.done, self.empty = list(rows), dict(done or {}), empty


class MemoryRouter:
    """Router-contract test double: configuration in a dict, runtime state apart."""

    def __init__(self, name, version="7.22.2", **build):
        self.name, self.version, self.build = name, version, build
        self.config, self.runtime, self._callbacks = {}, {}, []

    def login(self, user, password):
        return user == "admin" and password == self.config.get("admin-password", "")

    def check_permission(self, user, command):
        """The double's only user may do everything."""

    def visible(self, user, command, rows):
        return rows

    def max_sessions(self, service):
        return None

    def api_ssl(self):
        """The certificate the lab hands every router (``api_certificate``), as the real Router does."""
        return {"certificate": self.build.get("api_certificate"), "tls_version": "any"}

    def execute(self, command, attributes, queries):
        if command == "/set":
            self.config.update(attributes)
            for callback in self._callbacks:
                callback(self, "/set")
            return MemResult()
        if command == "/get":
            return MemResult(rows=[dict(self.config)] if self.config else [],
                             empty=not self.config)
        if command == "/runtime":
            self.runtime.update(attributes)
            return MemResult()
        if command == "/runtime/print":
            return MemResult(rows=[dict(self.runtime)] if self.runtime else [])
        raise RosTrap("no such command prefix", 0)

    def snapshot(self):
        return {"config": dict(self.config)}

    def restore(self, snapshot):
        self.config = dict(snapshot["config"])
        self.runtime = {}

    def reset(self):
        self.config, self.runtime = {}, {}

    def on_change(self, callback):
        self._callbacks.append(callback)


TOPOLOGY = """
routers:
  hub:
    version: "7.22.2"
    interfaces: [{name: ether1}]
  spoke1:
    version: "7.12.2"
links:
  - [hub:ether1, spoke1:ether1]
"""


@pytest.fixture
def lab(tmp_path):
    with Lab.from_topology(TOPOLOGY, base_port=0, state_dir=tmp_path / "state",
                           router_factory=MemoryRouter, fabric=False, save_delay=0.05) as running:
        yield running


def connect(lab, name="hub"):
    c = ApiClient("127.0.0.1", lab.ports[name]["api"])
    assert c.login()
    return c


def closed_by_router(c):
    c.sock.settimeout(3)
    try:
        return c.sock.recv(1) == b""
    except ConnectionResetError:
        return True


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


# ---------------------------------------------------------------------------------- topology


def test_topology_ports_from_base_and_explicit():
    topo = load_topology({"routers": {"a": {}, "b": {"api_port": 30000}, "c": {"version": "7.24"}}})
    specs = specs_from_topology(topo, base_port=20000)
    assert [(s.name, s.api_port, s.api_ssl_port, s.version) for s in specs] == [
        ("a", 20000, 21000, "7.22.2"), ("b", 30000, 31000, "7.22.2"), ("c", 20002, 21002, "7.24")]


def test_topology_port_collision_is_refused():
    with pytest.raises(ValueError):
        specs_from_topology({"routers": {"a": {"api_port": 20000}, "b": {"api_port": 20000}}})


@pytest.mark.parametrize("topology, named", [
    ({"routers": {"a": {}}, "link": [["a:ether1", "b:ether1"]]}, "topology: unknown key link"),
    ({"routers": {"hub": {"adresses": []}}}, "router hub: unknown key adresses"),
    ({"routers": {"hub": {"defconfig": True, "verison": "7.24"}}},
     "router hub: unknown keys defconfig, verison"),
    ({"routers": {"hub": {"interfaces": [{"name": "ether1", "speed": "1G"}]}}},
     "router hub interface ether1: unknown key speed"),
])
def test_topology_refuses_unknown_keys_by_name(tmp_path, topology, named):
    # a misspelt key used to be dropped silently (the router came up without it)
    with pytest.raises(ValueError) as info:
        Lab.from_topology(topology, state_dir=tmp_path)
    assert str(info.value).startswith(named)
    path = tmp_path / "topology.yml"
    path.write_text(__import__("yaml").safe_dump(topology))
    with pytest.raises(ValueError, match=named):
        load_topology(str(path))


def test_topology_file_passes_build_args_and_links(lab):
    build = dict(lab.router("hub").build)
    # the lab's api-ssl certificate comes with every router unless the topology says none
    assert build.pop("api_certificate")[0].startswith("-----BEGIN CERTIFICATE-----")
    assert build == {"interfaces": [{"name": "ether1"}]}
    assert lab.router("spoke1").version == "7.12.2"
    assert lab.links == [["hub:ether1", "spoke1:ether1"]]


# ---------------------------------------------------------------------------------- routers


def test_every_router_listens_on_its_own_ports(lab):
    ports = lab.ports
    assert len({p for r in ports.values() for p in r.values()}) == 4
    for name in ("hub", "spoke1"):
        with connect(lab, name) as c:
            c.talk("/set", "=identity=" + name)
            assert c.talk("/get") == [["!re", "=identity=" + name], ["!done"]]


def test_api_ssl_port_serves_the_same_router(lab):
    with ApiClient("127.0.0.1", lab.ports["hub"]["api_ssl"],
                   ssl_context=lab.client_ssl_context()) as c:
        assert c.login()
        c.talk("/set", "=via=tls")
    assert lab.router("hub").config == {"via": "tls"}
    assert os.path.exists(os.path.join(lab.state_dir, "tls", "cert.pem"))


def test_many_routers_in_one_process(tmp_path):
    with Lab.with_routers(60, base_port=0, state_dir=tmp_path, router_factory=MemoryRouter, fabric=False,
                          api_ssl=False) as lab:
        assert len(lab.ports) == 60
        for name in ("r1", "r30", "r60"):
            with connect(lab, name) as c:
                assert c.talk("/get") == [["!empty"], ["!done"]]


def test_inventory_and_lab_file(lab):
    import yaml
    inventory = yaml.safe_load(open(os.path.join(lab.state_dir, "inventory.yml")))
    hosts = inventory["all"]["children"]["roslab"]["hosts"]
    assert hosts["hub"] == {"ansible_host": "127.0.0.1",
                            "routeros_api_port": lab.ports["hub"]["api"],
                            "routeros_version": "7.22.2",
                            "routeros_api_tls_port": lab.ports["hub"]["api_ssl"]}
    info = json.load(open(os.path.join(lab.state_dir, "lab.json")))
    assert info["pid"] == os.getpid()
    assert [r["router"] for r in info["routers"]] == ["hub", "spoke1"]


# ---------------------------------------------------------------------------------- persistence


def test_configuration_saved_debounced_and_survives_reboot(lab):
    with connect(lab) as c:
        c.talk("/set", "=name=one")
        c.talk("/runtime", "=ph2-state=established")
        path = lab.snapshot_path("hub")
        assert _wait(lambda: os.path.exists(path) and json.load(open(path)) ==
                     {"config": {"name": "one"}})
        c.talk("/set", "=name=two")
        lab.reboot("hub")  # flushes the pending write, then restores
        assert closed_by_router(c)
    with connect(lab) as c:
        assert c.talk("/get") == [["!re", "=name=two"], ["!done"]]
        assert c.talk("/runtime/print") == [["!done"]]


def test_reboot_with_down_time_refuses_connections(lab):
    import threading
    port = lab.ports["hub"]["api"]
    worker = threading.Thread(target=lab.reboot, args=("hub",), kwargs={"down_for": 0.5})
    worker.start()
    assert _wait(lambda: refused(port), timeout=1)
    worker.join()
    with connect(lab) as c:
        assert c.talk("/get")[-1] == ["!done"]


def test_configuration_survives_lab_restart(tmp_path):
    state = tmp_path / "state"
    with Lab.from_topology(TOPOLOGY, state_dir=state, router_factory=MemoryRouter, fabric=False) as lab:
        with connect(lab) as c:
            c.talk("/set", "=kept=yes")
    assert json.load(open(state / "routers" / "hub.json")) == {"config": {"kept": "yes"}}
    with Lab.from_topology(TOPOLOGY, state_dir=state, router_factory=MemoryRouter, fabric=False) as lab:
        assert lab.router("hub").config == {"kept": "yes"}
        assert lab.router("spoke1").config == {}


def test_reset_goes_to_factory_defaults_and_is_saved(lab):
    with connect(lab) as c:
        c.talk("/set", "=admin-password=secret")
    lab.reset("hub")
    assert json.load(open(lab.snapshot_path("hub"))) == {"config": {}}
    with connect(lab) as c:  # admin/"" works again
        assert c.talk("/get") == [["!empty"], ["!done"]]


# ---------------------------------------------------------------------------------- faults


def test_fault_drop_after_executes_then_closes_once(lab):
    with connect(lab) as c:
        lab.fault_drop_after("hub", 2)
        assert c.talk("/set", "=a=1") == [["!done"]]
        c.send("/set", "=b=2")
        assert closed_by_router(c)
    assert lab.router("hub").config == {"a": "1", "b": "2"}
    with connect(lab) as c:  # one-shot: the next connection works
        assert c.talk("/get")[-1] == ["!done"]


def test_fault_drop_before_does_not_execute(lab):
    with connect(lab) as c:
        lab.fault_drop_after("hub", 1, when="before")
        c.send("/set", "=lost=1")
        assert closed_by_router(c)
    assert lab.router("hub").config == {}


def test_fault_drop_counts_login(lab):
    lab.fault_drop_after("spoke1", 1, when="before")
    with ApiClient("127.0.0.1", lab.ports["spoke1"]["api"]) as c:
        c.send("/login", "=name=admin", "=password=")
        assert closed_by_router(c)


def test_fault_delay_and_clear(lab):
    with connect(lab) as c:
        lab.fault_delay("hub", 0.8)
        start = time.monotonic()
        c.talk("/get")
        assert time.monotonic() - start >= 0.75
        lab.clear_faults("hub")
        start = time.monotonic()
        c.talk("/get")
        assert time.monotonic() - start < 0.5


def done_tags(client, count):
    """Read replies until ``count`` commands are done; their tags in the order they finished."""
    tags = []
    while len(tags) < count:
        sentence = client.read_sentence()
        if sentence[0] == "!done":
            tags.append(sentence[-1])
    return tags


def test_fault_latency_lets_pipelined_commands_share_one_round_trip(lab):
    """delay: each command waits in turn; latency: sentences sent together arrive together, so three
    tagged commands cost one round trip, and replies keep their tags and order."""
    with connect(lab) as c:
        lab.fault_latency("hub", 0.6)
        start = time.monotonic()
        for tag in ("1", "2", "3"):
            c.send("/get", ".tag=" + tag)
        tags = done_tags(c, 3)
        elapsed = time.monotonic() - start
        assert tags == [".tag=1", ".tag=2", ".tag=3"]
        assert lab.api_usage()["hub"]["most_in_transit"] == 3
        assert 0.55 <= elapsed < 1.5, elapsed   # one trip, not three (1.8 s)
        lab.clear_faults("hub")
        lab.fault_delay("hub", 0.4)
        start = time.monotonic()
        for tag in ("1", "2", "3"):
            c.send("/get", ".tag=" + tag)
        done_tags(c, 3)
        assert time.monotonic() - start >= 1.15   # the busy router: one after another
        lab.clear_faults("hub")


def test_router_down_and_up(lab):
    port = lab.ports["hub"]["api"]
    c = connect(lab)
    lab.router_down("hub")
    assert closed_by_router(c)
    c.close()
    assert refused(port) and refused(lab.ports["hub"]["api_ssl"])
    with connect(lab, "spoke1") as other:  # the other router is unaffected
        assert other.talk("/get")[-1] == ["!done"]
    lab.router_up("hub")
    assert lab.ports["hub"]["api"] == port
    with connect(lab) as c:
        assert c.talk("/get")[-1] == ["!done"]


def test_unknown_router_is_an_error(lab):
    with pytest.raises(KeyError):
        lab.fault_delay("nope", 1)


# ---------------------------------------------------------------------------------- control RPC


def test_control_rpc(tmp_path):
    state = tmp_path / "s"
    lab = Lab.from_topology(TOPOLOGY, state_dir=state, router_factory=MemoryRouter, fabric=False)
    lab.start(control=True)
    try:
        client = ControlClient(state)
        assert client.call("ping") == "pong"
        rows = client.call("status")
        assert [r["router"] for r in rows] == ["hub", "spoke1"]
        assert rows[0]["api_port"] == lab.ports["hub"]["api"]
        client.call("fault_drop", router="hub", n=1, before=True)
        assert lab.services["hub"].faults.drop_at == 1
        assert lab.services["hub"].faults.drop_when == "before"
        client.call("fault_delay", router="hub", seconds=2)
        assert lab.services["hub"].faults.delay == 2
        client.call("fault_clear", router="hub")
        assert lab.services["hub"].faults.drop_at is None
        client.call("router_down", router="spoke1")
        assert refused(lab.ports["spoke1"]["api"])
        assert client.call("router_up", router="spoke1")[0]["up"] is True
        with pytest.raises(LabError):
            client.call("reboot", router="missing")
        with pytest.raises(LabError):
            client.call("format-disk")
        assert client.call("stop") == "stopping"
        assert lab.wait(5)
    finally:
        lab.stop()
    assert not os.path.exists(state / "lab.json")
    assert not ControlClient(state).alive()


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_call_runs_on_the_lab_loop(lab):
    import threading
    assert lab.call(threading.current_thread).name == "roslab-loop"
    assert lab.call(lambda: lab.router("hub").config) == {}


def test_defconf_router_starts_in_routeros_default_configuration(tmp_path):
    topology = {"routers": {"home": {"defconf": True, "interfaces": [{"name": "ether1"}, {"name": "ether2"},
                                                                     {"name": "ether3"}]},
                            "bare": {"interfaces": [{"name": "ether1"}]}}}
    lab = Lab.from_topology(topology, state_dir=tmp_path, fabric=False, api_ssl=False)
    lab.start()
    try:
        home = lab.router("home")
        filter_rows = home.items("/ip/firewall/filter")
        assert filter_rows[0]["dynamic"] == "true"  # the counter rule stays on top
        comments = [r["comment"] for r in filter_rows[1:]]
        assert comments[:5] == ["defconf: accept established,related,untracked", "defconf: drop invalid",
                                "defconf: accept ICMP", "defconf: accept to local loopback (for CAPsMAN)",
                                "defconf: drop all not coming from LAN"]
        assert comments[5:] == ["defconf: accept in ipsec policy", "defconf: accept out ipsec policy",
                                "defconf: fasttrack", "defconf: accept established,related, untracked",
                                "defconf: drop invalid", "defconf: drop all from WAN not DSTNATed"]
        # routeros7-behaviour.md section 3, the v7 default config lines
        assert {"chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec"}.items() <= filter_rows[6].items()
        assert filter_rows[8]["action"] == "fasttrack-connection"
        nat = home.items("/ip/firewall/nat")
        assert [(r["action"], r["ipsec-policy"], r["out-interface-list"]) for r in nat] == [
            ("masquerade", "out,none", "WAN")]
        members = sorted((r["list"], r["interface"]) for r in home.items("/interface/list/member"))
        assert members == [("LAN", "ether2"), ("LAN", "ether3"), ("WAN", "ether1")]
        # a reset re-applies the default configuration, as RouterOS's reset-configuration does
        lab.reset("home")
        assert len(lab.router("home").items("/ip/firewall/filter")) == 12
        # without defconf: factory state (the counter rule only)
        assert len(lab.router("bare").items("/ip/firewall/filter")) == 1
        assert lab.router("bare").items("/ip/firewall/nat") == []
    finally:
        lab.stop()
