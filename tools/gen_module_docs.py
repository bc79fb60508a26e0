#!/usr/bin/env python3
"""Regenerate the ``config`` option documentation of the engine modules from the one field table.

The suboptions of ``config.<section>`` (names, types, choices, required, descriptions) live in
plugins/module_utils/device/menus.py; the argument spec is built from the same table
(``menus.option_spec``), so docs and spec cannot disagree. The generated YAML sits between
``# BEGIN GENERATED`` and ``# END GENERATED`` comment lines inside each module's DOCUMENTATION.

    python tools/gen_module_docs.py          # rewrite the modules
    python tools/gen_module_docs.py --check  # exit 1 if a module is stale (a unit test runs this)
"""

import argparse
import os
import sys
import textwrap

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

# pylint: disable=wrong-import-position
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import (  # noqa: E402
    HA_SECTIONS,
    PHASE1_SECTIONS,
    PHASE2_SECTIONS,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan  # noqa: E402

MODULES = {"ipsec_phase1": PHASE1_SECTIONS, "ipsec_phase2": PHASE2_SECTIONS, "ipsec_ha": HA_SECTIONS}
BEGIN = "  # BEGIN GENERATED from plugins/module_utils/device/menus.py by tools/gen_module_docs.py"
END = "  # END GENERATED"
WIDTH = 120  # generated doc lines fold here (ansible-lint and pep8 cap lines at 160)
CONFIG_DOC = ("The desired owned items, per menu. Keys of the items are RouterOS argument names with C(_) "
              "for C(-).", "Arguments left out are not managed with O(state=merged).")


def _scalar(text):
    """A YAML plain or quoted scalar for one line of documentation."""
    if any(c in text for c in ":#") or text[:1] in "[{&*!|>'\"%@`-":
        return "'%s'" % text.replace("'", "''")
    return text


def _word(text):
    """A choice as YAML reads it back as the same string (``no`` would be a boolean)."""
    return "'%s'" % text if text.lower() in ("yes", "no", "true", "false", "on", "off", "null") else text


def _folded(first, text, indent):
    """``first`` + the scalar ``text``, folded over lines of at most WIDTH (YAML joins them with spaces)."""
    lines = textwrap.wrap(_scalar(text), WIDTH - len(first), break_long_words=False, break_on_hyphens=False)
    return [first + lines[0]] + [" " * indent + line for line in lines[1:]]


def _description(lines, indent):
    pad = " " * indent
    if isinstance(lines, str):
        return _folded("%sdescription: " % pad, lines, indent + 2)
    out = ["%sdescription:" % pad]
    for line in lines:
        out += _folded("%s  - " % pad, line, indent + 4)
    return out


def config_yaml(sections):
    out = ["  config:"] + _description(list(CONFIG_DOC), 4) + ["    type: dict", "    suboptions:"]
    for section in sections:
        menu = menus.MENUS_BY_SECTION[section]
        out.append("      %s:" % section)
        out += _description(menu.doc, 8)
        out += ["        type: list", "        elements: dict", "        suboptions:"]
        spec = menus.option_spec(section)
        for field in menu.field_table:
            option = spec[field.option]
            out.append("          %s:" % field.option)
            out += _description(field.doc, 12)
            out.append("            type: %s" % option["type"])
            if "elements" in option:
                out.append("            elements: %s" % option["elements"])
            if option.get("choices"):
                out.append("            choices: [%s]" % ", ".join(_word(c) for c in option["choices"]))
            if option.get("required"):
                out.append("            required: true")
    return "\n".join(out)


def regenerate(text, sections, name):
    if BEGIN not in text or END not in text:
        raise SystemExit("%s: no %r ... %r markers in DOCUMENTATION" % (name, BEGIN.strip(), END.strip()))
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + config_yaml(sections) + "\n" + END + tail


# module -> (option, source module, source option): suboptions documented once, copied here
COPIED_SUBOPTIONS = {"ipsec_site": ("firewall_options", "ipsec_firewall", "options")}
COPY_INDENT = 6


def copy_begin(source, option):
    return "%s# BEGIN GENERATED from plugins/modules/%s.py %s by tools/gen_module_docs.py" % (
        " " * COPY_INDENT, source, option)


def suboptions_yaml(source, option):
    """The suboptions of ``option`` in module ``source``'s DOCUMENTATION, as YAML at COPY_INDENT."""
    path = os.path.join(ROOT, "plugins", "modules", source + ".py")
    namespace = {}
    with open(path) as handle:
        text = handle.read()
    doc = text.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0]
    namespace = yaml.safe_load(doc)
    suboptions = namespace["options"][option]["suboptions"]
    dumped = yaml.safe_dump(suboptions, sort_keys=False, width=110, default_flow_style=False)
    return "\n".join(" " * COPY_INDENT + line for line in dumped.rstrip().splitlines())


def regenerate_copy(text, name):
    option, source, source_option = COPIED_SUBOPTIONS[name]
    begin, end = copy_begin(source, source_option), " " * COPY_INDENT + "# END GENERATED"
    if begin not in text or end not in text:
        raise SystemExit("%s: no %r ... %r markers for %s" % (name, begin.strip(), end.strip(), option))
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    return head + begin + "\n" + suboptions_yaml(source, source_option) + "\n" + end + tail


# -- the features option ---------------------------------------------------------------------------
FEATURES_BEGIN = "  # BEGIN GENERATED features from plugins/module_utils/plan/host_plan.py by tools/gen_module_docs.py"
# module -> (first description line, last description lines)
FEATURE_OPTION = {
    "ipsec_site": ("The feature builders whose sections this task converges:",
                   ["Menus of a feature left out are neither read nor written."]),
    "ipsec_info": ("The feature builders whose sections the drift compares (as "
                   "O(ipsecfleet.routeros.ipsec_site#module:features)):", []),
}


def features_yaml(name):
    intro, tail = FEATURE_OPTION[name]
    names = [feature for feature, _build, _sections in host_plan.BUILDERS]
    lines = [intro] + ["V(%s) - %s." % (feature, host_plan.FEATURE_DOCS[feature]) for feature in names] + tail
    out = ["  features:"] + _description(lines, 4)
    out += ["    type: list", "    elements: str",
            "    choices: [%s]" % ", ".join(names), "    default: [%s]" % ", ".join(names)]
    return "\n".join(out)


# -- the results of every engine module -------------------------------------------------------------
RETURN_BEGIN = "# BEGIN GENERATED engine results by tools/gen_module_docs.py"
RETURN_END = "# END GENERATED"
ENGINE_RETURN = (
    ("changed", "Whether anything was (or, in check mode, would be) written; true on a failure after a write.",
     "always", "bool"),
    ("commands", "The RouterOS writes, as CLI-like text with secrets masked, in execution order.", "always", "list"),
    ("writes", "Number of API writes done (0 in check mode); on a failure, the writes that took effect.",
     "always", "int"),
    ("writes_unconfirmed", "On a failure, writes sent whose reply never came (the connection was lost); they may "
     "have taken effect.", "when a failed task lost the reply to a write", "int"),
    ("gathered", "The owned items, per section, secrets masked.", "when O(state=gathered)", "dict"),
    ("rendered", "RouterOS script (C(.rsc)) that creates the desired items on an empty router, secrets masked.",
     "when O(state=rendered)", "str"),
    ("diff", "Owned items before and after, per section, secrets masked.", "in diff mode, for states that write",
     "dict"),
)
# a sample command per module (what its first write typically is)
COMMAND_SAMPLES = {
    "ipsec_phase1": ["/ip ipsec peer add address=198.51.100.2/32 comment=ipsecfleet:hub-spoke1 name=ipsecfleet-spoke1",
                     "/ip ipsec identity set [find comment=ipsecfleet:hub-spoke1] secret=********"],
    "ipsec_phase2": ["/ip ipsec policy add comment=ipsecfleet:hub-spoke1-lan dst-address=10.20.0.0/24 "
                     "peer=ipsecfleet-spoke1 src-address=10.10.0.0/24 tunnel=yes"],
    "ipsec_ha": ['/tool netwatch add comment="ipsecfleet:ha/dual/primary tunnel dual" host=198.51.100.1 interval=5s'],
    "ipsec_firewall": ['/ip firewall filter add action=accept chain=input comment="ipsecfleet:fw-in-esp ESP from the '
                       'peers" protocol=ipsec-esp src-address-list=ipsecfleet-peers'],
    "ipsec_site": ["/ip ipsec peer add address=198.51.100.2/32 comment=ipsecfleet:hub-spoke1 name=ipsecfleet-spoke1"],
}


def return_yaml(name):
    out = []
    for key, description, returned, kind in ENGINE_RETURN:
        out += ["%s:" % key] + _description(description, 2)
        out += ["  returned: %s" % _scalar(returned), "  type: %s" % kind]
        if kind == "list":
            out.append("  elements: str")
        if key == "commands":
            out += ["  sample:"] + ["    - %s" % _scalar(line) for line in COMMAND_SAMPLES[name]]
    return "\n".join(out)


def replace_between(text, begin, end, body, name):
    if begin not in text:
        raise SystemExit("%s: no %r marker" % (name, begin.strip()))
    head, rest = text.split(begin, 1)
    if end not in rest:
        raise SystemExit("%s: no %r after %r" % (name, end.strip(), begin.strip()))
    _old, tail = rest.split(end, 1)
    return head + begin + "\n" + body + "\n" + end + tail


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a module's docs are stale")
    args = parser.parse_args()
    stale = []
    for name in sorted(set(MODULES) | set(COPIED_SUBOPTIONS) | set(FEATURE_OPTION) | set(COMMAND_SAMPLES)):
        path = os.path.join(ROOT, "plugins", "modules", name + ".py")
        with open(path) as handle:
            text = handle.read()
        new = text
        if name in MODULES:
            new = regenerate(new, MODULES[name], name)
        if name in COPIED_SUBOPTIONS:
            new = regenerate_copy(new, name)
        if name in FEATURE_OPTION:
            new = replace_between(new, FEATURES_BEGIN, "  # END GENERATED", features_yaml(name), name)
        if name in COMMAND_SAMPLES:
            new = replace_between(new, RETURN_BEGIN, RETURN_END, return_yaml(name), name)
        if new != text:
            stale.append(path)
            if not args.check:
                with open(path, "w") as handle:
                    handle.write(new)
    if args.check and stale:
        print("stale generated docs (run python tools/gen_module_docs.py): %s" % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
