"""Ordered menus: owned items end in desired relative order with the fewest moves; others never move."""
from hypothesis import given, settings, strategies as st

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import apply
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.reconcile import (
    _longest_increasing_subsequence,
    plan_changes,
)

from reconcile_fakes import FakeSession

FILTER = "/ip/firewall/filter"
MENU = menus.MENUS[FILTER]


def rule(key, **extra):
    item = {"chain": "input", "action": "accept", "comment": "ipsecfleet:" + key}
    item.update(extra)
    return item


def owned_order(rows):
    return [menus.owner_key(MENU, row) for row in rows if menus.owner_key(MENU, row) and row.get("dynamic") != "true"]


def foreign_order(rows):
    return [row[".id"] for row in rows if not menus.owner_key(MENU, row) or row.get("dynamic") == "true"]


def test_zero_moves_when_order_is_right():
    rows = [{".id": "*1", "chain": "forward", "action": "passthrough", "dynamic": "true"},
            dict(rule("a"), **{".id": "*2"}), {".id": "*3", "chain": "input", "action": "drop"},
            dict(rule("b"), **{".id": "*4"})]
    plan = plan_changes(MENU, rows, [rule("a"), rule("b")], "merged")
    assert plan.operations == [] and plan.removals == []


def test_new_rules_go_to_the_anchor():
    rows = [{".id": "*1", "chain": "forward", "action": "passthrough", "dynamic": "true"},
            {".id": "*2", "chain": "input", "action": "accept", "connection-state": "established"},
            {".id": "*3", "chain": "input", "action": "drop", "comment": "drop all"}]

    def before_drop(current):
        return [row[".id"] for row in current if row.get("comment") == "drop all"][0]

    session = FakeSession({FILTER: rows})
    result = apply(session, {"filter": [rule("a"), rule("b")]}, "merged", anchors={FILTER: before_drop})
    assert [row[".id"] for row in session.menus[FILTER]][:2] == ["*1", "*2"]
    assert owned_order(session.menus[FILTER]) == ["a", "b"]
    assert session.menus[FILTER][-1][".id"] == "*3"
    assert result["commands"][0].endswith("place-before=*3")
    assert result["commands"][1].endswith("place-before=*3")


def test_lis():
    assert len(_longest_increasing_subsequence([3, 0, 1, 4, 2])) == 3
    assert _longest_increasing_subsequence([]) == []


keys = st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8)


@settings(max_examples=300, deadline=None)
@given(current=keys, wanted=keys, foreign=st.lists(st.integers(0, 8), max_size=4),
       dynamic_top=st.booleans(), state=st.sampled_from(["merged", "overridden"]))
def test_any_start_converges_in_order_with_minimal_moves(current, wanted, foreign, dynamic_top, state):
    rows = [rule(key, **{".id": "*%X" % (i + 10)}) for i, key in enumerate(current)]
    for n, position in enumerate(foreign):
        rows.insert(min(position, len(rows)), {".id": "*%X" % (n + 100), "chain": "input", "action": "drop"})
    if dynamic_top:
        rows.insert(0, {".id": "*1", "chain": "forward", "action": "passthrough", "dynamic": "true",
                        "comment": "ipsecfleet:a"})
    session = FakeSession({FILTER: rows})
    foreign_before = foreign_order(rows)
    apply(session, {"filter": [rule(k) for k in wanted]}, state)
    after = session.menus[FILTER]
    assert foreign_order(after) == foreign_before
    if state == "overridden":
        assert owned_order(after) == wanted
    else:
        assert [k for k in owned_order(after) if k in wanted] == wanted
    kept = [k for k in current if k in wanted]
    lis = len(_longest_increasing_subsequence([wanted.index(k) for k in kept]))
    moves = [entry for entry in session.log if entry[0] == "move"]
    assert len(moves) == len(kept) - lis
    # idempotent: nothing more to do
    assert apply(FakeSession(session.menus), {"filter": [rule(k) for k in wanted]}, state)["writes"] == 0
