"""Leftovers: a router the intent no longer names (spoke2 moved out of the topology's group) keeps the
items the collection owns; status.yml, audit.yml and report.yml name it and its tunnel and say to run
playbooks/decommission.yml -l spoke2, and show the hub's own leftovers (the old tunnel, which site.yml
removes), writing nothing; after decommission.yml -l spoke2 and site.yml they are gone."""
import os

import pytest
import yaml
from roslab import control

from engine_lab_helpers import HUB_AND_SPOKES, ROOT, ansible_playbook, lab_fleet_vars

PLAYBOOKS = os.path.join(ROOT, "playbooks")
HOSTS = {"hub": ("198.51.100.1", "10.10.0.0/24"), "spoke1": ("198.51.100.11", "10.11.0.0/24"),
         "spoke2": ("198.51.100.12", "10.12.0.0/24")}


def inventory(spokes, static=False):
    """The fleet; ``static``: every router also in a group ipsec_routers of its own, as
    inventories/example lists them (so the observe plays, not leftovers.yml, read spoke2)."""
    hosts = dict((name, {"ipsec_wan_address": wan, "ipsec_lan_prefixes": [lan],
                         "ipsec_psk": "leftover-test-psk-%s-0123456789" % name})
                 for name, (wan, lan) in HOSTS.items())
    fleet = {"all": {
        "vars": lab_fleet_vars(),
        "children": {"hubs": {"hosts": {"hub": hosts["hub"]}},
                     "spokes": {"hosts": dict((name, hosts[name]) for name in spokes)},
                     "retired": {"hosts": dict((name, hosts[name]) for name in HOSTS if name not in spokes + ["hub"])}}}}
    if static:
        fleet["all"]["children"] = {"ipsec_routers": {"children": fleet["all"]["children"]}}
    return fleet


def run(tmp_path, lab, spokes, playbook, *args, static=False):
    """(exit code, output with every run of white space as one space: the callback folds long lines)."""
    (tmp_path / "fleet.yml").write_text(yaml.safe_dump(inventory(spokes, static)))
    (tmp_path / "ports.yml").write_text(lab.inventory_yaml())
    code, output = ansible_playbook(tmp_path, [tmp_path / "fleet.yml", tmp_path / "ports.yml"],
                                    os.path.join(PLAYBOOKS, playbook), *args)
    return code, " ".join(output.split())


def everything(lab):
    """Every item of every router's IPsec and firewall menus (to show that nothing was written)."""
    menus = ("/ip/ipsec/peer", "/ip/ipsec/identity", "/ip/ipsec/policy", "/ip/ipsec/profile", "/ip/ipsec/proposal",
             "/ip/firewall/filter", "/ip/firewall/nat", "/ip/firewall/raw", "/ip/firewall/address-list")
    return dict((name, dict((menu, [dict(row) for row in lab.router(name).items(menu)]) for menu in menus))
                for name in HOSTS)


def owned(lab, name):
    return [row for menu in ("/ip/ipsec/peer", "/ip/ipsec/identity", "/ip/ipsec/policy", "/ip/firewall/filter")
            for row in lab.router(name).items(menu) if row.get("comment", "").startswith("ipsecfleet:")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = control.Lab.from_topology(HUB_AND_SPOKES, base_port=0, state_dir=str(tmp_path_factory.mktemp("leftovers")),
                                    save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()


def test_leftovers_are_shown_without_writing_and_gone_after_decommission(lab, tmp_path):
    code, output = run(tmp_path, lab, ["spoke1", "spoke2"], "site.yml")
    assert code == 0, output
    lab.advance(30)
    code, output = run(tmp_path, lab, ["spoke1", "spoke2"], "status.yml", "-e", "ipsec_status_retries=3",
                       "-e", "ipsec_status_delay=0")
    assert code == 0, output
    assert "leftovers:" not in output, output

    # spoke2 leaves the intent (out of the topology's group), nothing converged yet
    before = everything(lab)
    code, output = run(tmp_path, lab, ["spoke1"], "status.yml", "-e", "ipsec_status_retries=3",
                       "-e", "ipsec_status_delay=0")
    assert code == 0, output
    assert "spoke2: leftovers: " in output and "tunnel(s) not in the intent (fleet-hub-spoke2)" in output, output
    assert "run playbooks/decommission.yml -l spoke2" in output, output
    assert "/ip/ipsec/peer peer/fleet-hub-spoke2: not in the intent" in output, output
    assert "hub: leftovers: " in output and "site.yml removes them" in output, output
    assert "spoke1: leftovers" not in output, output
    assert "leftover-test-psk" not in output, output

    # the same with the routers listed in a static group ipsec_routers (inventories/example's layout)
    code, static = run(tmp_path, lab, ["spoke1"], "status.yml", "-e", "ipsec_status_retries=3",
                       "-e", "ipsec_status_delay=0", static=True)
    assert code == 0, static
    assert static.count("run playbooks/decommission.yml -l spoke2") == 1, static
    assert "tunnel(s) not in the intent (fleet-hub-spoke2)" in static and "hub: leftovers: " in static, static
    code, static = run(tmp_path, lab, ["spoke1"], "site.yml", "--check", static=True)
    assert code == 0, static

    policy = tmp_path / "policy.yml"
    policy.write_text("fail_on: critical\n")
    code, output = run(tmp_path, lab, ["spoke1"], "audit.yml", "-e", "ipsec_audit_policy_file=%s" % policy)
    assert code == 0, output
    assert "run playbooks/decommission.yml -l spoke2" in output and "hub: leftovers: " in output, output

    report = tmp_path / "report.html"
    code, output = run(tmp_path, lab, ["spoke1"], "report.yml", "-e", "ipsec_report_path=%s" % report)
    assert code == 0, output
    html = report.read_text()
    assert '<table id="leftovers"' in html and "run playbooks/decommission.yml -l spoke2" in html, html
    assert '<td class="host">spoke2</td><td class="tunnels">fleet-hub-spoke2</td>' in html, html
    assert '<td class="host">hub</td><td class="tunnels">fleet-hub-spoke2</td>' in html, html
    assert "leftover-test-psk" not in html
    assert everything(lab) == before

    # decommission spoke2, converge the hub: no leftovers any more
    code, output = run(tmp_path, lab, ["spoke1"], "decommission.yml", "-l", "spoke2")
    assert code == 0, output
    assert owned(lab, "spoke2") == []
    code, output = run(tmp_path, lab, ["spoke1"], "site.yml")
    assert code == 0, output
    code, output = run(tmp_path, lab, ["spoke1"], "status.yml", "-e", "ipsec_status_retries=3",
                       "-e", "ipsec_status_delay=0")
    assert code == 0, output
    assert "leftovers:" not in output, output
    code, output = run(tmp_path, lab, ["spoke1"], "report.yml", "-e", "ipsec_report_path=%s" % report)
    assert code == 0, output
    assert '<p id="leftovers">no leftovers' in report.read_text()
