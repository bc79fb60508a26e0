"""API economy gate (counts, not times): what a fleet run costs each router on the wire.

site.yml (one ipsec_site task per router) and the per-role playbook (ipsec_phase1, ipsec_phase2,
ipsec_firewall) run against the demo lab; the lab counts every sentence and login per router.
One login per router per task; on an idempotent run no more sentences per router and task than
the menus it manages + 2 (the login, and one spare for a version or state read), and no writes."""
import os

import pytest
import yaml

from roslab import control

from engine_lab_helpers import ROOT, ansible_playbook
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan

LAB_INVENTORY = os.path.join(ROOT, "inventories", "lab")
ROUTERS = ("hub", "spoke1", "spoke2")
WRITE_VERBS = ("add", "set", "remove", "move", "unset", "enable", "disable")
ROLES_PLAY = [{
    "name": "The three roles, one after another",
    "hosts": "ipsec_routers", "gather_facts": False,
    "roles": [{"role": "ipsecfleet.routeros.ipsec_phase1"}, {"role": "ipsecfleet.routeros.ipsec_phase2"},
              {"role": "ipsecfleet.routeros.ipsec_firewall"}],
}]
# menus each task manages: site reads every menu of every feature once
SITE_MENUS = sum(len(sections) for sections in host_plan.FEATURE_SECTIONS.values())
ROLE_TASKS = 3
ROLE_MENUS = len(menus.IPSEC_PATHS) + len(menus.FIREWALL_PATHS)


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory):
    lab = control.Lab.from_topology(os.path.join(LAB_INVENTORY, "topology.yml"), base_port=0,
                                    state_dir=str(tmp_path_factory.mktemp("economy-lab")), save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()


def run(tmp_path, lab, playbook):
    (tmp_path / "ports.yml").write_text(lab.inventory_yaml())
    code, output = ansible_playbook(tmp_path, [os.path.join(LAB_INVENTORY, "hosts.yml"), tmp_path / "ports.yml"],
                                    playbook)
    assert code == 0, output
    return output


def writes(commands):
    return dict((path, n) for path, n in commands.items() if path.rsplit("/", 1)[-1] in WRITE_VERBS)


def test_site_yml_one_login_and_one_print_per_menu_per_router(demo_lab, tmp_path):
    site = os.path.join(ROOT, "playbooks", "site.yml")
    demo_lab.reset_api_usage()
    run(tmp_path, demo_lab, site)                       # cold: everything written
    cold = demo_lab.api_usage()
    for router in ROUTERS:
        assert cold[router]["logins"] == 2, (router, cold[router])  # the task, and the commit-confirm proof
        assert writes(cold[router]["commands"]), (router, cold[router])
    demo_lab.reset_api_usage()
    run(tmp_path, demo_lab, site)                       # idempotent
    usage = demo_lab.api_usage()
    for router in ROUTERS:
        commands = usage[router]["commands"]
        assert usage[router]["logins"] == 1, (router, usage[router])
        assert writes(commands) == {}, (router, commands)
        assert sum(commands.values()) <= SITE_MENUS + 2, (router, commands)
        assert all(n == 1 for n in commands.values()), (router, commands)  # each menu printed once


def test_the_roles_cost_one_login_per_task_and_write_nothing_when_converged(demo_lab, tmp_path):
    roles = tmp_path / "roles.yml"
    roles.write_text(yaml.safe_dump([{"ansible.builtin.import_playbook":
                                      os.path.join(ROOT, "playbooks", "intent_hosts.yml")}] + ROLES_PLAY))
    run(tmp_path, demo_lab, str(roles))
    demo_lab.reset_api_usage()
    run(tmp_path, demo_lab, str(roles))
    usage = demo_lab.api_usage()
    for router in ROUTERS:
        commands = usage[router]["commands"]
        assert usage[router]["logins"] == ROLE_TASKS, (router, usage[router])
        assert writes(commands) == {}, (router, commands)
        assert sum(commands.values()) <= ROLE_MENUS + 2 * ROLE_TASKS, (router, commands)
