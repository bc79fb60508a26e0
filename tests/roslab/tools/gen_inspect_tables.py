#!/usr/bin/env python3
"""Extract the facts roslab needs from RouterOS /console/inspect trees into one compact table.

Input: the restraml inspect trees (``<version>.json``; ``7.22.2-deep.json`` also has the values
RouterOS completes, ``_completion``). Output: ``roslab/data/inspect_tables.json`` with, per menu the
lab emulates: the versions the menu exists in, its commands, the argument names of the commands the
store implements, each argument's ``desc`` text, and (from the deep tree) completion values, whether
``!`` is offered, the ``get`` property list and the ``unset`` value names.

Version sets are written as ``"*"`` when they equal the versions the menu exists in, otherwise as a
list, so version differences stay data.

Usage: python tools/gen_inspect_tables.py [/work/shared/reference/routeros-inspect]
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "roslab", "data", "inspect_tables.json")

# the RouterOS versions the lab emulates, each with the tree file that describes it
VERSION_FILES = [
    ("7.12.2", "7.12.2.json"),
    ("7.15.2", "7.15.2.json"),
    ("7.16.1", "7.16.1.json"),
    ("7.18", "7.18.json"),
    ("7.19.6", "7.19.6.json"),
    ("7.20.8", "7.20.8.json"),
    ("7.21.5", "7.21.5.json"),
    ("7.22.2", "7.22.2-deep.json"),
    ("7.23.3", "7.23.3.json"),
    ("7.24", "7.24.json"),
]
DEEP_VERSION = "7.22.2"

MENUS = [
    "/ip/ipsec", "/ip/ipsec/profile", "/ip/ipsec/peer", "/ip/ipsec/proposal", "/ip/ipsec/identity",
    "/ip/ipsec/policy", "/ip/ipsec/policy/group", "/ip/ipsec/mode-config", "/ip/ipsec/settings",
    "/ip/ipsec/key", "/ip/ipsec/key/rsa", "/ip/ipsec/key/psk", "/ip/ipsec/key/qkd",
    "/ip/ipsec/active-peers", "/ip/ipsec/installed-sa", "/ip/ipsec/statistics",
    "/ip/firewall/filter", "/ip/firewall/nat", "/ip/firewall/raw", "/ip/firewall/mangle",
    "/ip/firewall/address-list", "/ip/firewall/connection",
    "/interface", "/interface/ethernet", "/interface/list", "/interface/list/member",
    "/interface/gre", "/interface/ipip", "/interface/eoip", "/interface/vrrp",
    "/interface/ipsec", "/interface/xfrm",
    "/ip/address", "/ip/route", "/ip/pool", "/tool/netwatch",
    "/system/scheduler", "/system/script", "/system/identity", "/system/resource", "/system/clock",
    "/system/device-mode",
    "/log", "/certificate", "/file", "/user", "/user/group", "/ip/service", "/system/logging",
]
# commands whose arguments the store validates
ARG_COMMANDS = ("add", "set", "unset", "reset", "move", "remove", "enable", "disable", "print", "get",
                "export", "flush", "kill-connections", "update")


def node_at(tree, path):
    node = tree
    for part in path.strip("/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def children(node, kind):
    return sorted(k for k, v in node.items() if not k.startswith("_") and isinstance(v, dict) and v.get("_type") == kind)


def collapse(present, menu_versions):
    present = [v for v in menu_versions if v in present]
    return "*" if present == menu_versions else present


def completion_values(arg):
    comp = arg.get("_completion") or {}
    return [k for k, v in comp.items() if v.get("style") != "syntax-meta"], "!" in comp


def dir_paths(node, prefix):
    for key, child in node.items():
        if key.startswith("_") or not isinstance(child, dict) or child.get("_type") not in ("dir", "path"):
            continue
        path = prefix + "/" + key
        yield path
        for sub in dir_paths(child, path):
            yield sub


def build(src):
    trees = {}
    for version, filename in VERSION_FILES:
        with open(os.path.join(src, filename)) as f:
            trees[version] = json.load(f)
    versions = [v for v, _ in VERSION_FILES]
    menus = {}
    for path in MENUS:
        per_version = dict((v, node_at(trees[v], path)) for v in versions)
        present = [v for v in versions if per_version[v] is not None and per_version[v].get("_type") in ("dir", "path")]
        if not present:
            menus[path] = {"versions": []}
            continue
        commands = {}
        args = {}
        descs = {}
        for v in present:
            node = per_version[v]
            for cmd in children(node, "cmd"):
                commands.setdefault(cmd, []).append(v)
                if cmd not in ARG_COMMANDS:
                    continue
                for arg in children(node[cmd], "arg"):
                    args.setdefault(cmd, {}).setdefault(arg, []).append(v)
                    if cmd in ("add", "set"):
                        desc = node[cmd][arg].get("desc")
                        if desc:
                            descs.setdefault(arg, {}).setdefault(desc, []).append(v)
        entry = {
            "versions": present,
            "commands": dict((c, collapse(vs, present)) for c, vs in sorted(commands.items())),
            "args": dict((c, dict((a, collapse(vs, present)) for a, vs in sorted(al.items())))
                         for c, al in sorted(args.items())),
            "desc": dict((a, dict((d, collapse(vs, present)) for d, vs in dm.items()))
                         for a, dm in sorted(descs.items())),
        }
        deep = per_version.get(DEEP_VERSION)
        if deep is not None:
            values, negatable = {}, []
            for cmd in ("add", "set"):
                for arg in children(deep.get(cmd, {}), "arg"):
                    vals, neg = completion_values(deep[cmd][arg])
                    if vals and arg not in values:
                        values[arg] = vals
                    if neg and arg not in negatable:
                        negatable.append(arg)
            entry["values"] = dict(sorted(values.items()))
            entry["negatable"] = sorted(negatable)
            for cmd, key in (("get", "properties"), ("unset", "unset_values")):
                value_name = (deep.get(cmd) or {}).get("value-name")
                if value_name:
                    entry[key] = completion_values(value_name)[0]
        menus[path] = entry
    # every menu path of every version: lets the lab tell "no such command prefix" (RouterOS has no
    # such menu) from "not emulated" (RouterOS has it, the lab does not)
    all_paths = {}
    for v in versions:
        for path in dir_paths(trees[v], ""):
            all_paths.setdefault(path, []).append(v)
    return {
        "_generated_by": "tests/roslab/tools/gen_inspect_tables.py",
        "_source": "RouterOS /console/inspect trees (tikoci/restraml), " + ", ".join(f for _, f in VERSION_FILES),
        "versions": versions,
        "deep_version": DEEP_VERSION,
        "menus": menus,
        "all_paths": dict((p, "*" if vs == versions else vs) for p, vs in sorted(all_paths.items())),
    }


def main(argv):
    src = argv[1] if len(argv) > 1 else "/work/shared/reference/routeros-inspect"
    table = build(src)
    with open(OUT, "w") as f:
        json.dump(table, f, indent=0, sort_keys=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d menus)" % (os.path.normpath(OUT), len(table["menus"])))


if __name__ == "__main__":
    main(sys.argv)
