"""playbooks/rollout.yml on a lab of 21 routers (a hub and 20 spokes): a fleet-wide dry run writes
nothing and summarises every router; a real rollout whose third batch holds a router that is down
(lab fault) converges the first batches behind the health gate, stops after the third, names the
failed router and leaves every later router untouched."""
import os
import re
import subprocess
import sys

import pytest
import yaml
from roslab import control

from engine_lab_helpers import ROOT, lab_fleet_vars

SPOKES = ["spoke%02d" % i for i in range(1, 21)]
FAILING = "spoke08"
# rollout order: the hub (most tunnels), then the spokes by name; batches of 2, 4, 6, the rest
SERIAL = [2, 4, 6, "100%"]
BATCHES = [["hub", "spoke01"], SPOKES[1:5], SPOKES[5:11], SPOKES[11:]]


def topology(spokes=SPOKES, linked=True):
    routers = {"hub": {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                       "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                                     {"address": "10.10.0.1/24", "interface": "ether2"}]}}
    for i, name in enumerate(spokes, 1):
        routers[name] = {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                         "addresses": [{"address": "198.51.100.%d/24" % (10 + i), "interface": "ether1"},
                                       {"address": "10.%d.0.1/24" % (100 + i), "interface": "ether2"}]}
    return {"routers": routers, "links": [["hub:ether1", "%s:ether1" % name] for name in spokes] if linked else []}


def inventory(spokes=SPOKES):
    hosts = {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"]}}
    for i, name in enumerate(spokes, 1):
        hosts[name] = {"ipsec_wan_address": "198.51.100.%d" % (10 + i),
                       "ipsec_lan_prefixes": ["10.%d.0.0/24" % (100 + i)],
                       "ipsec_psk": "rollout-test-psk-%s-0123456789" % name}
    return {"all": {
        "vars": lab_fleet_vars(),
        "children": {"hubs": {"hosts": {"hub": hosts["hub"]}},
                     "spokes": {"hosts": dict((name, hosts[name]) for name in spokes)}}}}


@pytest.fixture(scope="module")
def fleet_lab(tmp_path_factory):
    lab = control.Lab.from_topology(topology(), base_port=0, state_dir=str(tmp_path_factory.mktemp("rollout-lab")),
                                    save_delay=0.2)
    lab.start()
    yield lab
    lab.stop()


def rollout(tmp_path, lab, *args, spokes=SPOKES, gate_timeout=60):
    (tmp_path / "fleet.yml").write_text(yaml.safe_dump(inventory(spokes)))
    (tmp_path / "ports.yml").write_text(lab.inventory_yaml())
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_FORKS="10")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
               "-i", str(tmp_path / "fleet.yml"), "-i", str(tmp_path / "ports.yml"),
               "-e", yaml.safe_dump({"ipsec_rollout_serial": SERIAL, "ipsec_rollout_gate_timeout": gate_timeout},
                                    default_flow_style=True).strip(),
               os.path.join(ROOT, "playbooks", "rollout.yml")] + list(args)
    done = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600,
                          check=False)
    return done.returncode, done.stdout + done.stderr


def report(output):
    """The rollout report's lines, as the debug task printed them (YAML result format)."""
    shown = [section for section in output.split("TASK [Rollout report]")[1:] if "=> \n" in section.split("\n\n")[0]]
    assert len(shown) == 1, output
    return yaml.safe_load(shown[0].split("=> \n", 1)[1].split("\n\n", 1)[0])["msg"]


def listed(lines, title):
    line = next(line for line in lines if line.startswith(title + " ("))
    names = line.split(": ", 1)[1]
    return [] if names == "-" else names.split(", ")


def owned(lab, name):
    return [row for menu in ("/ip/ipsec/peer", "/ip/ipsec/identity", "/ip/ipsec/policy")
            for row in lab.router(name).items(menu) if row.get("comment", "").startswith("ipsecfleet:")]


def test_dry_run_then_a_rollout_that_stops_after_the_failing_batch(fleet_lab, tmp_path):
    code, output = rollout(tmp_path, fleet_lab, "--check", "--diff")
    assert code == 0, output
    lines = report(output)
    assert lines[0].startswith("ROLLOUT DRY RUN"), lines
    assert sorted(listed(lines, "would change")) == sorted(["hub"] + SPOKES), lines
    assert listed(lines, "not reached") == [] and listed(lines, "failed") == [], lines
    for name in ["hub"] + SPOKES:
        line = next(line for line in lines if line.startswith("  %s: " % name))
        assert re.match(r"  %s: \d+ change\(s\): .*/ip ipsec peer add x%d(,|$)"
                        % (name, len(SPOKES) if name == "hub" else 1), line), line
        assert owned(fleet_lab, name) == [], name

    # narrowed to two tunnels, as a Controller survey does, and a dry run by variable
    code, output = rollout(tmp_path, fleet_lab, "-e", "ipsec_rollout_dry_run=yes",
                           "-e", "ipsec_rollout_tunnels=fleet-hub-spoke01,fleet-hub-spoke02")
    assert code == 0, output
    lines = report(output)
    assert lines[0].startswith("ROLLOUT DRY RUN"), lines
    assert listed(lines, "would change") == ["hub", "spoke01", "spoke02"], lines
    assert all(owned(fleet_lab, name) == [] for name in ["hub"] + SPOKES)

    fleet_lab.router_down(FAILING)
    code, output = rollout(tmp_path, fleet_lab)
    assert code != 0, output
    lines = report(output)
    assert lines[0].startswith("ROLLOUT STOPPED: batch %s: 1 of 6 router(s) failed" % ", ".join(BATCHES[2])), lines
    assert listed(lines, "failed") == [FAILING], lines
    assert any(line.startswith("why %s: " % FAILING) and "refused" in line for line in lines), lines
    converged = [name for batch in BATCHES[:3] for name in batch if name != FAILING]
    assert sorted(listed(lines, "changed")) == sorted(converged), lines
    assert sorted(listed(lines, "not reached")) == sorted(BATCHES[3]), lines
    # later batches untouched; every converged router's tunnel passed the gate at both ends
    for name in BATCHES[3]:
        assert owned(fleet_lab, name) == [], name
    for name in converged:
        assert owned(fleet_lab, name), name
    established = set(row["remote-address"] for row in fleet_lab.router("hub").items("/ip/ipsec/active-peers")
                      if row.get("state") == "established")
    assert established == set("198.51.100.%d" % (10 + SPOKES.index(name) + 1) for name in converged if name != "hub")
    assert "Converge IPsec and its firewall" not in output.rsplit("TASK [Stop the rollout after this batch]", 1)[1]


def test_a_tunnel_that_does_not_come_up_fails_the_gate_and_stops_the_rollout(tmp_path):
    """Both routers converge, but no link joins them: the canary's tunnel never establishes, so the
    gate fails both after its timeout, names the tunnel, and the next batch is not started."""
    spokes = ["spoke01", "spoke02"]
    lab = control.Lab.from_topology(topology(spokes, linked=False), base_port=0, state_dir=str(tmp_path / "lab"),
                                    save_delay=0.2)
    lab.start()
    try:
        code, output = rollout(tmp_path, lab, spokes=spokes, gate_timeout=4)
        assert code != 0, output
        lines = report(output)
        assert lines[0].startswith("ROLLOUT STOPPED: batch hub, spoke01: 2 of 2 router(s) failed"), lines
        assert listed(lines, "failed") == ["hub", "spoke01"] and listed(lines, "not reached") == ["spoke02"], lines
        why = [line for line in lines if line.startswith("why ")]
        assert all("tunnel fleet-hub-spoke01 at" in line and "IKE not established" in line for line in why), lines
        assert owned(lab, "hub") and owned(lab, "spoke01") and owned(lab, "spoke02") == []
    finally:
        lab.stop()


def snapshots(lab, names):
    """Every router's whole configuration (the lab's saved tables: every menu, foreign items included)."""
    return dict((name, lab.call(lambda n=name: lab.router(n).snapshot())) for name in names)


def test_a_dry_run_on_a_converged_fleet_names_the_hand_edited_router_and_writes_nothing(tmp_path):
    """--check --diff after a rollout and a hand edit on one spoke: the per-router summary says what
    a converge would change there (one set), no change everywhere else; the diff is shown, the secret
    is not, and not one item of any menu of any router changes."""
    spokes = ["spoke01", "spoke02", "spoke03"]
    lab = control.Lab.from_topology(topology(spokes), base_port=0, state_dir=str(tmp_path / "lab"), save_delay=0.2)
    lab.start()
    try:
        code, output = rollout(tmp_path, lab, spokes=spokes, gate_timeout=30)
        assert code == 0, output

        def edit():
            router = lab.router("spoke02")
            for row in router.items("/ip/ipsec/peer"):
                if row.get("comment", "").startswith("ipsecfleet:"):
                    router.execute("/ip/ipsec/peer/set", {".id": row[".id"], "send-initial-contact": "no"}, [])
        lab.call(edit)
        before = snapshots(lab, ["hub"] + spokes)
        code, output = rollout(tmp_path, lab, "--check", "--diff", spokes=spokes)
        assert code == 0, output
        lines = report(output)
        assert lines[0] == "ROLLOUT DRY RUN (check mode): nothing was written", lines
        assert listed(lines, "would change") == ["spoke02"], lines
        assert sorted(listed(lines, "unchanged")) == ["hub", "spoke01", "spoke03"], lines
        assert "  spoke02: 1 change(s): /ip ipsec peer set x1" in lines, lines
        for name in ("hub", "spoke01", "spoke03"):
            assert "  %s: no change" % name in lines, lines
        assert "send-initial-contact" in output or "send_initial_contact" in output, output
        assert "rollout-test-psk" not in output, output
        after = snapshots(lab, ["hub"] + spokes)
        changed = dict((name, dict((path, (rows, after[name]["tables"].get(path)))
                                   for path, rows in before[name]["tables"].items()
                                   if rows != after[name]["tables"].get(path)))
                       for name in before)
        assert all(not menus for menus in changed.values()), changed
    finally:
        lab.stop()
