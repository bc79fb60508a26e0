"""Independent fidelity audit against RouterOS's own /console/inspect trees, per version.

For every menu the collection and the lab care about, and every lab version, through unmodified
librouteros:
- every ``add`` argument the version's inspect tree lists is a parameter (never ``unknown
  parameter X``), and every argument other versions list but this one does not IS unknown;
- every command the tree lists exists (never ``no such command``), commands it lacks do not;
- 7.22.2 (deep tree): read-only properties are unknown parameters, printed properties are
  RouterOS properties, and every offered enum completion is an accepted value.

The trees are read from ``../shared/reference`` beside the checkout (``labfixtures.reference_file``:
a missing tree fails in CI and skips, saying where, elsewhere).
"""

import functools
import itertools
import json

import pytest

from labfixtures import reference_file
from test_conformance_reference import (VERSIONS, VersionLab, expect_trap, raw, rows, run)

INSPECT_FILE = {v: ("7.22.2-deep.json" if v == "7.22.2" else v + ".json") for v in VERSIONS}

_serial = itertools.count(1)


def serial():
    return next(_serial)


def host():
    n = serial()
    return "100.80.%d.%d" % (n // 250 % 250, n % 250 + 1)


# mandatory arguments that let an add get past "missing value" to the argument under test
BASE_ARGS = {
    "/ip/ipsec/profile": lambda: {"name": "ins-prof-%d" % serial()},
    "/ip/ipsec/peer": lambda: {"name": "ins-peer-%d" % serial(), "address": host() + "/32"},
    "/ip/ipsec/proposal": lambda: {"name": "ins-prop-%d" % serial()},
    "/ip/ipsec/identity": lambda: {"peer": "ins-anchor"},
    "/ip/ipsec/policy": lambda: {"src-address": host() + "/32", "dst-address": host() + "/32"},
    "/ip/ipsec/policy/group": lambda: {"name": "ins-grp-%d" % serial()},
    "/ip/ipsec/mode-config": lambda: {"name": "ins-mc-%d" % serial()},
    "/ip/firewall/filter": lambda: {"chain": "ins"},
    "/ip/firewall/nat": lambda: {"chain": "ins"},
    "/ip/firewall/raw": lambda: {"chain": "ins"},
    "/ip/firewall/mangle": lambda: {"chain": "ins"},
    "/ip/firewall/address-list": lambda: {"list": "ins", "address": host()},
    "/interface/gre": lambda: {"name": "ins-gre-%d" % serial(), "remote-address": host()},
    "/interface/ipip": lambda: {"name": "ins-ipip-%d" % serial(), "remote-address": host()},
    "/interface/eoip": lambda: {"name": "ins-eoip-%d" % serial(), "remote-address": host(),
                                "tunnel-id": str(serial())},
    "/interface/vrrp": lambda: {"name": "ins-vrrp-%d" % serial(), "interface": "ether2",
                                "vrid": str(serial() % 255 + 1)},
    "/tool/netwatch": lambda: {"host": host()},
}
MENUS = sorted(BASE_ARGS)
# commands whose API form is not a plain verb call (console editors, scripting helpers)
CONSOLE_ONLY = {"edit", "find", "get"}
CANDIDATE_COMMANDS = ("add", "set", "remove", "print", "enable", "disable", "comment", "move",
                      "unset", "reset", "export", "reset-counters", "reset-counters-all")
# args whose completions in the deep tree name objects of the CHR it was taken from
INSTANCE_VALUED = {"copy-from", "interface", "in-interface", "out-interface", "in-interface-list",
                   "out-interface-list", "in-bridge-port", "out-bridge-port", "peer", "profile",
                   "proposal", "group", "mode-config", "policy-template-group", "certificate",
                   "remote-certificate", "key", "remote-key", "src-address-list",
                   "dst-address-list", "address-list", "jump-target", "routing-mark",
                   "connection-mark", "packet-mark", "new-routing-mark", "address-pool",
                   "layer7-protocol", "chain", "in-bridge-port-list", "out-bridge-port-list",
                   "to-addresses", "realm", "dns-server", "src-address", "group-authority",
                   "group-master", "notrack-chain", "hotspot", "new-connection-mark",
                   "new-packet-mark", "route-dst", "per-connection-classifier",
                   "priority", "new-priority", "ingress-priority"}
FAILURE_MESSAGES = ("unknown parameter ", "input does not match any value of ",
                    "invalid value for argument ")


@functools.lru_cache(maxsize=None)
def inspect_tree(version):
    path = reference_file("routeros-inspect", INSPECT_FILE[version])
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def node(version, menu):
    current = inspect_tree(version)
    for part in menu.strip("/").split("/"):
        current = current.get(part) if isinstance(current, dict) else None
        if current is None:
            return None
    return current


def children(entry):
    return {k: v for k, v in (entry or {}).items() if not k.startswith("_")}


def add_args(version, menu):
    return children(children(node(version, menu)).get("add"))


def commands(version, menu):
    return {k for k, v in children(node(version, menu)).items()
            if isinstance(v, dict) and v.get("_type") == "cmd"}


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    lab = VersionLab(tmp_path_factory.mktemp("reflab-inspect"))
    for version in VERSIONS:
        api = lab.api(version)
        run(api, "/ip/ipsec/peer/add", name="ins-anchor", address="100.79.0.1/32")
    yield lab
    lab.close()


def refused_as(trap, arg):
    """The message naming ``arg`` as unknown/bad, or None."""
    for prefix in FAILURE_MESSAGES:
        if trap.message == prefix + arg:
            return trap.message
    return None


def try_add(api, menu, arg, value):
    """None if the lab took the argument (even if the add failed for another reason)."""
    args = BASE_ARGS[menu]()
    args[arg] = value
    try:
        run(api, menu + "/add", **args)
    except Exception as exc:  # TrapError; anything else is a lab failure worth reporting
        message = getattr(exc, "message", None)
        if message is None:
            return repr(exc)
        return message if message == "unknown parameter " + arg else None
    return None


def sample_value(entry):
    completion = children(entry.get("_completion") if isinstance(entry, dict) else None)
    return next(iter(completion), "1")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("menu", MENUS)
def test_every_inspect_add_arg_is_a_parameter(versions, version, menu):
    api = versions.api(version)
    args = add_args(version, menu)
    assert args, "inspect %s has no %s add" % (version, menu)
    base = set(BASE_ARGS[menu]())
    wrong = {}
    for arg, entry in sorted(args.items()):
        if arg in base or arg == "copy-from":
            continue
        failure = try_add(api, menu, arg, sample_value(entry))
        if failure:
            wrong[arg] = failure
    assert wrong == {}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("menu", MENUS)
def test_args_of_other_versions_are_unknown_here(versions, version, menu):
    api = versions.api(version)
    here = set(add_args(version, menu))
    elsewhere = set().union(*(set(add_args(v, menu)) for v in VERSIONS)) - here
    wrong = {}
    for arg in sorted(elsewhere) + ["no-such-argument"]:
        args = BASE_ARGS[menu]()
        args[arg] = "1"
        try:
            run(api, menu + "/add", **args)
            wrong[arg] = "accepted"
        except Exception as exc:  # pylint: disable=broad-except
            message = getattr(exc, "message", repr(exc))
            if message != "unknown parameter " + arg:
                wrong[arg] = message
    assert wrong == {}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("menu", MENUS + ["/ip/ipsec/settings", "/ip/ipsec/active-peers",
                                          "/ip/ipsec/installed-sa", "/ip/ipsec/statistics"])
def test_inspect_commands_exist_and_others_do_not(versions, version, menu):
    api = versions.api(version)
    listed = commands(version, menu)
    assert listed, "inspect %s has no %s" % (version, menu)
    wrong = {}
    for command in sorted(set(CANDIDATE_COMMANDS) | listed):
        if command in CONSOLE_ONLY or command in ("add", "reset"):
            continue  # add is swept above; reset would undo other menus' state
        try:
            raw(api, "%s/%s" % (menu, command))
            answer = "ok"
        except Exception as exc:  # pylint: disable=broad-except
            answer = getattr(exc, "message", repr(exc))
        exists = answer != "no such command"
        if exists != (command in listed):
            wrong[command] = answer
    assert wrong == {}


# ------------------------------------------------------------------------------------------------
# 7.22.2: the subset's full property lists and the deep tree's completions


@functools.lru_cache(maxsize=None)
def subset():
    with open(reference_file("routeros-7.22.2-inspect-subset.json"), encoding="utf-8") as handle:
        return json.load(handle)["menus"]


def read_only(menu):
    entry = subset()[menu]
    return sorted(set(entry["all_properties"]) - set(entry.get("add_args", {}))
                  - set(entry.get("set_args", {}) or {}) - {"about"})


@pytest.mark.parametrize("menu", MENUS)
def test_read_only_properties_are_unknown_parameters(versions, menu):
    api = versions.api("7.22.2")
    wrong = {}
    for prop in read_only(menu):
        args = BASE_ARGS[menu]()
        args[prop] = "1"
        try:
            run(api, menu + "/add", **args)
            wrong[prop] = "accepted"
        except Exception as exc:  # pylint: disable=broad-except
            message = getattr(exc, "message", repr(exc))
            if message != "unknown parameter " + prop:
                wrong[prop] = message
    assert wrong == {}


@pytest.mark.parametrize("menu", MENUS + ["/ip/ipsec/settings", "/ip/ipsec/statistics"])
def test_printed_properties_are_routeros_properties(versions, menu):
    api = versions.api("7.22.2")
    if menu in BASE_ARGS:
        try:
            run(api, menu + "/add", **BASE_ARGS[menu]())
        except Exception:  # pylint: disable=broad-except
            pass  # the sweep above usually created items already
    known = set(subset()[menu]["all_properties"]) | {".id"}
    printed = set().union(*(set(r) for r in rows(api, menu)))
    assert printed, "nothing printed in " + menu
    assert printed - known == set()


def enum_completions(menu):
    out = []
    for arg, entry in sorted(add_args("7.22.2", menu).items()):
        if arg in INSTANCE_VALUED or not isinstance(entry, dict):
            continue
        completion = children(entry.get("_completion"))
        if ":" in completion:
            continue  # "fqdn" + ":" + ...: the console offers prefixes, not whole values
        for value, meta in completion.items():
            if meta.get("style") != "syntax-meta":  # e.g. the "!" negation prefix
                out.append((arg, value))
    return out


@pytest.mark.parametrize("menu", MENUS)
def test_deep_tree_completions_are_accepted_values(versions, menu):
    api = versions.api("7.22.2")
    wrong = {}
    for arg, value in enum_completions(menu):
        args = BASE_ARGS[menu]()
        args[arg] = value
        try:
            run(api, menu + "/add", **args)
        except Exception as exc:  # pylint: disable=broad-except
            message = getattr(exc, "message", repr(exc))
            if refused_as(exc, arg) if hasattr(exc, "message") else True:
                wrong["%s=%s" % (arg, value)] = message
    assert wrong == {}


# ------------------------------------------------------------------------------------------------
# /ip/ipsec/settings (set-only) and the key menus, per version


def set_args(version, menu):
    return children(children(node(version, menu)).get("set"))


@pytest.mark.parametrize("version", VERSIONS)
def test_settings_set_args_follow_inspect(versions, version):
    api = versions.api(version)
    menu = "/ip/ipsec/settings"
    here = set(set_args(version, menu))
    everywhere = set().union(*(set(set_args(v, menu)) for v in VERSIONS))
    assert here
    wrong = {}
    for arg in sorted(everywhere | {"no-such-argument"}):
        value = {"accounting": "yes", "xauth-use-radius": "no", "interim-update": "0s",
                 "ddos-cookie-threshold": "20"}.get(arg, "1")
        try:
            run(api, menu + "/set", **{arg: value})
            answer = "ok"
        except Exception as exc:  # pylint: disable=broad-except
            answer = getattr(exc, "message", repr(exc))
        unknown = answer == "unknown parameter " + arg
        if unknown == (arg in here):
            wrong[arg] = answer
    assert wrong == {}


KEY_MENUS = ["/ip/ipsec/key", "/ip/ipsec/key/rsa", "/ip/ipsec/key/psk", "/ip/ipsec/key/qkd"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("menu", KEY_MENUS)
def test_key_menu_commands_follow_inspect(versions, version, menu):
    api = versions.api(version)
    listed = commands(version, menu) if node(version, menu) is not None else set()
    try:
        raw(api, menu + "/print")
        answer = "ok"
    except Exception as exc:  # pylint: disable=broad-except
        answer = getattr(exc, "message", repr(exc))
    if "print" in listed:
        assert answer == "ok"
    elif node(version, menu) is not None:
        assert answer == "no such command"  # a directory of sub-menus, no print of its own
    else:
        assert answer == "no such command prefix"


@pytest.mark.parametrize("version", VERSIONS)
def test_key_psk_add_args_follow_inspect(versions, version):
    menu = "/ip/ipsec/key/psk"
    api = versions.api(version)
    if node(version, menu) is None:      # 7.21 added key/psk: before it the menu does not exist
        trap = expect_trap(api, menu + "/add", id="kid", key="0x00", peer="ins-anchor")
        assert trap.message == "no such command prefix"
        return
    listed = set(add_args(version, menu)) - {"copy-from"}
    assert listed == {"id", "key", "peer"}
    trap = expect_trap(api, menu + "/add", id="kid", key="0x00", peer="ins-anchor",
                       **{"no-such-argument": "1"})
    assert trap.message == "unknown parameter no-such-argument"
    try:
        run(api, menu + "/add", id="kid-%d" % serial(), key="0x0011", peer="ins-anchor")
    except Exception as exc:  # pylint: disable=broad-except
        assert not getattr(exc, "message", "").startswith("unknown parameter")


# ------------------------------------------------------------------------------------------------
# set: the same argument names as inspect's "set", read-only properties unknown


def fresh_item(api, menu):
    for _ in range(5):  # base args are unique per call; retry past an occasional clash
        try:
            return run(api, menu + "/add", **BASE_ARGS[menu]())[0]["ret"]
        except Exception:  # pylint: disable=broad-except
            continue
    raise AssertionError("could not add a %s item" % menu)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("menu", MENUS)
def test_every_inspect_set_arg_is_a_parameter(versions, version, menu):
    api = versions.api(version)
    item = fresh_item(api, menu)
    wrong = {}
    for arg, entry in sorted(set_args(version, menu).items()):
        if arg in ("numbers", "name", "list", "address", "interface", "peer"):
            continue  # identity of the test item
        try:
            run(api, menu + "/set", **{".id": item, arg: sample_value(entry)})
        except Exception as exc:  # pylint: disable=broad-except
            message = getattr(exc, "message", repr(exc))
            if message == "unknown parameter " + arg or message == "no such item (4)":
                wrong[arg] = message
    assert wrong == {}


@pytest.mark.parametrize("menu", MENUS)
def test_read_only_properties_are_unknown_to_set(versions, menu):
    api = versions.api("7.22.2")
    item = fresh_item(api, menu)
    wrong = {}
    for prop in read_only(menu):
        try:
            run(api, menu + "/set", **{".id": item, prop: "1"})
            wrong[prop] = "accepted"
        except Exception as exc:  # pylint: disable=broad-except
            message = getattr(exc, "message", repr(exc))
            if message != "unknown parameter " + prop:
                wrong[prop] = message
    assert wrong == {}
