"""The playbooks around site.yml that need no router: decommission.yml refuses a run without
--limit (it would empty every router) before any router is contacted, and intent_hosts.yml names
the inventory hosts no tunnel ends on."""
import os

import yaml

from engine_lab_helpers import ROOT, ansible_playbook

LAB_INVENTORY = os.path.join(ROOT, "inventories", "lab")


def playbook(tmp_path, path, *args):
    """ansible-playbook with the lab inventory, which has no API ports: reaching a router would fail."""
    return ansible_playbook(tmp_path, [os.path.join(LAB_INVENTORY, "hosts.yml")], path, *args)


def test_decommission_refuses_to_run_without_limit(tmp_path):
    code, output = playbook(tmp_path, os.path.join(ROOT, "playbooks", "decommission.yml"))
    assert code != 0, output
    assert "name the routers with --limit" in output, output
    assert "Remove every owned IPsec and firewall item" not in output, output


def test_intent_hosts_names_hosts_without_tunnels_and_groups_the_others(tmp_path):
    (tmp_path / "extra.yml").write_text(yaml.safe_dump({"all": {"children": {"spares": {"hosts": {"spare1": None}}}}}))
    (tmp_path / "show.yml").write_text(yaml.safe_dump([
        {"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks", "intent_hosts.yml")},
        {"name": "Show the group", "hosts": "localhost", "gather_facts": False,
         "tasks": [{"ansible.builtin.debug": {"msg": "ROUTERS={{ groups.ipsec_routers | sort | join(',') }}"}}]}]))
    code, output = playbook(tmp_path, str(tmp_path / "show.yml"), "-i", str(tmp_path / "extra.yml"))
    assert code == 0, output
    assert "ROUTERS=hub,spoke1,spoke2" in output, output
    assert "spare1: in the inventory, but in no tunnel of the intent" in output, output


def test_site_leaves_a_declared_router_the_intent_does_not_name_untouched(tmp_path):
    """An inventory may declare ipsec_routers itself (inventories/example does, for --list-hosts):
    a router in it that no tunnel names is reported and skipped, never converged (the lab
    inventory has no API ports, so reaching a router would fail the run)."""
    (tmp_path / "extra.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"ipsec_routers": {"hosts": {"spare1": None}}}}}))
    code, output = playbook(tmp_path, os.path.join(ROOT, "playbooks", "site.yml"), "-i", str(tmp_path / "extra.yml"),
                            "--limit", "spare1")
    assert code == 0, output
    assert "spare1: in the inventory, but in no tunnel of the intent" in output, output
    assert "skipping: [spare1]" in output, output
