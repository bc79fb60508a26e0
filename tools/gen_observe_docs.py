#!/usr/bin/env python3
"""Regenerate the reference tables of docs/observe.md from the diagnosis and audit code.

Diagnosis causes (title, fix, which log lines, counters and checks find them) come from
plugins/module_utils/observe/diagnosis.py (CAUSES, LOG_RULES, COUNTER_CAUSES, and the functions that
emit each cause, read from the source); audit rules, the best-practices map and the default policy
from observe/audit.py. Generated text sits between ``<!-- BEGIN GENERATED: <name> -->`` and
``<!-- END GENERATED: <name> -->``; the rest of the file is hand-written.

    python tools/gen_observe_docs.py          # rewrite docs/observe.md
    python tools/gen_observe_docs.py --check  # exit 1 if it is stale (make docs-lint)
"""

import argparse
import ast
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

# pylint: disable=wrong-import-position
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import audit, diagnosis  # noqa: E402

DOC = os.path.join(ROOT, "docs", "observe.md")
DIAGNOSIS_SOURCE = os.path.join(ROOT, "plugins", "module_utils", "observe", "diagnosis.py")
# the checks that emit causes without a log line, in words (functions of diagnosis.py)
CHECK_NAMES = {
    "diagnose_states": "live state (active peers, installed SAs, policy ph2-state)",
    "diagnose_firewall": "firewall filter rules (first verdict for IKE from the peer)",
    "diagnose_nat": "NAT rules (srcnat before the tunnel)",
    "diagnose_fasttrack": "FastTrack rules without a notrack/accept exemption",
    "diagnose_mss": "mangle MSS clamping for the tunnel's traffic",
    "diagnose_tunnel": "both ends of the tunnel compared",
    "offline_check": "the inventory alone (no router)",
    "diagnose": "the router's gathered state as a whole",
    # helpers of offline_check
    "_compare": "the inventory alone (no router)",
    "_nat_without_natt": "the inventory alone (no router)",
    "_offline": None,
}


# intermediate log classes of diagnosis.LOG_RULES -> what diagnose_log makes of them (a new class
# without an entry here fails the generator, so the table cannot silently leave it out)
DERIVED = {
    "proposal_mismatch": "`proposal_mismatch_phase2` after a CREATE_CHILD/quick-mode refusal or when every IKE SA "
                         "is up, else `proposal_mismatch_phase1`",
    "proposal_detail": "the algorithm names in the proposal mismatch's fix (debug logging only)",
    "ph2_failed_v1": "`proposal_mismatch_phase2` after `no suitable proposal`, else `selector_mismatch`",
    "ph2_timeout_v1": "`ph2_stuck`",
}


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def emitted_causes():
    """cause -> the diagnosis.py functions that name it (a cause string anywhere in the function but
    in a comparison: passed to finding()/_offline(), assigned, or in a table of the function)."""
    with open(DIAGNOSIS_SOURCE) as handle:
        tree = ast.parse(handle.read())
    found = {}
    for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        compared = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Compare):
                compared.update(id(c) for c in [node.left] + node.comparators)
        for node in ast.walk(function):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in diagnosis.CAUSES
                    and id(node) not in compared):
                found.setdefault(node.value, set()).add(function.name)
    return found


def causes_table():
    logs = {}
    for cause, pattern, source in diagnosis.LOG_RULES:
        logs.setdefault(cause, []).append("`%s` (%s)" % (pattern.replace("\\.", ".").replace("\\", ""), source))
    counters = {}
    for counter, cause, meaning in diagnosis.COUNTER_CAUSES:
        counters.setdefault(cause, []).append("`%s`: %s" % (counter, meaning))
    checks = emitted_causes()
    lines = ["| cause | what it means | found from | fix |", "| --- | --- | --- | --- |"]
    for cause, (title, fix) in diagnosis.CAUSES.items():
        evidence = []
        if logs.get(cause):
            evidence.append("log: " + "; ".join(logs[cause]))
        if counters.get(cause):
            evidence.append("statistics: " + "; ".join(counters[cause]))
        named = sorted(set(CHECK_NAMES[name] for name in checks.get(cause, ())
                           if name != "diagnose_log" and CHECK_NAMES[name]))
        if named:
            evidence.append("checks: " + "; ".join(named))
        fix_text = fix.replace("{detail}", "").replace("{peer}", "<peer>")
        cells = (cause, _cell(title), _cell("<br>".join(evidence) or "—"), _cell(fix_text))
        lines.append("| `%s` | %s | %s | %s |" % cells)
    # log rules whose class is an intermediate one: diagnose_log decides the cause from the lines around it
    lines += ["", "Log classes that `diagnose_log` turns into a cause from the lines around them:", "",
              "| log class | matches | becomes |", "| --- | --- | --- |"]
    for cause, pattern, source in diagnosis.LOG_RULES:
        if cause not in diagnosis.CAUSES:
            lines.append("| `%s` | `%s` (%s) | %s |" % (cause, _cell(pattern.replace("\\", "")), source,
                                                   _cell(DERIVED[cause])))
    return "\n".join(lines)


def audit_table():
    practices = {}
    for practice, rules in audit.BEST_PRACTICES:
        for rule in rules:
            practices.setdefault(rule, []).append(practice.split(":", 1)[0])
    lines = ["| rule | default severity | fix | the guide's best practice |", "| --- | --- | --- | --- |"]
    for rule, (severity, fix) in audit.RULES.items():
        fix_text = fix.replace("{min_psk_length}", str(audit.DEFAULT_POLICY["min_psk_length"]))
        cells = (rule, severity, _cell(fix_text), _cell(", ".join(practices.get(rule, [])) or "—"))
        lines.append("| `%s` | %s | %s | %s |" % cells)
    return "\n".join(lines)


def policy_block():
    lines = ["```yaml", "# audit-policy.yml: every key is optional; these are the defaults"]
    for key, value in audit.DEFAULT_POLICY.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif value == []:
            value = "[]"
        elif value == {}:
            value = "{}"
        lines.append("%s: %s" % (key, value))
    lines += ["```", "", "`fail_on` is one of %s or `never`; `ignore` lists rules to drop; `severity` maps a rule "
              "to another severity." % ", ".join("`%s`" % s for s in audit.SEVERITIES)]
    return "\n".join(lines)


SECTIONS = {"diagnosis-causes": causes_table, "audit-rules": audit_table, "audit-policy": policy_block}


def regenerate(text):
    for name, build in SECTIONS.items():
        begin, end = "<!-- BEGIN GENERATED: %s -->" % name, "<!-- END GENERATED: %s -->" % name
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise SystemExit("docs/observe.md: no %s ... %s markers" % (begin, end))
        body = build()
        text = pattern.sub(lambda _m, body=body: begin + "\n" + body + "\n" + end, text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/observe.md is not up to date")
    args = parser.parse_args(argv)
    with open(DOC) as handle:
        text = handle.read()
    new = regenerate(text)
    if new != text:
        if args.check:
            print("docs/observe.md is stale: run python tools/gen_observe_docs.py")
            return 1
        with open(DOC, "w") as handle:
            handle.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
