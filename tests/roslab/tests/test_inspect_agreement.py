"""The lab's menus, argument names and allowed values agree with RouterOS's own /console/inspect trees.

Reads the original trees (not the lab's generated table) from ``../shared/reference`` beside the checkout (``labfixtures.reference_file``: absent, it fails in CI
and skips, saying where, elsewhere).
"""

import json

import pytest

from labfixtures import reference_file
from roslab import schema
from roslab.errors import RosTrap
from roslab.menus import build_router


TREE_FILES = {"7.22.2": "7.22.2-deep.json"}
LAB_ONLY_ARGS = {"numbers", "copy-from", "place-before"}


def _tree(version, cache={}):
    if version not in cache:
        name = TREE_FILES.get(version, version + ".json")
        with open(reference_file("routeros-inspect", name)) as f:
            cache[version] = json.load(f)
    return cache[version]


def _node(tree, path):
    node = tree
    for part in path.strip("/").split("/"):
        if part not in node:
            return None
        node = node[part]
    return node


def _args(node, cmd):
    return set(k for k, v in node.get(cmd, {}).items() if not k.startswith("_") and v.get("_type") == "arg")


VERSIONS = schema.emulated_versions()
MENUS = schema.emulated_menus()


@pytest.mark.parametrize("version", VERSIONS)
def test_menu_presence_and_commands(version):
    tree = _tree(version)
    for path in MENUS:
        node = _node(tree, path)
        sch = schema.menu_schema(path, version)
        real_commands = set(k for k, v in node.items() if isinstance(v, dict) and v.get("_type") == "cmd") \
            if node else set()
        if not real_commands:
            assert sch is None or not sch.commands, path
            continue
        assert sch is not None, path
        assert set(sch.commands) == real_commands, path


@pytest.mark.parametrize("version", VERSIONS)
def test_argument_names(version):
    tree = _tree(version)
    for path in MENUS:
        node = _node(tree, path)
        sch = schema.menu_schema(path, version)
        if sch is None:
            continue
        real = (_args(node, "add") | _args(node, "set")) - LAB_ONLY_ARGS
        assert set(sch.writable) == real, path
        for name in sch.mandatory:
            assert name in real, (path, name)
        for name in sch.defaults:
            assert name in real, (path, name)


def _deep_values(path, arg):
    node = _node(_tree("7.22.2"), path)
    for cmd in ("add", "set"):
        spec = node.get(cmd, {}).get(arg)
        if spec and spec.get("_completion"):
            return set(k for k, v in spec["_completion"].items() if v.get("style") != "syntax-meta")
    return None


def test_enum_values_match_deep_inspect():
    for path in MENUS:
        sch = schema.menu_schema(path, "7.22.2")
        for arg in sch.arg_specs.values():
            if arg.kind not in ("enum", "enum-list") or path == "/user":
                continue
            real = _deep_values(path, arg.name)
            assert real is not None, (path, arg.name)
            assert set(arg.values) == real, (path, arg.name)


@pytest.mark.parametrize("version", VERSIONS)
def test_desc_enum_lists_per_version(version):
    """Where inspect spells a value list in `desc` (dh-group, enc-algorithm), each version's own list."""
    tree = _tree(version)
    for path in MENUS:
        sch = schema.menu_schema(path, version)
        node = _node(tree, path)
        if sch is None:
            continue
        for arg in sch.arg_specs.values():
            desc = (node.get("add", {}).get(arg.name) or node.get("set", {}).get(arg.name) or {}).get("desc", "")
            if arg.kind == "enum-list" and "|" in desc and "[," in desc:
                listed = set(desc.split("[")[0].split("|"))
                assert listed <= set(arg.values), (version, path, arg.name)
                # anything beyond this version's list comes from the 7.22.2 completions
                assert set(arg.values) - listed <= (_deep_values(path, arg.name) or set()), (version, path, arg.name)


ENUM_MENUS = {
    "/ip/ipsec/profile": {"name": "x"},
    "/ip/ipsec/proposal": {"name": "x"},
    "/ip/ipsec/peer": {"name": "x"},
}


@pytest.mark.parametrize("path", sorted(ENUM_MENUS))
def test_router_accepts_every_completed_value_and_refuses_others(path):
    base = ENUM_MENUS[path]
    sch = schema.menu_schema(path, "7.22.2")
    for arg in sch.arg_specs.values():
        if arg.kind not in ("enum", "enum-list"):
            continue
        for value in sorted(_deep_values(path, arg.name)):
            router = build_router("r")
            router.execute(path + "/add", dict(base, **{arg.name: value}), [])
        router = build_router("r")
        with pytest.raises(RosTrap) as err:
            router.execute(path + "/add", dict(base, **{arg.name: "not-a-value"}), [])
        assert err.value.message == "input does not match any value of %s" % arg.name


def test_ipsec_argument_names_match_subset_schema():
    """The 7.22.2 subset schema the fidelity spec ships agrees with the lab's IPsec argument names."""
    with open(reference_file("routeros-7.22.2-inspect-subset.json")) as f:
        subset = json.load(f)["menus"]
    for path, info in subset.items():
        sch = schema.menu_schema(path, "7.22.2")
        if sch is None or "add_args" not in info:
            continue
        assert set(info["add_args"]) - LAB_ONLY_ARGS <= set(sch.writable), path


def _deep_properties(path):
    node = _node(_tree("7.22.2"), path)
    value_name = (node.get("get") or {}).get("value-name") or {}
    return set(k for k, v in (value_name.get("_completion") or {}).items() if v.get("style") != "syntax-meta")


def test_printed_properties_exist_in_routeros():
    """Every property the lab prints is one RouterOS 7.22.2 names for that menu (`get value-name`)."""
    router = build_router("hub", interfaces=[{"name": "ether1"}],
                          addresses=[{"address": "198.51.100.1/24", "interface": "ether1"}])
    for command, attrs in (
            ("/interface/gre/add", {"name": "g", "remote-address": "198.51.100.2", "ipsec-secret": "x"}),
            ("/interface/ipip/add", {"name": "i", "remote-address": "198.51.100.3"}),
            ("/interface/eoip/add", {"name": "e", "remote-address": "198.51.100.4", "tunnel-id": "1"}),
            ("/interface/vrrp/add", {"interface": "ether1"}),
            ("/interface/list/add", {"name": "WAN"}),
            ("/interface/list/member/add", {"list": "WAN", "interface": "ether1"}),
            ("/ip/firewall/address-list/add", {"list": "l", "address": "192.0.2.1", "timeout": "1h"}),
            ("/ip/firewall/filter/add", {"chain": "input", "protocol": "udp", "dst-port": "500"}),
            ("/ip/firewall/nat/add", {"chain": "srcnat", "action": "masquerade"}),
            ("/ip/firewall/raw/add", {"chain": "prerouting", "action": "notrack"}),
            ("/ip/firewall/mangle/add", {"chain": "forward", "action": "change-mss", "new-mss": "1360"}),
            ("/ip/ipsec/profile/add", {"name": "p"}),
            ("/ip/ipsec/peer/add", {"name": "peer1", "address": "198.51.100.9", "profile": "p"}),
            ("/ip/ipsec/identity/add", {"peer": "peer1", "secret": "s"}),
            ("/ip/ipsec/policy/add", {"peer": "peer1", "tunnel": "yes", "src-address": "10.1.0.0/24",
                                      "dst-address": "10.2.0.0/24"}),
            ("/ip/ipsec/mode-config/add", {"name": "m", "responder": "yes"}),
            ("/tool/netwatch/add", {"host": "192.0.2.1"}),
            ("/system/scheduler/add", {"name": "s"}),
            ("/system/script/add", {"name": "s", "source": ":log info x"}),
            ("/ip/route/add", {"gateway": "198.51.100.254"}),
            ("/ip/pool/add", {"name": "pool", "ranges": "10.0.0.1-10.0.0.9"}),
            ("/certificate/add", {"name": "c", "common-name": "c"}),
            ("/user/add", {"name": "ops", "group": "read", "password": "pw"}),
            ("/export", {"file": "backup"})):
        router.execute(command, attrs, [])
    router.log("ipsec,info", "x")
    checked = 0
    for path in MENUS:
        real = _deep_properties(path)
        if not real:
            continue
        printed = set()
        for row in router.items(path):
            printed |= set(row)
        assert printed - {".id"} <= real, (path, sorted(printed - {".id"} - real))
        checked += 1
    assert checked > 30
