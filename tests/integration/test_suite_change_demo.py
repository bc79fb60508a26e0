"""The demo's playbooks (playbooks/site.yml, playbooks/status.yml with inventories/lab) against a lab
of inventories/lab/topology.yml whose fabric negotiates in real time: every tunnel comes up and
status.yml shows it; changing spoke2's suite changes only the hub and spoke2 and the tunnel comes
back with the new algorithms; a cut link makes status.yml fail, naming the tunnel."""
import os
import re

import pytest
import yaml
from roslab import control

from engine_lab_helpers import ROOT, ansible_playbook, recap

LAB_INVENTORY = os.path.join(ROOT, "inventories", "lab")
NEW_SUITE = "ikev2-aes256cbc-sha256-modp2048"


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory):
    lab = control.Lab.from_topology(os.path.join(LAB_INVENTORY, "topology.yml"), base_port=0,
                                    state_dir=str(tmp_path_factory.mktemp("demo-lab")), save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()


def playbook(tmp_path, lab, name, *args):
    (tmp_path / "ports.yml").write_text(lab.inventory_yaml())
    return ansible_playbook(tmp_path, [os.path.join(LAB_INVENTORY, "hosts.yml"), tmp_path / "ports.yml"],
                            os.path.join(ROOT, "playbooks", name), *args,
                            env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})  # status.yml's table lines unwrapped


def table(output):
    """{(router, remote address): {state, sas, algorithms, diagnosis}} from status.yml's table (debug lines)."""
    rows = {}
    remotes = {"hub": "198.51.100.1", "spoke1": "198.51.100.11", "spoke2": "198.51.100.12"}
    for line in output.splitlines():
        text = line.strip().rstrip(",").strip('"')
        cells = re.split(r"\s{2,}", text)
        if len(cells) == 10 and cells[0] in remotes and cells[2] in remotes:
            router, _tunnel, remote, state, _uptime, sas, _bytes, algorithms, _error, diagnosis = cells
            rows[(router, remotes[remote])] = {"state": state, "sas": sas, "algorithms": algorithms,
                                               "diagnosis": diagnosis}
    return rows


def suite_change_vars(tmp_path):
    """spoke2 leaves the lab topology for a hand-written tunnel of the same name with NEW_SUITE."""
    with open(os.path.join(LAB_INVENTORY, "group_vars", "all", "ipsec.yml")) as handle:
        topology = yaml.safe_load(handle)["ipsec_topologies"][0]
    tunnel = {k: v for k, v in topology.items()
              if k not in ("name", "type", "hub", "spokes", "hub_endpoint", "spoke_endpoint")}
    tunnel.update(name="%s-%s-spoke2" % (topology["name"], topology["hub"]), a=topology["hub"], b="spoke2",
                  suite=NEW_SUITE, auth={"psk": "{{ hostvars['spoke2'].%s }}" % topology["auth"]["psk_var"]})
    kept = dict(topology, spokes="suite_kept_spokes")
    (tmp_path / "kept.yml").write_text(yaml.safe_dump({"all": {"children": {"suite_kept_spokes": {
        "hosts": {"spoke1": None}}}}}))
    (tmp_path / "suite.yml").write_text(yaml.safe_dump({"ipsec_topologies": [kept], "ipsec_tunnels": [tunnel]}))
    return ["-i", str(tmp_path / "kept.yml"), "-e", "@" + str(tmp_path / "suite.yml")]


def test_demo_tunnels_up_suite_change_and_a_cut_link(demo_lab, tmp_path):
    code, output = playbook(tmp_path, demo_lab, "site.yml")
    assert code == 0, output
    code, output = playbook(tmp_path, demo_lab, "status.yml")
    assert code == 0, output
    rows = table(output)
    assert sorted(rows) == [("hub", "198.51.100.11"), ("hub", "198.51.100.12"),
                            ("spoke1", "198.51.100.1"), ("spoke2", "198.51.100.1")], output
    assert {r["state"] for r in rows.values()} == {"established"}
    assert {r["sas"] for r in rows.values()} == {"1/1"}
    assert {r["algorithms"] for r in rows.values()} == {"aes-gcm 256, auth none"}

    # one tunnel's suite changes: only its two routers report changes
    change = suite_change_vars(tmp_path)
    code, output = playbook(tmp_path, demo_lab, "site.yml", *change)
    assert code == 0, output
    stats = recap(output)
    assert stats["spoke1"]["changed"] == 0, output
    assert stats["hub"]["changed"] > 0 and stats["spoke2"]["changed"] > 0, output
    code, output = playbook(tmp_path, demo_lab, "site.yml", *change)
    assert code == 0 and all(s["changed"] == 0 for s in recap(output).values()), output

    code, output = playbook(tmp_path, demo_lab, "status.yml", *change)
    assert code == 0, output
    rows = table(output)
    assert rows[("hub", "198.51.100.12")]["algorithms"] == "aes-cbc 256, auth sha256", output
    assert rows[("spoke2", "198.51.100.1")]["algorithms"] == "aes-cbc 256, auth sha256", output
    assert rows[("hub", "198.51.100.11")]["algorithms"] == "aes-gcm 256, auth none", output
    assert rows[("spoke1", "198.51.100.1")]["algorithms"] == "aes-gcm 256, auth none", output

    # spoke2's link is cut and DPD gives up: status.yml shows it and fails, naming the tunnel
    demo_lab.link_down("hub:ether1", "spoke2:ether1")
    demo_lab.advance("15m")
    code, output = playbook(tmp_path, demo_lab, "status.yml", "-e", "ipsec_status_retries=1",
                            "-e", "ipsec_status_delay=0", *change)
    assert code != 0, output
    rows = table(output)
    assert rows[("hub", "198.51.100.12")]["state"] != "established", output
    assert rows[("hub", "198.51.100.12")]["sas"] == "0/0", output
    assert rows[("spoke1", "198.51.100.1")]["state"] == "established", output
    assert "hub: lab-hub-spoke2: " in output and rows[("hub", "198.51.100.12")]["diagnosis"] != "-", output
    assert stats_failed(output) == {"hub": 1, "spoke1": 0, "spoke2": 1}, output


def stats_failed(output):
    return {host: s["failed"] for host, s in recap(output).items()}


def owned_and_foreign(lab, router, menus=("/ip/ipsec/peer", "/ip/ipsec/identity", "/ip/ipsec/policy",
                                          "/ip/ipsec/proposal", "/ip/ipsec/profile")):
    """{menu: (owned labels, foreign rows)} as the router holds them."""
    out = {}
    for menu in menus:
        rows = lab.call(lambda m=menu: [dict(r) for r in lab.router(router).items(m)])
        owned = sorted(r.get("name") or r.get("comment") for r in rows
                       if (r.get("comment") or "").startswith("ipsecfleet:")
                       or (r.get("name") or "").startswith("ipsecfleet-"))
        foreign = [r for r in rows if (r.get("name") or r.get("comment") or "") not in owned]
        out[menu] = (owned, foreign)
    return out


def test_a_spoke_removed_from_the_intent_loses_its_tunnel_on_both_ends(demo_lab, tmp_path):
    """site.yml converges with state overridden: what the intent no longer derives is removed from the
    routers that stay (the hub's tunnel to spoke2); site.yml then names spoke2 as left out of the
    intent and leaves it alone, and decommission.yml removes spoke2's own objects on purpose. Nothing
    the collection does not own is touched."""
    code, output = playbook(tmp_path, demo_lab, "site.yml")
    assert code == 0, output
    # an operator's own peer on the hub must survive
    demo_lab.call(lambda: demo_lab.router("hub").execute(
        "/ip/ipsec/peer/add", {"name": "by-hand", "address": "192.0.2.99/32", "comment": "added by hand"}, []))
    before = owned_and_foreign(demo_lab, "hub")
    assert any("spoke2" in label for label in before["/ip/ipsec/peer"][0]), before

    # spoke2 leaves the topology's group (it stays in the inventory)
    (tmp_path / "without.yml").write_text(yaml.safe_dump({"all": {"children": {"only_spoke1": {
        "hosts": {"spoke1": None}}}}}))
    with open(os.path.join(LAB_INVENTORY, "group_vars", "all", "ipsec.yml")) as handle:
        topology = yaml.safe_load(handle)["ipsec_topologies"][0]
    (tmp_path / "intent.yml").write_text(yaml.safe_dump({"ipsec_topologies": [dict(topology, spokes="only_spoke1")]}))
    change = ["-i", str(tmp_path / "without.yml"), "-e", "@" + str(tmp_path / "intent.yml")]
    code, output = playbook(tmp_path, demo_lab, "site.yml", *change)
    assert code == 0, output
    assert "spoke2: in the inventory, but in no tunnel of the intent" in output, output
    assert "spoke2" not in recap(output) or recap(output)["spoke2"]["changed"] == 0, output
    assert any(owned for owned, _foreign in owned_and_foreign(demo_lab, "spoke2").values())  # left alone
    code, output = playbook(tmp_path, demo_lab, "decommission.yml", "--limit", "spoke2", *change)
    assert code == 0, output
    assert recap(output)["spoke2"]["changed"] == 1 and "hub" not in recap(output), output

    after = owned_and_foreign(demo_lab, "hub")
    for menu in ("/ip/ipsec/peer", "/ip/ipsec/identity", "/ip/ipsec/policy"):
        assert not any("spoke2" in label for label in after[menu][0]), (menu, after[menu])
        assert any("spoke1" in label for label in after[menu][0]), (menu, after[menu])
        assert after[menu][1] == before[menu][1], menu   # foreign rows byte-for-byte the same
    spoke2 = owned_and_foreign(demo_lab, "spoke2")
    assert all(owned == [] for owned, _foreign in spoke2.values()), spoke2
    code, output = playbook(tmp_path, demo_lab, "site.yml", *change)
    assert code == 0 and all(s["changed"] == 0 for s in recap(output).values()), output
