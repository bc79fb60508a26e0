"""Every EXAMPLES task of the engine modules is valid module input once its templates are rendered
(with the planner filter and the sample intent below)."""
import importlib

import jinja2
import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.filter.core import dict_to_list_of_dict_key_value_elements, list_of_dict_key_value_elements_to_dict

from ansible_collections.ipsecfleet.routeros.plugins.filter import ipsec_plan as plan_filters
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import (
    HA_SECTIONS,
    PHASE1_SECTIONS,
    PHASE2_SECTIONS,
    engine_argument_spec,
)

HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"], "routeros_version": "7.22.2"},
    "spoke1": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24"],
               "routeros_version": "7.22.2"},
}
VARIABLES = {
    "ipsec_tunnels": [{"name": "hub-spoke1", "a": "hub", "b": "spoke1", "auth": {"psk": "example-psk-0123456789abc"}}],
    "inventory_hostname": "hub", "hostvars": HOSTVARS, "ansible_host": "192.0.2.1",
    "vault_routeros_password": "secret", "vault_psk_hub_spoke1": "example-psk-0123456789abc",
}


def render(value, environment):
    """Templates as Ansible gives them to a module: a lone ``{{ expression }}`` keeps its type."""
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        return environment.compile_expression(text[2:-2].strip())(**VARIABLES)
    if "{{" in text:
        return environment.from_string(value).render(**VARIABLES)
    if isinstance(value, dict):
        return dict((k, render(v, environment)) for k, v in value.items())
    if isinstance(value, list):
        return [render(v, environment) for v in value]
    return value


def environment():
    env = jinja2.Environment()
    env.filters["ipsecfleet.routeros.ipsec_plan"] = plan_filters.ipsec_plan
    env.filters["dict2items"] = dict_to_list_of_dict_key_value_elements
    # Ansible's templar hands filters lists where plain Jinja passes selectattr's generator on
    env.filters["items2dict"] = lambda items, **kw: list_of_dict_key_value_elements_to_dict(list(items), **kw)
    return env


@pytest.mark.parametrize("module, sections", [("ipsec_phase1", PHASE1_SECTIONS), ("ipsec_phase2", PHASE2_SECTIONS),
                                              ("ipsec_ha", HA_SECTIONS)])
def test_examples_are_valid_module_input(module, sections):
    examples = yaml.safe_load(importlib.import_module(
        "ansible_collections.ipsecfleet.routeros.plugins.modules." + module).EXAMPLES)
    env = environment()
    checked = 0
    for task in examples:
        args = render(task["ipsecfleet.routeros." + module], env)
        result = ArgumentSpecValidator(engine_argument_spec(sections)).validate(args)
        assert result.error_messages == [], (task["name"], result.error_messages)
        checked += 1
    assert checked == len(examples) >= 2
