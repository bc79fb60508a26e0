"""The ``roslab`` CLI end to end: a detached daemon, status, faults, router power, down.

The daemon runs ``MemoryRouter`` (the router TEST DOUBLE in test_control.py) through the hidden
``--router-factory`` option so this test covers only the CLI/daemon/RPC machinery.
"""

import os
import subprocess
import sys

import pytest
import yaml

from roslab.control import ControlClient
from roslab.protocol import ApiClient

HERE = os.path.dirname(os.path.abspath(__file__))


def roslab(*args, state):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "roslab.cli", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=120, env=env)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def daemon(tmp_path):
    state = tmp_path / "lab"
    topology = tmp_path / "topo.yml"
    topology.write_text("routers:\n  hub: {}\n  spoke1: {version: '7.12.2'}\n")
    code, out, err = roslab("up", "--topology", str(topology), "--base-port", "0",
                            "--router-factory", "test_control:MemoryRouter", "--no-fabric", state=state)
    assert code == 0, err
    yield state, out
    roslab("down", state=state)


def test_up_prints_table_and_writes_inventory(daemon):
    state, out = daemon
    lines = out.splitlines()
    assert lines[0].split() == ["router", "version", "api", "api-ssl", "state", "faults"]
    assert lines[1].split()[:2] == ["hub", "7.22.2"] and lines[2].split()[:2] == ["spoke1", "7.12.2"]
    hosts = yaml.safe_load((state / "inventory.yml").read_text())["all"]["children"]["roslab"]["hosts"]
    assert set(hosts) == {"hub", "spoke1"}
    assert str(hosts["hub"]["routeros_api_port"]) == lines[1].split()[2]
    with ApiClient("127.0.0.1", hosts["hub"]["routeros_api_port"]) as c:
        assert c.login()


def test_second_up_is_refused(daemon):
    state, _ = daemon
    code, _, err = roslab("up", "--routers", "1", "--base-port", "0", state=state)
    assert code == 1 and "already running" in err


def test_faults_and_router_commands(daemon):
    state, _ = daemon
    code, out, _ = roslab("fault", "drop", "hub", "--after", "3", "--before", state=state)
    assert code == 0 and "drop before #3" in out
    code, out, _ = roslab("fault", "delay", "hub", "1.5", state=state)
    assert "delay 1.5s" in out
    code, out, _ = roslab("fault", "clear", "hub", state=state)
    assert code == 0 and "drop" not in out and "delay" not in out
    code, out, _ = roslab("router", "down", "spoke1", state=state)
    assert code == 0 and out.splitlines()[1].split()[4] == "down"
    code, out, _ = roslab("status", state=state)
    assert [line.split()[4] for line in out.splitlines()[1:]] == ["up", "down"]
    assert roslab("router", "up", "spoke1", state=state)[0] == 0
    assert roslab("router", "reboot", "hub", state=state)[0] == 0
    assert roslab("router", "reset", "hub", state=state)[0] == 0
    code, _, err = roslab("router", "reboot", "nope", state=state)
    assert code == 2 and "nope" in err


def test_down_stops_the_daemon(daemon):
    state, _ = daemon
    pid = ControlClient(state).lab_info()["pid"]
    code, out, _ = roslab("down", state=state)
    assert code == 0 and "stopped" in out
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    code, out, _ = roslab("status", state=state)
    assert code == 3 and "no lab running" in out
