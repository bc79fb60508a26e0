"""``roslab`` CLI against a daemon of real routers with its fabric: clock show/advance, links,
router power, status with established peers, and the API refused by a router's own firewall until
a scheduler (the commit-confirm revert) removes the rule."""

import datetime
import os
import subprocess
import sys
import time

import pytest
import yaml
from librouteros.exceptions import ConnectionClosed

from roslab import control

from labfixtures import TWO_ROUTERS, lab_api
from test_lab_fabric import configure_tunnel

REFUSED = (OSError, ConnectionClosed)


def roslab(*args, state):
    proc = subprocess.run([sys.executable, "-m", "roslab.cli", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


class DaemonLab:
    """What the tests need of a daemon: its ports, read from the inventory it writes."""

    def __init__(self, state):
        self.state = state
        hosts = yaml.safe_load((state / "inventory.yml").read_text())["all"]["children"]["roslab"]["hosts"]
        self.ports = {name: {"api": host["routeros_api_port"]} for name, host in hosts.items()}


def start(tmp_path_factory, *options):
    base = tmp_path_factory.mktemp("fabric-daemon")
    state = base / "lab"
    topology = base / "topology.yml"
    topology.write_text(yaml.safe_dump(TWO_ROUTERS))
    code, out, err = roslab("up", "--topology", str(topology), "--base-port", "0", "--no-api-ssl",
                            *options, state=state)
    assert code == 0, err
    return state, out


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    state, out = start(tmp_path_factory, "--speed", "0")
    yield state, out
    roslab("down", state=state)


def peers_column(out):
    """router -> established peers from a status table."""
    lines = out.splitlines()
    column = lines[0].split().index("peers")
    return {line.split()[0]: line.split()[column] for line in lines[1:] if not line.startswith("lab clock")}


def lab_datetime(clock_line):
    """The lab date in 'lab clock: 5s (2026-01-01 00:00:05), ...'."""
    return datetime.datetime.strptime(clock_line.split("(")[1].split(")")[0], "%Y-%m-%d %H:%M:%S")


def api(lab, name="hub"):
    import librouteros
    return librouteros.connect(host="127.0.0.1", port=lab.ports[name]["api"], username="admin",
                               password="", timeout=10)


def test_cli_drives_the_fabric(daemon):
    state, up_out = daemon
    assert up_out.splitlines()[0].split() == ["router", "version", "api", "api-ssl", "state", "peers", "faults"]
    lab = DaemonLab(state)
    code, out, _ = roslab("clock", "show", state=state)
    assert code == 0 and out.strip() == "lab clock: 0s (2026-01-01 00:00:00), moves only with 'roslab clock advance'"

    configure_tunnel(lab)
    assert peers_column(roslab("status", state=state)[1]) == {"hub": "0", "spoke1": "0"}
    code, out, _ = roslab("clock", "advance", "5s", state=state)
    assert code == 0 and out.startswith("lab clock: 5s (2026-01-01 00:00:05)")
    code, out, _ = roslab("status", state=state)
    assert peers_column(out) == {"hub": "1", "spoke1": "1"} and "lab clock: 5s" in out

    # the link goes down: dead peer detection ends the tunnel on both sides
    code, out, _ = roslab("link", "down", "hub:ether1", "spoke1:ether1", state=state)
    assert code == 0 and out.strip() == "links down: hub:ether1-spoke1:ether1"
    roslab("clock", "advance", "2m", state=state)
    assert peers_column(roslab("status", state=state)[1]) == {"hub": "0", "spoke1": "0"}
    code, out, _ = roslab("link", "up", "hub:ether1", state=state)
    assert code == 0 and out.strip() == "links down: none"
    roslab("clock", "advance", "1m", state=state)
    assert peers_column(roslab("status", state=state)[1]) == {"hub": "1", "spoke1": "1"}

    # router power: a router that is down has no runtime state; its peer notices by DPD
    code, out, _ = roslab("router", "down", "hub", state=state)
    assert code == 0 and peers_column(out) == {"hub": "0"}
    roslab("clock", "advance", "2m", state=state)
    assert peers_column(roslab("status", state=state)[1]) == {"hub": "0", "spoke1": "0"}
    assert roslab("router", "up", "hub", state=state)[0] == 0
    roslab("clock", "advance", "1m", state=state)
    assert peers_column(roslab("status", state=state)[1]) == {"hub": "1", "spoke1": "1"}

    code, _, err = roslab("link", "down", "hub:ether7", state=state)
    assert code == 2 and "no link hub:ether7" in err
    code, _, err = roslab("clock", "advance", "soon", state=state)
    assert code == 2 and "invalid time value" in err


def set_dpd(lab, interval):
    """Both ends' IKE profile get ``dpd-interval`` (the collection's default is 2m)."""
    for name in ("hub", "spoke1"):
        connection = lab_api(lab, name)
        try:
            profiles = connection.path("ip", "ipsec", "profile")
            for row in profiles:
                if row["name"] == "ike":
                    profiles.update(**{".id": row[".id"], "dpd-interval": interval})
        finally:
            connection.close()


def test_link_cut_through_the_cli_as_in_process(tmp_path_factory, tmp_path):
    """A cut link ends an IKEv2 tunnel when DPD gives up, dpd-interval x 5 retransmits after the cut
    (IKEv2 ignores dpd-maximum-failures), the same through the CLI daemon as in-process: with 2m the
    tunnel is still established 200 s after the cut and gone after 10 minutes."""
    state, _ = start(tmp_path_factory, "--speed", "0")
    try:
        daemon = DaemonLab(state)
        configure_tunnel(daemon)
        set_dpd(daemon, "2m")
        seen = []
        for step in (("clock", "advance", "5s"), ("link", "down", "hub:ether1", "spoke1:ether1"),
                     ("clock", "advance", "200s"), ("clock", "advance", "410s")):
            assert roslab(*step, state=state)[0] == 0
            seen.append(peers_column(roslab("status", state=state)[1])["spoke1"])
    finally:
        roslab("down", state=state)
    lab = control.Lab.from_topology(TWO_ROUTERS, base_port=0, state_dir=str(tmp_path / "lab"), speed=0.0)
    lab.start()
    try:
        configure_tunnel(lab)
        set_dpd(lab, "2m")
        in_process = []
        for step in (lambda: lab.advance(5), lambda: lab.link_down("hub:ether1", "spoke1:ether1"),
                     lambda: lab.advance(200), lambda: lab.advance(410)):
            step()
            in_process.append(str(lab.established_peers("spoke1")))
    finally:
        lab.stop()
    assert seen == in_process == ["1", "1", "1", "0"]


def test_firewall_lockout_and_scheduler_revert_through_the_cli(daemon):
    state, _ = daemon
    lab = DaemonLab(state)
    existing = api(lab)
    try:
        revert = lab_datetime(roslab("clock", "show", state=state)[1]) + datetime.timedelta(minutes=2)
        date, revert_at = revert.strftime("%Y-%m-%d %H:%M:%S").split(" ")
        existing.path("ip", "firewall", "filter").add(
            chain="input", action="drop", protocol="tcp", comment="lockout", **{"dst-port": "8728"})
        existing.path("system", "scheduler").add(
            name="revert", **{"start-date": date, "start-time": revert_at,
                              "on-event": '/ip firewall filter\nremove [find where comment="lockout"]'})
        with pytest.raises(REFUSED):
            api(lab).close()
        # the connection that locked itself out still works
        assert list(existing.path("system", "identity")) == [{"name": "hub"}]
        code, out, _ = roslab("clock", "advance", "1m", state=state)
        assert code == 0
        with pytest.raises(REFUSED):
            api(lab).close()
        code, out, _ = roslab("clock", "advance", "2m", state=state)
        assert code == 0
        api(lab).close()
        assert [r for r in existing.path("system", "scheduler") if r["name"] == "revert"][0]["run-count"] == 1
    finally:
        existing.close()


def test_realtime_daemon_clock_runs_by_itself(tmp_path_factory):
    state, _ = start(tmp_path_factory, "--speed", "100")
    try:
        def lab_now():
            out = roslab("clock", "show", state=state)[1]
            assert out.endswith("x100 real time\n"), out
            return lab_datetime(out), time.monotonic()
        first, real_first = lab_now()
        time.sleep(1.2)
        second, real_second = lab_now()
        # 100 lab seconds per real second, less one clock step (0.5 s) of lag
        assert (second - first).total_seconds() >= 100 * (real_second - real_first - 0.6)
        info = yaml.safe_load((state / "lab.json").read_text())
        assert info["fabric"] == {"running": True, "speed": 100.0, "off_reason": None}
    finally:
        roslab("down", state=state)
    assert not os.path.exists(state / "lab.json")


def active_peer(lab, name="hub"):
    connection = lab_api(lab, name)
    try:
        return list(connection.path("ip", "ipsec", "active-peers"))
    finally:
        connection.close()


def test_nat_through_the_cli_and_the_topology(tmp_path_factory):
    """`roslab nat on ROUTER` puts a router behind a NAT device: its next negotiation moves to UDP
    4500 (natt-peer on the hub), and a hub dropping UDP 4500 leaves it timing out there; a topology's
    `behind_nat: true` does the same from the start."""
    state, _ = start(tmp_path_factory, "--speed", "0")
    try:
        lab = DaemonLab(state)
        code, out, _ = roslab("nat", "on", "spoke1", state=state)
        assert code == 0 and out.strip() == "behind NAT: spoke1"
        hub = lab_api(lab, "hub")
        try:
            hub.path("ip", "firewall", "filter").add(chain="input", action="drop", protocol="udp", **{"dst-port": "4500"})
        finally:
            hub.close()
        configure_tunnel(lab)
        roslab("clock", "advance", "60s", state=state)
        assert active_peer(lab) == []
        spoke = lab_api(lab, "spoke1")
        try:
            messages = [row["message"] for row in spoke.path("log")]
        finally:
            spoke.close()
        assert any("phase1 negotiation failed due to time up" in m and "[4500]" in m for m in messages), messages
        hub = lab_api(lab, "hub")
        try:
            rules = hub.path("ip", "firewall", "filter")
            for row in list(rules):
                if row.get("action") == "drop":
                    rules.remove(row[".id"])
        finally:
            hub.close()
        roslab("clock", "advance", "40s", state=state)
        (peer,) = active_peer(lab)
        assert peer["state"] == "established" and peer["natt-peer"] is True
        code, out, _ = roslab("nat", "off", "spoke1", state=state)
        assert code == 0 and out.strip() == "behind NAT: none"
        code, _, err = roslab("nat", "on", "nowhere", state=state)
        assert code != 0 and "nowhere" in err
    finally:
        roslab("down", state=state)

    topology = {"routers": dict(TWO_ROUTERS["routers"], spoke1=dict(TWO_ROUTERS["routers"]["spoke1"], behind_nat=True)),
                "links": TWO_ROUTERS["links"]}
    lab = control.Lab.from_topology(topology, base_port=0, state_dir=str(tmp_path_factory.mktemp("nat") / "lab"), speed=0.0)
    lab.start()
    try:
        configure_tunnel(lab)
        lab.advance(5)
        (peer,) = active_peer(lab)
        assert peer["natt-peer"] is True
    finally:
        lab.stop()
    with pytest.raises(ValueError, match="router spoke1: behind_nat must be true or false"):
        control.Lab.from_topology({"routers": {"spoke1": {"behind_nat": "yes"}}}, base_port=0)
