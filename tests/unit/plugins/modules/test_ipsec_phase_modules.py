"""ipsec_phase1/ipsec_phase2: the planner's output is valid module input, main() renders without a
router and never prints a secret, gathered output has the option types."""
import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import (
    PHASE1_SECTIONS,
    PHASE2_SECTIONS,
    engine_argument_spec,
    typed_item,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
PSK = "unit-psk-0123456789-abcdef"
HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"], "routeros_version": "7.22.2"},
    "spoke1": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24"],
               "routeros_version": "7.22.2"},
}
TUNNELS = [{"name": "hub-spoke1", "a": "hub", "b": "spoke1", "suite": "ikev2-aes256gcm-ecp384",
            "auth": {"psk": PSK}, "ppk_secret": "unit-ppk-0123456789-abcdef"}]


def connection():
    return {"hostname": "127.0.0.1", "username": "admin", "password": ""}


@pytest.mark.parametrize("sections", [PHASE1_SECTIONS, PHASE2_SECTIONS])
def test_planner_output_is_valid_module_input(sections):
    plan = ipsec_plan.plan_host("hub", TUNNELS, HOSTVARS)
    config = dict((section, plan[section]) for section in sections)
    result = ArgumentSpecValidator(engine_argument_spec(sections)).validate(dict(connection(), config=config))
    assert result.error_messages == []
    assert sum(len(items) for items in config.values()) > 0
    if "identities" in sections:
        assert PSK in result._no_log_values


def test_unknown_argument_is_rejected():
    config = {"peers": [{"name": "ipsecfleet-x", "comment": "ipsecfleet:x", "peer_address": "192.0.2.1"}]}
    result = ArgumentSpecValidator(engine_argument_spec(PHASE1_SECTIONS)).validate(dict(connection(), config=config))
    assert any("peer_address" in message for message in result.error_messages)


def run_module(name, args, tmp_path):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run([sys.executable, "-m", "ansible_collections.ipsecfleet.routeros.plugins.modules." + name,
                           str(path)], env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".collections")),
                          capture_output=True, text=True, timeout=60, check=False)
    return done.stdout


def test_module_main_renders_without_a_router(tmp_path):
    plan = ipsec_plan.plan_host("hub", TUNNELS, HOSTVARS)
    config = dict((section, plan[section]) for section in PHASE1_SECTIONS)
    output = run_module("ipsec_phase1", dict(connection(), hostname="192.0.2.254", state="rendered",
                                             config=config), tmp_path)
    result = json.loads(output)
    assert result["changed"] is False and "/ip ipsec identity" in result["rendered"]
    assert PSK not in output and "unit-ppk" not in output


def test_gathered_items_get_option_types():
    item = {"name": "ipsecfleet-x", "passive": "true", "port": "500", "comment": "ipsecfleet:x", "ppk": "no"}
    assert typed_item("peers", item) == {"name": "ipsecfleet-x", "passive": True, "port": 500,
                                         "comment": "ipsecfleet:x"}
    assert typed_item("profiles", {"enc_algorithm": "aes-256,aes-128", "dpd_maximum_failures": "4"}) == {
        "enc_algorithm": ["aes-256", "aes-128"], "dpd_maximum_failures": 4}
    assert typed_item("identities", {"generate_policy": "false", "my_id": "auto"}) == {
        "generate_policy": "no", "my_id": "auto"}
