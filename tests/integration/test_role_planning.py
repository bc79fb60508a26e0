"""How often the phase roles run the planner: once per host and task (the HostPlan built in the action
plugin). The role's argument-spec check must not template a derived config and plan a second time."""
import os
import shutil

import yaml

from engine_lab_helpers import ROOT, ansible_playbook

# appended to a copy of the planner: every plan_from_intent call is written down with its host
COUNTER = '''

import os as _os
_counted_plan_from_intent = plan_from_intent


def plan_from_intent(host, *args, **kwargs):
    with open(_os.environ["IPSECFLEET_PLAN_COUNT"], "a") as count:
        count.write(host + "\\n")
    return _counted_plan_from_intent(host, *args, **kwargs)
'''

INVENTORY = {"all": {
    "vars": {"ipsec_topologies": [{"name": "corp", "type": "hub_and_spoke", "hub": "hub", "spokes": "branches",
                                   "auth": {"psk": "Planning-Psk-0123456789abcdef"}}]},
    "hosts": {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
                      "routeros_version": "7.22.2"}},
    "children": {"branches": {"hosts": {
        "spoke1": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24"],
                   "routeros_version": "7.22.2"}}}},
}}
PLAY = [{"name": "Render both phases", "hosts": "all", "gather_facts": False, "connection": "local",
         "vars": {"ipsec_phase1_state": "rendered", "ipsec_phase2_state": "rendered"},
         "roles": ["ipsecfleet.routeros.ipsec_phase1", "ipsecfleet.routeros.ipsec_phase2"],
         # each role renders its own sections of the host's plan, and only those
         "post_tasks": [{"name": "Each role rendered its own sections", "ansible.builtin.assert": {"that": [
             "'/ip ipsec profile' in ipsec_phase1_result.rendered",
             "'/ip ipsec peer' in ipsec_phase1_result.rendered",
             "'/ip ipsec identity' in ipsec_phase1_result.rendered",
             "'/ip ipsec proposal' not in ipsec_phase1_result.rendered",
             "'/ip ipsec proposal' in ipsec_phase2_result.rendered",
             "'/ip ipsec policy' in ipsec_phase2_result.rendered",
             "'/ip ipsec peer' not in ipsec_phase2_result.rendered"]}}]}]


def counted_collection(tmp_path):
    collections = tmp_path / "collections" / "ansible_collections"
    copy = collections / "ipsecfleet" / "routeros"
    for name in ("plugins", "roles", "meta"):
        shutil.copytree(os.path.join(ROOT, name), str(copy / name))
    shutil.copy(os.path.join(ROOT, "galaxy.yml"), str(copy / "galaxy.yml"))
    with open(str(copy / "plugins" / "module_utils" / "plan" / "host_plan.py"), "a") as planner:
        planner.write(COUNTER)
    import ansible_collections.community.routeros as community_routeros
    (collections / "community").mkdir()
    (collections / "community" / "routeros").symlink_to(list(community_routeros.__path__)[0])
    return str(tmp_path / "collections")


def test_each_role_plans_once_per_templating_of_its_config(tmp_path):
    count = tmp_path / "plan_count.txt"
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(INVENTORY))
    (tmp_path / "site.yml").write_text(yaml.safe_dump(PLAY))
    code, output = ansible_playbook(tmp_path, ["inventory.yml"], "site.yml", timeout=240,
                                    env={"ANSIBLE_COLLECTIONS_PATH": counted_collection(tmp_path), "ANSIBLE_CONFIG": None,
                                         "IPSECFLEET_PLAN_COUNT": str(count)})
    assert code == 0, output
    calls = count.read_text().split()
    # per role and host: one HostPlan, in the task (the argument-spec validation plans nothing)
    assert sorted(calls) == ["hub"] * 2 + ["spoke1"] * 2, calls
