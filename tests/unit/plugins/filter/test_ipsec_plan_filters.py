"""The planning filters, as Python functions and once through ansible-playbook on inventories/three-sites."""
import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ipsecfleet.routeros.plugins.filter import ipsec_plan as filters
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import rsc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module_utils"))
from test_intent_fixtures import PSK, groups, hostvars, tunnel  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
TOPOLOGY = [{"name": "hs", "type": "hub_and_spoke", "hub": "hq", "spokes": "branches",
             "auth": {"psk_var": "ipsec_psk"}}]


def test_filter_module_exposes_the_three_filters():
    assert sorted(filters.FilterModule().filters()) == ["ipsec_plan", "ipsec_rsc", "ipsec_validate"]


def test_ipsec_plan_returns_the_hosts_plan():
    plan = filters.ipsec_plan([], "hq", hostvars(), topologies=TOPOLOGY, groups=groups())
    assert [p["name"] for p in plan["peers"]] == ["ipsecfleet-hs-hq-br1", "ipsecfleet-hs-hq-br2"]


def test_ipsec_plan_raises_a_filter_error_naming_tunnel_and_field():
    with pytest.raises(AnsibleFilterError) as raised:
        filters.ipsec_plan([tunnel(auth={"psk": "short"})], "hq", hostvars())
    assert "ipsecfleet: tunnel 'hq-br1': field 'auth.psk'" in str(raised.value)


def test_ipsec_rsc_renders_and_checks_its_input():
    plan = filters.ipsec_plan([tunnel()], "hq", hostvars())
    text = filters.ipsec_rsc(plan, "hq")
    assert text.startswith("# ipsecfleet.routeros plan for hq\n") and PSK not in text
    assert PSK in filters.ipsec_rsc(plan, reveal_secrets=True)
    with pytest.raises(AnsibleFilterError, match="expects a plan"):
        filters.ipsec_rsc(["not", "a", "plan"])
    with pytest.raises(AnsibleFilterError, match="unknown plan section"):
        filters.ipsec_rsc({"bogus": []})


def test_ipsec_validate_summarises_without_secrets():
    summary = filters.ipsec_validate([tunnel(name="br1-br2", a={"host": "br1", "prefixes": ["10.1.50.0/24"]},
                                             b={"host": "br2", "prefixes": ["10.2.50.0/24"]})],
                                     hostvars(), topologies=TOPOLOGY, groups=groups())
    assert [t["name"] for t in summary["tunnels"]] == ["br1-br2", "hs-hq-br1", "hs-hq-br2"]
    assert summary["hosts"]["hq"]["peers"] == 2 and summary["hosts"]["br1"]["peers"] == 2
    assert PSK not in json.dumps(summary)


def test_ipsec_validate_lists_every_problem():
    with pytest.raises(AnsibleFilterError) as raised:
        filters.ipsec_validate([tunnel(b="nosuch"), tunnel(name="x", dpd_failures=0, b="br2")], hostvars())
    message = str(raised.value)
    assert "2 problems" in message and "tunnel 'hq-br1'" in message and "tunnel 'x'" in message


PLAYBOOK = """
- name: Plan the example inventory
  hosts: all
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Validate the fleet once
      ansible.builtin.set_fact:
        summary: "{{ ipsec_tunnels | ipsecfleet.routeros.ipsec_validate(hostvars, topologies=ipsec_topologies, groups=groups) }}"
      run_once: true
    - name: Plan this host
      ansible.builtin.set_fact:
        plan: "{{ ipsec_tunnels | ipsecfleet.routeros.ipsec_plan(inventory_hostname, hostvars, topologies=ipsec_topologies, groups=groups) }}"
    - name: Write plan and script
      ansible.builtin.copy:
        content: "{{ {'plan': plan, 'rsc': plan | ipsecfleet.routeros.ipsec_rsc(inventory_hostname), 'summary': summary} | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
"""


def _run_playbook(tmp_path, extra_vars=None):
    playbook = tmp_path / "plan.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
               "-i", os.path.join(ROOT, "inventories", "three-sites", "hosts.yml"), str(playbook),
               "-e", "out_dir=%s" % tmp_path]
    for key, value in (extra_vars or {}).items():
        command += ["-e", json.dumps({key: value})]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)


def test_filters_through_ansible_playbook_on_the_example_inventory(tmp_path):
    result = _run_playbook(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = dict((host, json.loads((tmp_path / ("%s.json" % host)).read_text()))
               for host in ("hq-gw", "branch1-gw", "branch2-gw"))
    hub = out["hq-gw"]["plan"]
    assert [p["name"] for p in hub["peers"]] == ["ipsecfleet-corp-hq-gw-branch1-gw", "ipsecfleet-corp-hq-gw-branch2-gw"]
    assert all(p["passive"] == "true" for p in hub["peers"])
    # per-spoke keys from the (example) vault, resolved through each spoke's ipsec_psk
    assert [i["secret"] for i in hub["identities"]] == ["EXAMPLE-ONLY-not-a-real-key-branch1-0001",
                                                        "EXAMPLE-ONLY-not-a-real-key-branch2-0002"]
    branch1 = out["branch1-gw"]["plan"]
    assert sorted((p["src_address"], p["dst_address"]) for p in branch1["policies"]) == [
        ("10.11.0.0/24", "10.10.0.0/16"), ("10.11.50.0/24", "10.10.0.0/16"), ("10.11.50.0/24", "10.12.50.0/24")]
    assert "EXAMPLE-ONLY" not in out["branch1-gw"]["rsc"] and rsc.SECRET_PLACEHOLDER in out["branch1-gw"]["rsc"]
    assert sorted(t["name"] for t in out["hq-gw"]["summary"]["tunnels"]) == [
        "branch1-branch2-voice", "corp-hq-gw-branch1-gw", "corp-hq-gw-branch2-gw"]


def test_ansible_playbook_fails_before_any_change_on_bad_intent(tmp_path):
    # a typo in a tunnel: the validate task fails with the tunnel and field named
    bad = [{"name": "branch1-branch2-voice", "a": "branch1-gw", "b": "branch2-gw",
            "auth": {"psk": "EXAMPLE-ONLY-not-a-real-key-voice-0003"}, "dpd_intervall": "10s"}]
    result = _run_playbook(tmp_path, {"ipsec_tunnels": bad})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "tunnel 'branch1-branch2-voice': field 'dpd_intervall'" in output
    assert "did you mean 'dpd_interval'" in output
    assert not list(tmp_path.glob("*.json"))
