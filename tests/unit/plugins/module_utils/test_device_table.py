"""The one per-menu field table: every view the engine, the modules and the docs use comes from it."""
import os
import subprocess
import sys

import yaml

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus, values
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites, schema
from ansible_collections.ipsecfleet.routeros.plugins.modules import ipsec_ha, ipsec_phase1, ipsec_phase2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def test_generated_module_docs_are_current():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_module_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _documented(module, section):
    doc = yaml.safe_load(module.DOCUMENTATION)
    return doc["options"]["config"]["suboptions"][section]["suboptions"]


def test_module_spec_and_docs_agree_field_by_field():
    for module, sections in ((ipsec_phase1, engine.PHASE1_SECTIONS), (ipsec_phase2, engine.PHASE2_SECTIONS),
                             (ipsec_ha, engine.HA_SECTIONS)):
        for section in sections:
            spec = engine.SECTION_OPTIONS[section]
            documented = _documented(module, section)
            assert sorted(spec) == sorted(documented), section
            for name, option in spec.items():
                assert documented[name]["type"] == option["type"], (section, name)
                assert documented[name].get("choices") == option.get("choices"), (section, name)
                assert bool(documented[name].get("required")) == bool(option.get("required")), (section, name)


def test_engine_views_come_from_the_table():
    profile = menus.MENUS["/ip/ipsec/profile"]
    assert values.DEFAULTS["/ip/ipsec/profile"]["dpd-interval"] == profile.field("dpd-interval").default
    assert "lifetime" in values.DURATION_FIELDS and "dh-group" in values.UNORDERED_LIST_FIELDS
    assert values.UNIQUE_TOGETHER["/ip/ipsec/peer"] == (("name",), ("address", "exchange-mode"))
    assert menus.MENUS["/ip/ipsec/identity"].secrets == ("secret",)
    assert ("profile", "/ip/ipsec/profile") in menus.MENUS["/ip/ipsec/peer"].references
    assert engine.SECTION_OPTIONS["identities"]["secret"]["no_log"] is True


def test_version_facts_live_in_the_table():
    assert schema.FEATURE_VERSIONS["ppk"] == (7, 21)
    assert crypto_suites.VERSION_REMOVED == {"ec2n155": (7, 12), "ec2n185": (7, 12)}
    assert menus.field_available("/ip/ipsec/peer", "ppk-secret", (7, 21, 0))
    assert not menus.field_available("/ip/ipsec/peer", "ppk-secret", (7, 20, 3))
    assert menus.field_available("/ip/ipsec/peer", "ppk-secret", None)
    assert not menus.field_available("/ip/ipsec/peer", "no-such-argument", (7, 22))


def test_every_feature_builder_is_documented_in_the_site_and_info_modules():
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan
    from ansible_collections.ipsecfleet.routeros.plugins.modules import ipsec_info, ipsec_site

    names = [name for name, _build, _sections in host_plan.BUILDERS]
    assert sorted(host_plan.FEATURE_DOCS) == sorted(names)
    for module in (ipsec_site, ipsec_info):
        option = yaml.safe_load(module.DOCUMENTATION)["options"]["features"]
        assert option["choices"] == names and option["default"] == names
        described = " ".join(option["description"])
        assert all("V(%s) - " % name in described for name in names), module.__name__


def test_engine_modules_document_every_engine_result():
    # the results converge.py returns (changed/commands/writes, and writes_unconfirmed on a lost reply)
    # are documented on every engine module, ipsec_ha included (it lacked writes_unconfirmed)
    from ansible_collections.ipsecfleet.routeros.plugins.modules import ipsec_firewall, ipsec_site

    for module in (ipsec_phase1, ipsec_phase2, ipsec_ha, ipsec_firewall, ipsec_site):
        returned = yaml.safe_load(module.RETURN)
        for key in ("changed", "commands", "writes", "writes_unconfirmed", "gathered", "rendered", "diff"):
            assert key in returned, (module.__name__, key)
