"""Placement of the managed blocks among foreign rules: planned with the one engine, applied to an
in-memory session, then checked (blocks in place, foreign/dynamic rows untouched, re-runs write nothing)."""
import copy
import random

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import placement as fpl
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import firewall as fp
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus

from reconcile_fakes import FakeSession
from test_firewall_layouts import (DYNAMIC_DUMMY, FILTER, LAYOUTS, MANGLE, NAT, RAW, layout)

TUNNELS = [
    {"peer_address": "203.0.113.2", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.20.0.0/24"]},
    {"peer_address": "203.0.113.3", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.30.0.0/24"],
     "ipsec_protocols": "ah"},
]


def run(session, plan, state="merged"):
    rows = dict((path, session.read(path)) for path in fpl.FIREWALL_PATHS)
    operations = fpl.plan_all(rows, plan.sections, plan.blocks, state, session)
    reconcile.execute(session, operations)
    return operations


def foreign_rows(session, path):
    menu = menus.MENUS[path]
    return [row for row in session.menus.get(path, []) if menus.owner_key(menu, row) is None]


def assert_converged(session, plan, before):
    for path in fpl.FIREWALL_PATHS:
        menu = menus.MENUS[path]
        rows = session.menus.get(path, [])
        # foreign and dynamic rows: same rows, same relative order, never written
        assert foreign_rows(session, path) == [r for r in before.get(path, []) if menus.owner_key(menu, r) is None]
        assert fpl.violations(rows, plan.blocks) == []
        if menu.ordered:
            assert [r for r in rows if reconcile.is_dynamic(r)] == [r for r in before.get(path, []) if reconcile.is_dynamic(r)]
        if before.get(path) and reconcile.is_dynamic(before[path][0]):
            assert rows[0] == before[path][0]  # the v7 dummy fasttrack rule stays on top
        owned = [menus.owner_key(menu, r) for r in rows if menus.owner_key(menu, r)]
        wanted = [fp.item_key(item) for item in plan.sections[menu.section]]
        # owned rules of each block keep the plan's order
        for block in fpl.BLOCKS:
            in_block = [k for k in wanted if plan.blocks.get(k) == block]
            assert [k for k in owned if k in in_block] == in_block
        assert sorted(owned) == sorted(wanted)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("options", [{}, {"fasttrack_bypass": "accept", "nat_bypass": "prefixes"}])
def test_blocks_land_in_place_and_rerun_is_silent(name, options):
    before = layout(name)
    session = FakeSession(before)
    plan = fp.derive(TUNNELS, options)
    run(session, plan)
    assert_converged(session, plan, before)
    writes = session.writes
    assert run(session, plan) == []
    assert session.writes == writes


def test_defconf_exact_positions():
    before = layout("defconf")
    session = FakeSession(before)
    plan = fp.derive(TUNNELS)
    run(session, plan)
    rows = session.menus[FILTER]
    labels = [menus.owner_key(menus.MENUS[FILTER], r) or r[".id"] for r in rows]
    first_input_drop = labels.index("*2")
    # dynamic dummy untouched at the top, input block after "accept established" and before "drop invalid"
    assert labels[0] == DYNAMIC_DUMMY[".id"] and labels[1] == "*1"
    assert labels[2:first_input_drop] == [k for k in plan.keys("filter") if plan.blocks[k] == "input"]
    fasttrack = labels.index("*8")
    assert labels[fasttrack - 2:fasttrack] == ["fw-fwd-ipsec-in", "fw-fwd-ipsec-out"]
    assert labels[fasttrack + 1] == "*9"  # foreign accept established stays right after fasttrack
    assert labels[labels.index("*A") - 2:labels.index("*A")] == ["fw-fwd-established", "fw-fwd-invalid"]
    nat = [menus.owner_key(menus.MENUS[NAT], r) or r[".id"] for r in session.menus[NAT]]
    assert nat == ["fw-nat-bypass", "*1"]


def test_dynamic_rule_is_never_a_place_before_target():
    session = FakeSession(layout("dynamic-only"))
    operations = run(session, fp.derive(TUNNELS))
    assert all(op.before != DYNAMIC_DUMMY[".id"] for op in operations)
    assert session.menus[FILTER][0] == DYNAMIC_DUMMY


def test_forward_state_block_goes_after_fasttrack_even_when_a_drop_precedes_it():
    session = FakeSession(layout("drop-first"))
    plan = fp.derive(TUNNELS)
    run(session, plan)
    labels = [menus.owner_key(menus.MENUS[FILTER], r) or r[".id"] for r in session.menus[FILTER]]
    assert labels.index("fw-fwd-ipsec-in") < labels.index("*1")      # before the foreign forward drop
    assert labels.index("fw-fwd-established") > labels.index("*3")   # after fasttrack
    assert labels.index("fw-in-ike-established") < labels.index("*2")  # before the input reject


def test_foreign_drop_inserted_above_the_block_is_fixed_with_few_moves():
    session = FakeSession(layout("defconf"))
    plan = fp.derive(TUNNELS)
    run(session, plan)
    # the operator inserts a drop at the top of input, above our block
    rows = session.menus[FILTER]
    rows.insert(1, {".id": "*99", "chain": "input", "action": "drop", "src-address": "198.18.0.0/15"})
    snapshot = copy.deepcopy(session.menus)
    operations = run(session, plan)
    in_block = [k for k in plan.blocks if plan.blocks[k] == "input"]
    assert [op.action for op in operations] == ["move"] * len(in_block)
    assert all(op.before == "*99" for op in operations)
    assert_converged(session, plan, snapshot)
    assert run(session, plan) == []


def test_deleted_and_overridden_leave_foreign_rules_alone():
    before = layout("defconf-extra")
    session = FakeSession(before)
    plan = fp.derive(TUNNELS)
    run(session, plan)

    def ah_actions():
        return sorted(r["action"] for r in session.menus[FILTER] if r.get("protocol") == "ipsec-ah")
    assert ah_actions() == ["accept", "drop"]  # the second tunnel uses AH
    smaller = fp.derive(TUNNELS[:1], {"mss": "none"})
    run(session, smaller, "overridden")
    assert_converged(session, smaller, before)
    assert ah_actions() == ["drop"]  # AH is no longer accepted from anyone
    run(session, smaller, "deleted")
    for path, rows in before.items():
        assert session.menus[path] == rows


def test_replaced_restores_a_hand_edited_rule():
    session = FakeSession(layout("defconf"))
    plan = fp.derive(TUNNELS)
    run(session, plan)
    rule = next(r for r in session.menus[FILTER] if r.get("comment", "").startswith("ipsecfleet:fw-in-ike-new"))
    rule["limit"] = "1000,1000:packet"
    rule["log"] = "true"
    operations = run(session, plan, "replaced")
    assert [(op.action, op.key) for op in operations] == [("set", "fw-in-ike-new")]
    assert rule["limit"] == "10,5:packet" and rule.get("log") in (None, "no", "false")


def test_misplaced_rule_inside_a_block_is_reordered_not_readded():
    session = FakeSession(layout("defconf"))
    plan = fp.derive(TUNNELS)
    run(session, plan)
    rows = session.menus[FILTER]
    index = next(i for i, r in enumerate(rows) if r.get("comment", "").startswith("ipsecfleet:fw-in-esp "))
    rows.insert(1, rows.pop(index))  # still above the first input drop, but out of plan order
    operations = run(session, plan)
    assert [op.action for op in operations] == ["move"]
    assert run(session, plan) == []


@pytest.mark.parametrize("seed", range(25))
def test_random_foreign_layouts(seed):
    rng = random.Random(seed)
    chains = {FILTER: ["input", "forward", "blacklist"], NAT: ["srcnat", "dstnat"], RAW: ["prerouting"],
              MANGLE: ["forward", "prerouting"]}
    actions = {FILTER: ["accept", "drop", "reject", "jump", "log", "fasttrack-connection", "passthrough"],
               NAT: ["masquerade", "src-nat", "dst-nat", "accept", "jump"], RAW: ["accept", "drop", "notrack"],
               MANGLE: ["mark-connection", "accept", "change-mss", "jump"]}
    before = {}
    for path in chains:
        rows = [dict(DYNAMIC_DUMMY)] if path == FILTER and rng.random() < 0.7 else []
        for n in range(rng.randint(0, 12)):
            row = {".id": "*%X" % (n + 1), "chain": rng.choice(chains[path]), "action": rng.choice(actions[path])}
            if row["action"] == "jump":
                row["jump-target"] = "blacklist"
            if rng.random() < 0.2:
                row["disabled"] = "true"
            if path == MANGLE and rng.random() < 0.3:
                row["passthrough"] = "false"
            rows.append(row)
        before[path] = rows
    session = FakeSession(before)
    plan = fp.derive(TUNNELS, rng.choice([{}, {"fasttrack_bypass": "accept", "nat_bypass": "prefixes"}]))
    run(session, plan)
    assert_converged(session, plan, before)
    assert run(session, plan) == []


def test_rule_with_wrong_block_is_refused():
    plan = fp.derive(TUNNELS)
    plan.blocks["fw-in-esp"] = "forward-ipsec"
    with pytest.raises(fpl.PlacementError):
        fpl.plan_all({}, plan.sections, plan.blocks, "merged")


def test_simulate_matches_the_session():
    before = layout("defconf-extra")
    session = FakeSession(before)
    plan = fp.derive(TUNNELS)
    rows = dict((path, session.read(path)) for path in fpl.FIREWALL_PATHS)
    operations = fpl.plan_all(rows, plan.sections, plan.blocks, "merged")
    simulated = fpl.final_rows(rows, operations)
    run(session, plan)

    def strip(rows_of_menu):
        return [dict((k, v) for k, v in r.items() if k != ".id") for r in rows_of_menu]

    for path in fpl.FIREWALL_PATHS:
        assert strip(simulated[path]) == strip(session.menus.get(path, []))


def test_items_of_other_ipsecfleet_roles_are_not_removed():
    before = layout("defconf")
    other = {".id": "*77", "chain": "input", "action": "accept", "protocol": "vrrp", "comment": "ipsecfleet:ha-vrrp VRRP"}
    before[FILTER].insert(2, other)
    before["/ip/firewall/address-list"] = [
        {".id": "*78", "list": "ha", "address": "10.0.0.2", "comment": "ipsecfleet:ha-peer"}]
    session = FakeSession(before)
    plan = fp.derive(TUNNELS)
    run(session, plan, "overridden")
    assert other in session.menus[FILTER]
    run(session, plan, "deleted")
    assert other in session.menus[FILTER]
    assert session.menus["/ip/firewall/address-list"] == before["/ip/firewall/address-list"]
    assert [r for r in session.menus[FILTER] if r.get("comment", "").startswith("ipsecfleet:fw-")] == []


@pytest.mark.parametrize("state", ["merged", "replaced", "overridden"])
def test_peer_list_is_kept_in_sync_in_every_state(state):
    session = FakeSession(layout("defconf"))
    run(session, fp.derive(TUNNELS))
    smaller = fp.derive(TUNNELS[:1])
    run(session, smaller, state)
    peers = [r["address"] for r in session.menus["/ip/firewall/address-list"] if r["list"] == "ipsecfleet-peers"]
    assert peers == ["203.0.113.2"]
    assert run(session, smaller, state) == []


def test_a_duplicated_owned_rule_is_removed_and_the_first_kept():
    session = FakeSession(layout("defconf"))
    plan = fp.derive(TUNNELS)
    run(session, plan)
    rows = session.menus[FILTER]
    original = next(r for r in rows if r.get("comment", "").startswith("ipsecfleet:fw-in-esp "))
    copy_row = dict(original, **{".id": "*DD"})
    rows.append(copy_row)
    operations = run(session, plan)
    assert [(op.action, op.target) for op in operations] == [("remove", "*DD")]
    assert original in session.menus[FILTER]


def _forward_state_items():
    plan = fp.build_plan(copy.deepcopy(TUNNELS), {}, {})
    return plan, [i for i in plan.sections["filter"] if plan.blocks[menus.owner_key(menus.MENUS[FILTER], i)] == "forward-state"]


def test_defconf_forward_state_rules_cover_ours():
    plan, items = _forward_state_items()
    assert [menus.owner_key(menus.MENUS[FILTER], i) for i in items] == ["fw-fwd-established", "fw-fwd-invalid"]
    kept, notes = fpl.covered_by_foreign("filter", layout("defconf")[FILTER], plan.sections["filter"], plan.blocks)
    assert [n["key"] for n in notes] == ["fw-fwd-established", "fw-fwd-invalid"]
    assert [n["id"] for n in notes] == ["*9", "*A"]
    assert len(kept) == len(plan.sections["filter"]) - 2


@pytest.mark.parametrize("change, covered", [
    ({}, ["fw-fwd-established", "fw-fwd-invalid"]),
    ({"*9": {"disabled": "true"}}, ["fw-fwd-invalid"]),                    # a disabled rule does nothing
    ({"*9": {"src-address": "10.0.0.0/8"}}, ["fw-fwd-invalid"]),           # narrower: not the same packets
    ({"*9": {"connection-state": "established"}}, ["fw-fwd-invalid"]),     # fewer states than ours
    ({"*9": {"connection-state": "!invalid"}}, ["fw-fwd-invalid"]),        # a negation is not a cover
    ({"*A": {"action": "reject"}}, ["fw-fwd-established"]),                # another action
    ({"*9": {"log": "true", "log-prefix": "est"}}, ["fw-fwd-established", "fw-fwd-invalid"]),  # logging matches nothing
])
def test_only_an_equivalent_foreign_rule_covers(change, covered):
    plan, _items = _forward_state_items()
    rows = layout("defconf")[FILTER]
    for row in rows:
        row.update(change.get(row[".id"], {}))
    _kept, notes = fpl.covered_by_foreign("filter", rows, plan.sections["filter"], plan.blocks)
    assert [n["key"] for n in notes] == covered


def test_a_cover_outside_the_block_does_not_count():
    # an established accept above FastTrack (or behind a foreign drop) is not where ours would be
    plan, _items = _forward_state_items()
    rows = [DYNAMIC_DUMMY,
            {".id": "*1", "chain": "forward", "action": "accept", "connection-state": "established,related"},
            {".id": "*2", "chain": "forward", "action": "fasttrack-connection", "connection-state": "established,related"},
            {".id": "*3", "chain": "forward", "action": "drop", "src-address": "10.99.0.0/16"},
            {".id": "*4", "chain": "forward", "action": "drop", "connection-state": "invalid"}]
    _kept, notes = fpl.covered_by_foreign("filter", rows, plan.sections["filter"], plan.blocks)
    assert notes == []
