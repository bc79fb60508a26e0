"""tools/gen_observe_docs.py: docs/observe.md's cause, audit-rule and policy tables come from the
diagnosis and audit code, and every cause, rule and log pattern appears in them."""
import importlib.util
from pathlib import Path

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import audit, diagnosis

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_observe_docs", ROOT / "tools" / "gen_observe_docs.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def test_observe_doc_is_current():
    assert gen.main(["--check"]) == 0, "run: .venv/bin/python tools/gen_observe_docs.py"


def test_every_cause_rule_and_log_pattern_is_documented():
    doc = (ROOT / "docs" / "observe.md").read_text(encoding="utf-8")
    for cause in diagnosis.CAUSES:
        assert "| `%s` |" % cause in doc, cause
    for rule in audit.RULES:
        assert "| `%s` |" % rule in doc, rule
    for _cause, pattern, _source in diagnosis.LOG_RULES:
        assert gen._cell(pattern.replace("\\", "")) in doc.replace("\\.", "."), pattern
    for counter, _cause, _meaning in diagnosis.COUNTER_CAUSES:
        assert "`%s`" % counter in doc, counter


def test_a_new_intermediate_log_class_without_a_description_fails_the_generator(monkeypatch):
    monkeypatch.setattr(diagnosis, "LOG_RULES", diagnosis.LOG_RULES + [("new_class", r"something", "FIELD")])
    with pytest.raises(KeyError):
        gen.causes_table()


def test_every_cause_names_where_it_is_found():
    # a cause with no log line, counter or check behind it would be a row the diagnosis never produces
    table = gen.causes_table()
    for line in table.splitlines():
        if line.startswith("| `") and line.split("|")[1].strip().strip("`") in diagnosis.CAUSES:
            assert line.split("|")[3].strip() != "—", line
