# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each managed firewall block must sit among the router's own (foreign) rules.

A block is a run of owned rules in one chain that only works above certain foreign rules:

==============  =========  ==========  ==========================================================
block           menu       chain       must precede the first foreign rule that ...
==============  =========  ==========  ==========================================================
raw-notrack     raw        prerouting  accepts, drops, jumps or returns (raw processing ends)
input           filter     input       drops, rejects, tarpits, jumps or returns
forward-ipsec   filter     forward     fasttracks, drops, rejects, tarpits, jumps or returns
forward-state   filter     forward     drops, rejects, tarpits, jumps or returns *after* the last
                                       fasttrack rule (and sits after it: an established accept
                                       above FastTrack would switch FastTrack off for everything)
nat-bypass      nat        srcnat      masquerades, src-nats, netmaps, jumps, returns ...
mss             mangle     forward     accepts, jumps, returns or has passthrough=no
==============  =========  ==========  ==========================================================

Disabled foreign rules count as anchors too (enabling one later must not silently shadow a block).
Dynamic rows (the v7 ``special dummy rule to show fasttrack counters``) are never anchors, never
moved and never targeted by ``place-before``/``destination``; foreign rows are never written.

``plan_menu`` turns one menu's rows and the plan's items into reconcile Operations: first the moves
that bring *misplaced* owned rules (a foreign drop was inserted above them since the last run) back
before their anchor, then, per block, ``reconcile.plan_changes`` with that block's anchor (the one
engine does add/set/move with the fewest moves, zero when the order is right), then removals.
``simulate`` replays operations on rows (check mode, lock-out analysis, tests).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import firewall as firewall_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus as menu_table
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import normalize

KEY_PREFIX = firewall_plan.KEY_PREFIX
PEER_KEY_PREFIX = KEY_PREFIX + "peer-"
_FILTER_STOPS = frozenset(("drop", "reject", "tarpit", "jump", "return"))


class Block(object):
    def __init__(self, name, section, chain, stops, floor=(), stop_without_passthrough=False,
                 foreign_equivalents=False):
        self.name = name
        self.section = section
        self.chain = chain
        self.stops = frozenset(stops)
        # actions of foreign rules the block must come after (the last one in the chain)
        self.floor = frozenset(floor)
        self.stop_without_passthrough = stop_without_passthrough
        # an item of the block is left out when a foreign rule in its place already does the same
        self.foreign_equivalents = foreign_equivalents

    @property
    def menu(self):
        return menu_table.MENUS_BY_SECTION[self.section]


BLOCKS = dict((block.name, block) for block in (
    Block("raw-notrack", "raw", "prerouting", ("accept", "drop", "jump", "return")),
    Block("input", "filter", "input", _FILTER_STOPS),
    Block("forward-ipsec", "filter", "forward", _FILTER_STOPS | frozenset(("fasttrack-connection",))),
    Block("forward-state", "filter", "forward", _FILTER_STOPS, floor=("fasttrack-connection",),
          foreign_equivalents=True),
    Block("nat-bypass", "nat", "srcnat",
          ("masquerade", "src-nat", "netmap", "same", "endpoint-independent-nat", "jump", "return")),
    Block("mss", "mangle", "forward", ("accept", "jump", "return", "drop"), stop_without_passthrough=True),
))


class PlacementError(ValueError):
    pass


def is_foreign(menu, row):
    """A row the collection neither owns nor must leave alone for being dynamic."""
    return not reconcile.is_dynamic(row) and menu_table.owner_key(menu, row) is None


def is_ours(menu, row):
    """Owned by this module: ``ipsecfleet:fw-...`` (other roles' ipsecfleet items are left alone)."""
    return reconcile.row_is_owned(menu, row) and menu_table.owner_key(menu, row).startswith(KEY_PREFIX)


def _action(row):
    # RouterOS prints every rule's action; "accept" is the documented default
    return row.get("action", "accept")


def _is_stop(block, row):
    if _action(row) in block.stops:
        return True
    return block.stop_without_passthrough and normalize("passthrough", row.get("passthrough", "yes")) == "false"


def bounds(block, rows):
    """(floor index, anchor index) of ``block`` in ``rows``: owned rules of the block belong strictly
    after the floor (-1 when none) and strictly before the anchor (None when none: the end)."""
    menu = block.menu
    floor = -1
    for index, row in enumerate(rows):
        if row.get("chain") == block.chain and is_foreign(menu, row) and _action(row) in block.floor:
            floor = index
    for index in range(floor + 1, len(rows)):
        row = rows[index]
        if row.get("chain") == block.chain and is_foreign(menu, row) and _is_stop(block, row):
            return floor, index
    return floor, None


def anchor_id(block, rows):
    """The id of the foreign rule ``block`` must precede (``place-before``), or None for the end."""
    _floor, anchor = bounds(block, rows)
    return None if anchor is None else rows[anchor][".id"]


def misplaced(block, rows, keys):
    """Owned rows with a key in ``keys`` that sit outside the block's bounds, in table order."""
    floor, anchor = bounds(block, rows)
    wrong = []
    seen = set()
    for index, row in enumerate(rows):
        key = menu_table.owner_key(block.menu, row) if not reconcile.is_dynamic(row) else None
        if key not in keys or key in seen:
            continue  # later copies of a key are removed, not placed
        seen.add(key)
        if index <= floor or (anchor is not None and index > anchor):
            wrong.append(row)
    return wrong


# what a rule prints besides its matchers: none of these changes which packets it takes
_NOT_MATCHING = frozenset((".id", "chain", "action", "comment", "disabled", "dynamic", "invalid", "log",
                           "log-prefix", "bytes", "packets", "hw-offload"))


def _states(text):
    return frozenset(part.strip() for part in str(text or "").split(",") if part.strip())


def _covers(row, wanted):
    """True when the foreign ``row`` takes every packet the owned rule ``wanted`` (RouterOS
    arguments) would take, with the same action: same chain and action, enabled, the same matchers
    except a ``connection-state`` that may list more states (``established,related,untracked``
    covers ``established,related``)."""
    if row.get("chain") != wanted.get("chain") or _action(row) != wanted.get("action", "accept"):
        return False
    if normalize("disabled", row.get("disabled", "false")) == "true" or normalize("invalid", row.get("invalid", "false")) == "true":
        return False
    for name in set(row) | set(wanted):
        if name in _NOT_MATCHING:
            continue
        theirs, ours = row.get(name, ""), wanted.get(name, "")
        if name == "connection-state":
            if "!" in theirs or "!" in ours or not _states(ours) or not _states(ours) <= _states(theirs):
                return False
        elif normalize(name, theirs) != normalize(name, ours):
            return False
    return True


def covered_by_foreign(section, rows, items, blocks_of):
    """``items`` without those a foreign rule already does in the item's place, and a note per left-out item.

    Only blocks with ``foreign_equivalents`` (forward-state): on a router with RouterOS's default
    configuration ``defconf: accept established,related, untracked`` and ``defconf: drop invalid``
    sit after FastTrack, where the block's rules would go; a second copy would only shadow or be
    shadowed. The foreign rule must lie in the block's bounds (after the last FastTrack, no foreign
    stop before it), so every packet the owned rule would see reaches it.
    """
    menu = menu_table.MENUS_BY_SECTION[section]
    if not menu.ordered:
        return list(items), []
    kept, notes = [], []
    for item in items:
        key = menu_table.owner_key(menu, item)
        block = BLOCKS.get(blocks_of.get(key))
        if block is None or not block.foreign_equivalents or block.section != section:
            kept.append(item)
            continue
        wanted = reconcile.to_api_item(menu, item)
        floor, anchor = bounds(block, rows)
        last = len(rows) - 1 if anchor is None else anchor
        match = next((row for index, row in enumerate(rows) if floor < index <= last and is_foreign(menu, row)
                      and _covers(row, wanted)), None)
        if match is None:
            kept.append(item)
            continue
        notes.append({"key": key, "id": match.get(".id"), "comment": match.get("comment", ""),
                      "note": "not added: the router's own rule %s%s already does it in its place (%s)"
                              % (match.get(".id"), (" (%s)" % match["comment"]) if match.get("comment") else "",
                                 item.get("comment", key))})
    return kept, notes


def _block_order(menu, section_items, blocks_of):
    """Block names in the order their first item appears."""
    order = []
    for item in section_items:
        name = blocks_of.get(menu_table.owner_key(menu, item))
        if name and name not in order:
            order.append(name)
    return order


def plan_menu(section, rows, items, blocks_of, state):
    """Operations (in execution order) and removals that converge one menu to ``items``.

    ``rows``: the menu as printed (RouterOS order). ``items``: the plan's items of the section, in
    desired order. ``blocks_of``: item key -> block name. ``state``: merged, replaced, overridden or
    deleted (deleted removes every owned row of the menu). Returns (operations, removals).
    """
    menu = menu_table.MENUS_BY_SECTION[section]
    if state == "deleted":
        removals = [reconcile.removal(menu, row) for row in rows if is_ours(menu, row)]
        return [], removals
    item_state = "merged" if state == "merged" else "replaced"
    if not menu.ordered:
        # items other ipsecfleet roles own in the same menu are not this module's to remove
        visible = [row for row in rows if is_ours(menu, row) or not reconcile.row_is_owned(menu, row)]
        plan = reconcile.plan_changes(menu, visible, items, "overridden" if state == "overridden" else item_state)
        removals = list(plan.removals)
        if state != "overridden":
            # the peers' list is a security control: a peer no longer derived loses access in every state
            wanted = set(menu_table.owner_key(menu, item) for item in items)
            removals += [reconcile.removal(menu, row) for row in visible if is_ours(menu, row)
                         and menu_table.owner_key(menu, row).startswith(PEER_KEY_PREFIX)
                         and menu_table.owner_key(menu, row) not in wanted]
        return plan.operations, removals

    operations = []
    working = [dict(row) for row in rows]
    by_block = {}
    for item in items:
        key = menu_table.owner_key(menu, item)
        name = blocks_of.get(key)
        if name not in BLOCKS or BLOCKS[name].section != section:
            raise PlacementError("%s item %s has no %s block (got %r)" % (section, key, section, name))
        if item.get("chain") != BLOCKS[name].chain:
            raise PlacementError("%s item %s: chain %s is not the chain of block %s (%s)"
                                 % (section, key, item.get("chain"), name, BLOCKS[name].chain))
        by_block.setdefault(name, []).append(item)

    for name in _block_order(menu, items, blocks_of):
        block = BLOCKS[name]
        block_items = by_block[name]
        keys = set(menu_table.owner_key(menu, item) for item in block_items)
        # misplaced rules go back just before the anchor, keeping their relative order
        for row in misplaced(block, working, keys):
            destination = anchor_id(block, working)
            op = reconcile.Operation("move", menu, menu_table.owner_key(menu, row), target=row[".id"],
                                     before=destination, selector=reconcile.selector(menu, row),
                                     before_selector=destination)
            operations.append(op)
            working = simulate(menu, working, [op])
        plan = reconcile.plan_changes(menu, working, block_items, item_state,
                                      anchor=lambda current, block=block: anchor_id(block, current))
        operations.extend(plan.operations)
        working = simulate(menu, working, plan.operations)

    # a second row with an owned key (a crash or a hand copy) goes in every state; with overridden
    # so does every owned row no longer planned
    removals = []
    wanted = set(menu_table.owner_key(menu, item) for item in items)
    seen = set()
    for row in rows:
        if not is_ours(menu, row):
            continue
        key = menu_table.owner_key(menu, row)
        if key in seen or (state == "overridden" and key not in wanted):
            removals.append(reconcile.removal(menu, row))
        seen.add(key)
    return operations, removals


def simulate(menu, rows, operations):
    """``rows`` after ``operations`` (new rows get a NewItem as ``.id``). Pure; for planning and tests."""
    result = [dict(row) for row in rows]

    def index_of(item_id):
        for index, row in enumerate(result):
            if row[".id"] == item_id:
                return index
        raise PlacementError("no such item %r" % (item_id,))

    for op in operations:
        if op.menu.path != menu.path:
            continue
        if op.action == "add":
            row = dict(op.args)
            row[".id"] = reconcile.NewItem(menu.path, op.key)
            if op.before is None:
                result.append(row)
            else:
                result.insert(index_of(op.before), row)
        elif op.action == "set":
            row = result[index_of(op.target)]
            for name, value in op.args.items():
                if name.startswith("!"):
                    row.pop(name[1:], None)
                else:
                    row[name] = value
        elif op.action == "move":
            row = result.pop(index_of(op.target))
            if op.before is None:
                result.append(row)
            else:
                result.insert(index_of(op.before), row)
        elif op.action == "remove":
            del result[index_of(op.target)]
    return result


def violations(rows, blocks_of):
    """Human-readable placement problems of owned rules in ``rows`` (one menu); empty when all fit."""
    problems = []
    if not rows:
        return problems
    for name, block in BLOCKS.items():
        menu = block.menu
        keys = set(k for k, b in blocks_of.items() if b == name)
        for row in misplaced(block, rows, keys):
            problems.append("%s (block %s) is outside its place in chain %s"
                            % (menu_table.owner_key(menu, row), name, block.chain))
    return problems


FIREWALL_PATHS = tuple(path for path in menu_table.APPLY_ORDER if path.startswith("/ip/firewall/"))


def plan_all(rows_by_path, sections, blocks_of, state, session=None):
    """Operations for every firewall menu, in the engine's execution order
    (``reconcile.ordered_operations``): values RouterOS keeps unique checked before any write, then
    adds/sets/moves following menus.APPLY_ORDER (address lists before the rules naming them), then
    removals in reverse order (add-before-remove: no moment without the rules). ``sections``: plan
    section -> items. ``session`` reads menus outside the firewall that reference a removed item
    (none do today). Raises reconcile.ReconcileError when no safe order exists."""
    plans = []
    for path in FIREWALL_PATHS:
        menu = menu_table.MENUS[path]
        menu_plan = reconcile.MenuPlan(menu)
        menu_plan.rows = list(rows_by_path.get(path) or [])
        menu_plan.operations, menu_plan.removals = plan_menu(
            menu.section, menu_plan.rows, sections.get(menu.section) or [], blocks_of, state)
        plans.append(menu_plan)
    return reconcile.ordered_operations(session, plans)[1]


def final_rows(rows_by_path, operations):
    """Every firewall menu's rows after ``operations`` (pure)."""
    return dict((path, simulate(menu_table.MENUS[path], rows_by_path.get(path) or [], operations))
                for path in FIREWALL_PATHS)
