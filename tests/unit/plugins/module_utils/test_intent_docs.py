"""The generated reference in docs/intent.md and docs/crypto-suites.md matches the schema."""
import importlib.util
import os

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites
from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def _generator():
    spec = importlib.util.spec_from_file_location("gen_intent_docs", os.path.join(ROOT, "tools", "gen_intent_docs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_docs_are_up_to_date():
    assert _generator().main(["--check"]) == 0, "run: .venv/bin/python tools/gen_intent_docs.py"


@pytest.mark.parametrize("field", [f.name for f in intent.TUNNEL_FIELDS + intent.ENDPOINT_FIELDS + intent.TOPOLOGY_FIELDS])
def test_every_schema_field_is_documented(field):
    with open(os.path.join(ROOT, "docs", "intent.md"), encoding="utf-8") as handle:
        assert "| `%s` |" % field in handle.read()


@pytest.mark.parametrize("preset", sorted(crypto_suites.PRESETS))
def test_every_preset_is_documented(preset):
    with open(os.path.join(ROOT, "docs", "crypto-suites.md"), encoding="utf-8") as handle:
        assert "| `%s`" % preset in handle.read()


def test_stale_block_is_detected(tmp_path):
    generator = _generator()
    text = "x\n<!-- BEGIN GENERATED: intent reference -->\nold\n<!-- END GENERATED: intent reference -->\n"
    new = generator.replace_block(text, "intent reference", generator.intent_reference())
    assert new != text and "| `dpd_failures` |" in new
    assert generator.replace_block(new, "intent reference", generator.intent_reference()) == new
