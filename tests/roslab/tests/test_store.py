"""roslab.store: ids, ordering, print/queries and the generic verbs with RouterOS error texts."""

import pytest
from hypothesis import given, settings, strategies as st

from roslab.errors import RosTrap
from labfixtures import add, one_router, rows, run
from roslab.menus import build_router
from roslab.store import Result, compile_query, query_matches

PEER = "/ip/ipsec/peer"
FILTER = "/ip/firewall/filter"
ALIST = "/ip/firewall/address-list"


@pytest.fixture
def router():
    return one_router("r1")


def trap_of(router, command, queries=(), **attrs):
    with pytest.raises(RosTrap) as err:
        router.execute(command, attrs, list(queries))
    return err.value


# --- queries -------------------------------------------------------------------------------------
ROW = {".id": "*1", "name": "a", "port": "500", "disabled": "false"}


@pytest.mark.parametrize("queries,expected", [
    ([], True),
    (["name=a"], True), (["=name=a"], True), (["name=b"], False),
    (["name"], True), (["address"], False), (["-address"], True), (["-name"], False),
    (["<port=600"], True), ([">port=600"], False), ([">port=100"], True),
    (["name=b", "name=a", "#|"], True), (["name=b", "name=c", "#|"], False),
    (["name=a", "port=1", "#&"], False), (["name=a", "port=500", "#&"], True),
    (["name=b", "#!"], True), (["name=a", "#!"], False),
    (["name=b", "#."], False), (["name=a", "#.&"], True),
    (["name=a", "port=1", "#0"], False),            # copy of the top (false) is pushed
    (["name=a", "port=1", "#1", "#|"], True),       # copy of the item below the top: true | false
    (["disabled=no"], True), ([".id=*1"], True),
])
def test_query_stack(queries, expected):
    assert query_matches(ROW, queries) is expected


# --- ids, add, print ---------------------------------------------------------------------------
def test_ids_are_uppercase_hex_and_never_reused(router):
    first = add(router, ALIST, list="l", address="10.0.0.1")
    run(router, ALIST + "/remove", **{".id": first})
    ids = [add(router, ALIST, list="l", address="10.0.0.%d" % n) for n in range(2, 20)]
    assert first not in ids
    for item_id in ids:
        assert item_id.startswith("*") and item_id[1:] == item_id[1:].upper()
        int(item_id[1:], 16)
    assert len(set(ids)) == len(ids)
    assert any(any(c in "ABCDEF" for c in i[1:]) for i in ids)


def test_add_returns_ret_and_print_shows_defaults(router):
    ret = add(router, PEER, name="p1", address="203.0.113.2")
    (row,) = rows(router, PEER, ["name=p1"])
    assert row[".id"] == ret
    assert row["address"] == "203.0.113.2/32"
    assert row["exchange-mode"] == "main" and row["profile"] == "default"
    assert row["passive"] == "false" and row["send-initial-contact"] == "true"


def test_unset_optional_properties_are_absent(router):
    add(router, PEER, name="passive1", passive="yes")
    (row,) = rows(router, PEER, ["name=passive1"])
    assert "address" not in row and "port" not in row and "local-address" not in row
    assert row["passive"] == "true"


def test_proplist(router):
    add(router, PEER, name="p1", address="203.0.113.2")
    result = rows(router, PEER, **{".proplist": "name,address,nonexistent"})
    assert result == [{"name": "p1", "address": "203.0.113.2/32"}]
    result = rows(router, PEER, **{".proplist": ".id,name"})
    assert set(result[0]) == {".id", "name"}


def test_count_only(router):
    add(router, ALIST, list="a", address="10.0.0.1")
    add(router, ALIST, list="a", address="10.0.0.2")
    add(router, ALIST, list="b", address="10.0.0.3")
    result = run(router, ALIST + "/print", ["list=a"], **{"count-only": ""})
    assert result.rows == [] and result.done == {"ret": "2"}


def test_empty_reply_by_version():
    for version, expected in (("7.16.1", False), ("7.18", True), ("7.22.2", True)):
        router = build_router("r", version=version)
        result = router.execute(PEER + "/print", {}, [])
        assert result.rows == [] and result.empty is expected
        result = router.execute("/ip/ipsec/profile/print", {}, [])
        assert result.rows and result.empty is False


def test_result_shape():
    result = Result(rows=[{"a": "1"}], done={"ret": "*1"})
    assert result.rows == [{"a": "1"}] and result.done == {"ret": "*1"} and result.empty is False


def test_detail_is_accepted(router):
    assert rows(router, "/ip/ipsec/profile", detail="")[0]["name"] == "default"


# --- errors --------------------------------------------------------------------------------------
def test_unknown_parameter(router):
    err = trap_of(router, "/ip/ipsec/identity/add", peer="x", **{"peer-address": "1.2.3.4"})
    assert err.message == "unknown parameter peer-address"
    err = trap_of(router, "/ip/ipsec/profile/add", name="x", comment="c")
    assert err.message == "unknown parameter comment"


def test_readonly_property_is_unknown_parameter(router):
    # spec §1: `vrf` is reported by /ip/address print but is not an argument
    err = trap_of(router, "/ip/address/add", address="10.9.0.1/24", interface="ether2", vrf="main")
    assert err.message == "unknown parameter vrf"
    err = trap_of(router, FILTER + "/add", chain="input", bytes="5")
    assert err.message == "unknown parameter bytes"


def test_enum_mismatch(router):
    err = trap_of(router, "/ip/ipsec/profile/add", name="x", **{"hash-algorithm": "sha3"})
    assert (err.message, err.category) == ("input does not match any value of hash-algorithm", 1)
    err = trap_of(router, "/ip/ipsec/profile/add", name="x", **{"enc-algorithm": "aes-256,blowfish"})
    assert err.message == "input does not match any value of enc-algorithm"


def test_reference_mismatch(router):
    err = trap_of(router, "/ip/ipsec/identity/add", peer="ghost", secret="s")
    assert (err.message, err.category) == ("input does not match any value of peer", 1)
    err = trap_of(router, PEER + "/add", name="p", profile="ghost")
    assert err.message == "input does not match any value of profile"
    err = trap_of(router, "/ip/ipsec/policy/add", peer="ghost", **{"dst-address": "10.0.0.0/24"})
    assert err.message == "input does not match any value of peer"


def test_invalid_value(router):
    err = trap_of(router, PEER + "/add", name="p", port="abc")
    assert err.message == "invalid value for argument port"
    err = trap_of(router, "/ip/ipsec/profile/add", name="x", lifetime="forever")
    assert err.message == "invalid value for argument lifetime"
    err = trap_of(router, "/ip/ipsec/profile/add", name="x", **{"dpd-interval": "2h"})
    assert err.message == "invalid value for argument dpd-interval"
    err = trap_of(router, "/ip/ipsec/profile/add", name="x", **{"dpd-maximum-failures": "0"})
    assert err.message == "invalid value for argument dpd-maximum-failures"


def test_no_such_item(router):
    for verb in ("set", "remove", "enable", "disable"):
        err = trap_of(router, PEER + "/" + verb, **{".id": "*FFFF"})
        assert err.message == "no such item (4)"


def test_missing_mandatory(router):
    err = trap_of(router, "/ip/ipsec/identity/add", secret="s")
    assert err.message.startswith("missing value(s) of argument(s)") and "peer" in err.message
    err = trap_of(router, ALIST + "/add", list="x")
    assert "address" in err.message


def test_unknown_menu_and_verb(router):
    assert trap_of(router, "/interface/ipsec/add", name="x").message == "no such command prefix"
    assert trap_of(router, "/ip/ipsec/remote-peers/print").message == "no such command prefix"
    err = trap_of(router, PEER + "/frobnicate")
    assert (err.message, err.category) == ("no such command", 0)
    assert trap_of(router, PEER).message == "no such command"        # a menu is not a command
    # the profile menu has no enable/disable (inspect)
    assert trap_of(router, "/ip/ipsec/profile/disable", **{".id": "default"}).message == "no such command"


def test_duplicate_texts(router):
    add(router, ALIST, list="l", address="203.0.113.77/24")
    err = trap_of(router, ALIST + "/add", list="l", address="203.0.113.0/24")
    assert err.message == "failure: already have such entry"
    err = trap_of(router, "/ip/address/add", address="198.51.100.1/24", interface="ether1")
    assert err.message == "failure: already have such address"
    add(router, "/system/script", name="s1")
    assert trap_of(router, "/system/script/add", name="s1").message == "failure: item with such name already exists"
    add(router, "/ip/ipsec/profile", name="x")
    err = trap_of(router, "/ip/ipsec/profile/add", name="x")   # UNCONFIRMED text: assert the class
    assert err.message.startswith("failure:")


# --- set, unset, reset, enable/disable, remove -----------------------------------------------------
def test_set_by_id_and_by_name(router):
    ret = add(router, PEER, name="p1", address="203.0.113.2")
    run(router, PEER + "/set", **{".id": ret, "exchange-mode": "ike2"})
    run(router, PEER + "/set", numbers="p1", comment="hello")
    (row,) = rows(router, PEER)
    assert row["exchange-mode"] == "ike2" and row["comment"] == "hello"


def test_set_bang_unsets(router):
    ret = add(router, PEER, name="p1", address="203.0.113.2", port="4500", comment="c")
    run(router, PEER + "/set", **{".id": ret, "!port": "", "!comment": "", "!exchange-mode": ""})
    (row,) = rows(router, PEER)
    assert "port" not in row and "comment" not in row
    assert row["exchange-mode"] == "main"   # back to its default


def test_set_comma_list_of_ids(router):
    a = add(router, ALIST, list="l", address="10.0.0.1")
    b = add(router, ALIST, list="l", address="10.0.0.2")
    run(router, ALIST + "/set", **{".id": a + "," + b, "comment": "both"})
    assert [r["comment"] for r in rows(router, ALIST)] == ["both", "both"]


def test_unset_command(router):
    ret = add(router, FILTER, chain="input", protocol="udp", **{"dst-port": "500"})
    run(router, FILTER + "/unset", **{"numbers": ret, "value-name": "dst-port"})
    row = rows(router, FILTER, [".id=" + ret])[0]
    assert "dst-port" not in row and row["protocol"] == "udp"


def test_reset_returns_defaults(router):
    run(router, "/ip/ipsec/settings/set", **{"interim-update": "5m", "accounting": "no"})
    assert rows(router, "/ip/ipsec/settings")[0]["interim-update"] == "5m"
    run(router, "/ip/ipsec/settings/reset")
    row = rows(router, "/ip/ipsec/settings")[0]
    assert row["interim-update"] == "0s" and row["accounting"] == "true"
    ret = add(router, "/ip/ipsec/profile", name="x", lifetime="8h")
    run(router, "/ip/ipsec/profile/reset", **{".id": ret, "lifetime": ""})
    assert rows(router, "/ip/ipsec/profile", ["name=x"])[0]["lifetime"] == "1d"


def test_enable_disable(router):
    ret = add(router, FILTER, chain="input")
    run(router, FILTER + "/disable", **{".id": ret})
    assert rows(router, FILTER, [".id=" + ret])[0]["disabled"] == "true"
    run(router, FILTER + "/enable", **{".id": ret})
    assert rows(router, FILTER, [".id=" + ret])[0]["disabled"] == "false"


def test_remove(router):
    a = add(router, ALIST, list="l", address="10.0.0.1")
    b = add(router, ALIST, list="l", address="10.0.0.2")
    run(router, ALIST + "/remove", **{".id": a})
    assert [r[".id"] for r in rows(router, ALIST)] == [b]
    assert trap_of(router, ALIST + "/remove", **{".id": a}).message == "no such item (4)"


def test_booleans_print_true_false(router):
    add(router, PEER, name="p1", passive="yes", **{"send-initial-contact": "no"})
    row = rows(router, PEER)[0]
    assert row["passive"] == "true" and row["send-initial-contact"] == "false"
    assert len(rows(router, PEER, ["passive=yes"])) == 1


def test_durations_compact(router):
    add(router, "/ip/ipsec/profile", name="x", lifetime="00:30:00", **{"dpd-interval": "90"})
    row = rows(router, "/ip/ipsec/profile", ["name=x"])[0]
    assert row["lifetime"] == "30m" and row["dpd-interval"] == "1m30s"
    add(router, "/ip/ipsec/proposal", name="p", lifetime="1h30m")
    assert rows(router, "/ip/ipsec/proposal", ["name=p"])[0]["lifetime"] == "1h30m"


def test_address_list_host_bits(router):
    add(router, ALIST, list="l", address="203.0.113.77/24")
    add(router, ALIST, list="l", address="198.51.100.9/32")
    assert [r["address"] for r in rows(router, ALIST)] == ["203.0.113.0/24", "198.51.100.9"]


# --- ordering: move and place-before -------------------------------------------------------------
def _filter_ids(router):
    return [r[".id"] for r in rows(router, FILTER)]


def test_move_and_place_before(router):
    fast = _filter_ids(router)[0]
    a = add(router, FILTER, chain="input", comment="a")
    b = add(router, FILTER, chain="input", comment="b")
    c = add(router, FILTER, chain="input", comment="c")
    assert _filter_ids(router) == [fast, a, b, c]
    run(router, FILTER + "/move", numbers=c, destination=a)
    assert _filter_ids(router) == [fast, c, a, b]
    run(router, FILTER + "/move", numbers=c)                 # no destination: to the end
    assert _filter_ids(router) == [fast, a, b, c]
    run(router, FILTER + "/move", numbers=b + "," + c, destination=a)
    assert _filter_ids(router) == [fast, b, c, a]
    d = add(router, FILTER, chain="input", comment="d", **{"place-before": c})
    assert _filter_ids(router) == [fast, b, d, c, a]
    err = trap_of(router, FILTER + "/add", chain="input", **{"place-before": "*FFFF"})
    assert err.message == "no such item (4)"


def test_place_before_on_unordered_menu_is_unknown(router):
    a = add(router, ALIST, list="l", address="10.0.0.1")
    err = trap_of(router, ALIST + "/add", list="l", address="10.0.0.2", **{"place-before": a})
    assert err.message == "unknown parameter place-before"


# --- firewall matcher values ------------------------------------------------------------------------
def test_firewall_protocol_names_and_numbers(router):
    add(router, FILTER, chain="input", protocol="ipsec-esp")
    add(router, FILTER, chain="input", protocol="50")
    add(router, FILTER, chain="input", protocol="!tcp")
    err = trap_of(router, FILTER + "/add", chain="input", protocol="esp")
    assert (err.message, err.category) == ("input does not match any value of protocol", 1)
    assert trap_of(router, FILTER + "/add", chain="input", protocol="256").message.endswith("protocol")


def test_firewall_addresses(router):
    add(router, FILTER, chain="forward", **{"src-address": "10.10.0.0/24", "dst-address": "!10.20.0.0/24"})
    add(router, FILTER, chain="forward", **{"src-address": "10.10.0.1-10.10.0.9"})
    err = trap_of(router, FILTER + "/add", chain="forward", **{"src-address": "10.10.0.300"})
    assert err.message == "invalid value for argument src-address"


def test_connection_state_list_and_negation(router):
    add(router, FILTER, chain="forward", **{"connection-state": "established,related"})
    add(router, FILTER, chain="forward", **{"connection-state": "!invalid"})
    err = trap_of(router, FILTER + "/add", chain="forward", **{"connection-state": "established,bogus"})
    assert err.message == "input does not match any value of connection-state"


def test_ipsec_policy_matcher(router):
    add(router, FILTER, chain="forward", **{"ipsec-policy": "in,ipsec"})
    add(router, FILTER, chain="forward", **{"ipsec-policy": "out"})
    assert trap_of(router, FILTER + "/add", chain="forward", **{"ipsec-policy": "sideways,ipsec"}).category == 1


def test_log_prefix_length_limit_from_7_21():
    long_prefix = "x" * 32
    old = build_router("old", version="7.20.8")
    old.execute(FILTER + "/add", {"chain": "input", "log-prefix": long_prefix}, [])
    new = build_router("new", version="7.21.5")
    with pytest.raises(RosTrap) as err:
        new.execute(FILTER + "/add", {"chain": "input", "log-prefix": long_prefix}, [])
    assert err.value.category == 1
    new.execute(FILTER + "/add", {"chain": "input", "log-prefix": "x" * 31}, [])


def test_address_list_timeout_makes_entry_dynamic(router):
    ret = add(router, ALIST, list="l", address="10.0.0.1", timeout="1h")
    (row,) = rows(router, ALIST)
    assert row["dynamic"] == "true" and row["timeout"] == "1h" and "creation-time" in row
    run(router, ALIST + "/set", **{".id": ret, "comment": "still editable"})
    run(router, ALIST + "/remove", **{".id": ret})
    assert rows(router, ALIST) == []


# --- ordering invariants under random edits -------------------------------------------------------
EDIT = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 20)),
    st.tuples(st.just("add-before"), st.integers(0, 20)),
    st.tuples(st.just("remove"), st.integers(0, 20)),
    st.tuples(st.just("move"), st.integers(0, 20), st.one_of(st.none(), st.integers(0, 20))),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(EDIT, max_size=25))
def test_filter_order_matches_a_list_model(edits):
    """add/place-before/move/remove keep the order a plain list model predicts; ids are never reused
    and the fasttrack counter rule stays first."""
    router = build_router("r")
    fast = _filter_ids(router)[0]
    model, seen = [], set()
    for edit in edits:
        if edit[0] == "add" or (edit[0] == "add-before" and not model):
            new = add(router, FILTER, chain="input")
            model.append(new)
        elif edit[0] == "add-before":
            target = model[edit[1] % len(model)]
            new = add(router, FILTER, chain="input", **{"place-before": target})
            model.insert(model.index(target), new)
        elif edit[0] == "remove" and model:
            victim = model.pop(edit[1] % len(model))
            run(router, FILTER + "/remove", **{".id": victim})
            continue
        elif edit[0] == "move" and model:
            item = model[edit[1] % len(model)]
            attrs = {"numbers": item}
            dest = None if edit[2] is None else model[edit[2] % len(model)]
            if dest is not None:
                attrs["destination"] = dest
            run(router, FILTER + "/move", **attrs)
            if dest != item:
                model.remove(item)
                model.insert(model.index(dest) if dest is not None else len(model), item)
            continue
        else:
            continue
        assert new not in seen
        seen.add(new)
    assert _filter_ids(router) == [fast] + model


WORD = st.one_of(
    st.builds(lambda n, v: "%s=%s" % (n, v), st.sampled_from(["name", "port", "disabled", "x"]),
              st.sampled_from(["a", "500", "no", "false", ""])),
    st.builds(lambda n, v: "=%s=%s" % (n, v), st.sampled_from(["name", ".id"]), st.sampled_from(["a", "*1"])),
    st.sampled_from(["name", "-name", "x", "-x", "<port=600", ">port=600", "#|", "#&", "#!", "#.", "#0", "#1|"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, max_size=6))
def test_compiled_query_agrees_with_the_stack_machine(words):
    assert bool(compile_query(words)(ROW)) == query_matches(ROW, words)


def test_unset_takes_only_optional_properties(router):
    ret = add(router, FILTER, chain="input", protocol="udp", comment="c")
    # inspect (7.22.2 unset value-name): matchers can be unset, chain/action/comment cannot
    err = trap_of(router, FILTER + "/unset", numbers=ret, **{"value-name": "chain"})
    assert (err.message, err.category) == ("input does not match any value of value-name", 1)
    run(router, FILTER + "/unset", numbers=ret, **{"value-name": "protocol"})
    assert "protocol" not in rows(router, FILTER, [".id=" + ret])[0]


def test_mandatory_argument_cannot_be_unset(router):
    add(router, PEER, name="p1", address="203.0.113.2")
    ret = add(router, "/ip/ipsec/identity", peer="p1", secret="s")
    err = trap_of(router, "/ip/ipsec/identity/set", **{".id": ret, "!peer": ""})
    assert "peer" in err.message
    assert rows(router, "/ip/ipsec/identity")[0]["peer"] == "p1"


def test_bad_query_operation_is_an_api_trap():
    with pytest.raises(RosTrap) as err:
        query_matches(ROW, ["name=a", "#x"])
    assert err.value.category == 5
