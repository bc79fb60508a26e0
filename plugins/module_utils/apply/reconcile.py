# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reconciler every module of the collection uses.

``plan_changes`` is pure: from one menu's printed rows and the desired items it computes the fewest
RouterOS writes (add / set / remove / move, ``place-before`` for ordered menus).
``ordered_operations`` puts the writes of several menus in a safe order and ``execute`` performs them;
the pipeline around them (apply/converge.py) reads every managed menu once through an ``ApiSession``,
validates everything before the first write, then writes in dependency order: adds, sets and moves following ``menus.APPLY_ORDER`` (an item exists before
anything references it), removals in reverse order afterwards (nothing references an item any more
when it goes).

Only owned items (``menus.owner_key``) are ever changed; dynamic rows are ignored even if tagged.
Secrets never leave this module in clear: commands, diffs, gathered items and errors carry
``MASK`` instead. See docs/engine.md.

Kept Python 3.8+ compatible: the modules' ``main()`` may run it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus as menu_table
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import rsc
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import explain_permissions
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import (
    default_of,
    normalize,
    same_value,
    to_text,
    unique_values,
)

MASK = rsc.SECRET_PLACEHOLDER  # one mask in every output: commands, diffs, scripts, errors
SECRET_CHANGED = MASK + " (changed)"  # the diff's "after" of a secret the run writes: masked, but a visible line
STATES = ("merged", "replaced", "overridden", "deleted", "gathered", "rendered")
SECRET_UPDATE_MODES = ("on_change", "always", "on_create")


class ReconcileError(Exception):
    """A problem found before or while writing; the message never contains a secret."""


class NewItem(object):
    """Stands for the id of an item this run adds (known only once RouterOS answers the add)."""

    def __init__(self, menu_path, key):
        self.menu_path = menu_path
        self.key = key

    def __eq__(self, other):
        return isinstance(other, NewItem) and (self.menu_path, self.key) == (other.menu_path, other.key)

    def __hash__(self):
        return hash((self.menu_path, self.key))

    def __repr__(self):
        return "NewItem(%r, %r)" % (self.menu_path, self.key)


class Operation(object):
    """One RouterOS write. ``target`` and ``before`` are row ids or NewItem references."""

    def __init__(self, action, menu, key, target=None, args=None, before=None, selector=None,
                 before_selector=None):
        self.action = action          # add | set | remove | move
        self.menu = menu              # menus.Menu
        self.key = key                # owner key of the item written
        self.target = target          # id (or NewItem) of the item written; None for add
        self.args = args or {}        # RouterOS argument -> string value
        self.before = before          # add: place-before; move: destination (None = end)
        self.selector = selector      # CLI text naming the target
        self.before_selector = before_selector

    def as_dict(self):
        return {
            "action": self.action,
            "menu": self.menu.path,
            "key": self.key,
            "args": mask_item(self.menu, self.args),
        }

    def command(self):
        """RouterOS CLI-like text of this write, secrets masked."""
        words = [rsc.menu_header(self.menu.path), self.action]
        if self.action in ("set", "remove", "move"):
            words.append(self.selector)
        for name in sorted(self.args):
            value = MASK if name in self.menu.secrets else self.args[name]
            if name.startswith("!"):
                words.append("%s=" % name)  # unset
            else:
                words.append("%s=%s" % (name, rsc.quote(value)))
        if self.action == "add" and self.before is not None:
            words.append("place-before=%s" % self.before_selector)
        if self.action == "move" and self.before is not None:
            words.append("destination=%s" % self.before_selector)
        return " ".join(words)


def mask_item(menu, item):
    """A copy of ``item`` (API or module keys) with secret values replaced by MASK."""
    masked = {}
    for name, value in item.items():
        if name.replace("_", "-").lstrip("!") in menu.secrets and value not in (None, ""):
            masked[name] = MASK
        else:
            masked[name] = value
    return masked


def to_api_item(menu, module_item):
    """Module-format item (``local_address``) -> RouterOS arguments (``local-address``), set ones only."""
    api_item = {}
    for name, value in module_item.items():
        if value is None:
            continue
        api_name = name.replace("_", "-")
        if api_name in menu.secrets and value == MASK:
            continue  # gathered output fed back: the mask means "leave the secret as it is"
        if api_name not in menu.fields:
            raise ReconcileError("%s: %s is not an argument the collection manages in %s"
                                 % (menu.section, name, menu.path))
        api_item[api_name] = to_text(value)
    return api_item


def to_module_item(menu, row):
    """A printed row -> module format: managed arguments only, ``_`` keys, secrets masked."""
    item = {}
    for name in menu.fields:
        if name in row:
            item[name.replace("-", "_")] = row[name]
    return mask_item(menu, item)


def is_dynamic(row):
    return normalize("dynamic", row.get("dynamic", "false")) == "true"


def row_is_owned(menu, row):
    if is_dynamic(row):
        return False
    key = menu_table.owner_key(menu, row)
    return key is not None and key.startswith(menu.key_prefix)


def selector(menu, row_or_item):
    """CLI text naming an item: ``[find name=...]``, ``[find comment=...]`` for owned items, else its id."""
    if menu.owned_by == "name":
        return '[find name=%s]' % rsc.quote(row_or_item.get("name", ""))
    if "comment" in row_or_item and menu_table.owner_key(menu, row_or_item):
        return '[find comment=%s]' % rsc.quote(row_or_item["comment"])
    return row_or_item.get(".id", "")


def _longest_increasing_subsequence(values):
    """Indexes into ``values`` forming one longest strictly increasing subsequence."""
    tails = []        # tails[k]: index of the smallest tail of an increasing run of length k+1
    previous = [None] * len(values)
    for i, value in enumerate(values):
        low, high = 0, len(tails)
        while low < high:
            middle = (low + high) // 2
            if values[tails[middle]] < value:
                low = middle + 1
            else:
                high = middle
        if low > 0:
            previous[i] = tails[low - 1]
        if low == len(tails):
            tails.append(i)
        else:
            tails[low] = i
    result = []
    index = tails[-1] if tails else None
    while index is not None:
        result.append(index)
        index = previous[index]
    return list(reversed(result))


class MenuPlan(object):
    """The outcome of planning one menu: writes, and the owned items before and after."""

    def __init__(self, menu):
        self.menu = menu
        self.operations = []          # adds, sets, moves in execution order
        self.removals = []
        self.before = []              # owned items, module format, masked
        self.after = []
        self.rows = []                # the printed rows the plan was made from
        self.managed = True           # False: a menu only visited to remove stale dependents


ACCEPTS = menu_table.ACCEPTS  # a planned item's accepted alternatives (device/menus.py)


def split_accepts(module_item):
    """(the item without ACCEPTS, {RouterOS argument: accepted values})."""
    if ACCEPTS not in module_item:
        return module_item, {}
    item = dict(module_item)
    accepts = item.pop(ACCEPTS) or {}
    return item, dict((name.replace("_", "-"), tuple(to_text(v) for v in values)) for name, values in accepts.items())


def _validate_desired(menu, desired_items, accepts=None):
    """Desired items as RouterOS arguments keyed by owner key, in desired order (``accepts``: a dict
    filled with each key's accepted alternatives)."""
    keyed = []
    seen = set()
    for module_item in desired_items or ():
        module_item, accepted = split_accepts(module_item)
        api_item = to_api_item(menu, module_item)
        for name in accepted:
            if name not in menu.fields:
                raise ReconcileError("%s: %s accepts values for %s, not an argument of %s"
                                     % (menu.section, _describe(menu, api_item), name, menu.path))
        key = menu_table.owner_key(menu, api_item)
        if key is None:
            what = "name" if menu.owned_by == "name" else "comment"
            raise ReconcileError(
                "%s: item %s has no ownership tag; its %s must start with %r"
                % (menu.section, _describe(menu, api_item), what,
                   menu_table.OWNER_NAME_PREFIX if menu.owned_by == "name" else menu_table.OWNER_COMMENT_PREFIX))
        if not key.startswith(menu.key_prefix):
            raise ReconcileError("%s: item %s: the owner key %r must start with %r in %s"
                                 % (menu.section, _describe(menu, api_item), key, menu.key_prefix, menu.path))
        if key in seen:
            raise ReconcileError("%s: two desired items have the key %r" % (menu.section, key))
        seen.add(key)
        keyed.append((key, api_item))
        if accepts is not None and accepted:
            accepts[key] = accepted
    return keyed


def _describe(menu, api_item):
    for name in ("name", "comment", "peer", "src-address"):
        if api_item.get(name):
            return "%s=%s" % (name, api_item[name])
    return "(unnamed)"


def check_collisions(menu, current_rows, desired_items):
    """Raise before any write when a desired item's name is taken by a foreign or dynamic item."""
    _check_collisions(menu, current_rows, _validate_desired(menu, desired_items))


def _check_collisions(menu, current_rows, desired):
    """``check_collisions`` for items already validated by ``_validate_desired``."""
    if "name" not in menu.fields or menu.owned_by == "name":
        # name-owned menus: a name carrying the prefix is ours by definition
        return
    for _key, api_item in desired:
        name = api_item.get("name")
        if not name:
            continue
        for row in current_rows:
            if row.get("name") == name and not row_is_owned(menu, row):
                raise ReconcileError(
                    "%s: %s %r already exists and is not managed by ipsecfleet (id %s); rename one "
                    "of them or tag it with comment %r" % (menu.section, menu.path, name, row.get(".id"),
                                                           menu_table.owner_comment(_key)))


def plan_changes(menu, current_rows, desired_items, state, anchor=None, secret_update="on_change"):
    """Plan the writes that take ``menu`` from ``current_rows`` to ``desired_items`` in ``state``.

    ``current_rows``: printed rows in RouterOS order (``.id`` and RouterOS argument names, string
    values). ``desired_items``: module-format items in desired order. ``anchor``: for ordered menus,
    ``anchor(current_rows)`` returns the id owned items must precede, or None for the end.
    ``secret_update``: how to treat a secret RouterOS does not print (on_change: write it when
    anything else of the item changes; always: write it every run; on_create: only when adding).
    Returns a MenuPlan.
    """
    if state not in ("merged", "replaced", "overridden", "deleted"):
        raise ReconcileError("plan_changes: unsupported state %r" % state)
    if secret_update not in SECRET_UPDATE_MODES:
        raise ReconcileError("secret_update must be one of %s" % ", ".join(SECRET_UPDATE_MODES))
    plan = MenuPlan(menu)
    plan.rows = list(current_rows)
    accepts = {}
    desired = _validate_desired(menu, desired_items, accepts)
    desired_keys = [key for key, _item in desired]

    owned = {}           # key -> first row carrying it
    duplicates = []      # later rows carrying an already seen key (left over by hand or a crash)
    for row in current_rows:
        if not row_is_owned(menu, row):
            continue
        key = menu_table.owner_key(menu, row)
        if key in owned:
            duplicates.append((key, row))
        else:
            owned[key] = row
        plan.before.append(to_module_item(menu, row))

    if state == "deleted":
        doomed = set(desired_keys) if desired else set(owned)
        for key, row in owned.items():
            if key in doomed:
                plan.removals.append(removal(menu, row))
        for key, row in duplicates:
            if key in doomed:
                plan.removals.append(removal(menu, row))
        _finish_after(plan, current_rows, {}, set(op.target for op in plan.removals), [])
        return plan

    _check_collisions(menu, current_rows, desired)
    changed_args = {}    # row id -> args written by set (for the after picture)
    for key, api_item in desired:
        row = owned.get(key)
        if row is None:
            continue
        args = _differences(menu, row, api_item, state, secret_update, accepts.get(key))
        if args:
            changed_args[row[".id"]] = args
            plan.operations.append(Operation("set", menu, key, target=row[".id"], args=args,
                                             selector=selector(menu, row)))

    if menu.ordered:
        placements = _order(menu, current_rows, owned, desired, anchor)
    else:
        placements = [(key, None) for key, _item in desired if key not in owned]
    new_items = dict(desired)
    added = []
    for key, before in placements:
        before_selector = _before_selector(menu, before, current_rows, new_items)
        if key in owned:
            plan.operations.append(Operation("move", menu, key, target=owned[key][".id"], before=before,
                                             selector=selector(menu, owned[key]),
                                             before_selector=before_selector))
        else:
            added.append(key)
            plan.operations.append(Operation("add", menu, key, args=dict(new_items[key]), before=before,
                                             before_selector=before_selector))

    for key, row in duplicates:
        plan.removals.append(removal(menu, row))
    if state == "overridden":
        for key, row in owned.items():
            if key not in new_items:
                plan.removals.append(removal(menu, row))
    removed = set(op.target for op in plan.removals)
    _finish_after(plan, current_rows, changed_args, removed, [(key, new_items[key]) for key in added])
    return plan


def removal(menu, row):
    """The Operation removing the printed owned ``row``."""
    return Operation("remove", menu, menu_table.owner_key(menu, row), target=row[".id"],
                     selector=selector(menu, row))


def _differences(menu, row, api_item, state, secret_update, accepts=None):
    """Arguments to ``set`` so that ``row`` matches ``api_item``; empty when nothing differs.
    ``accepts``: argument -> values the row may hold instead (left alone)."""
    args = {}
    accepts = accepts or {}
    pending_secrets = {}
    for name in menu.fields:
        if name in api_item:
            wanted = api_item[name]
        elif state in ("replaced", "overridden") and name not in menu.secrets:
            # a secret is only ever written when given: never reset to "" behind the user's back
            wanted = default_of(menu.path, name)
            if wanted is None:
                if name in row and name != "comment" and name not in menu.secrets and row[name] != "":
                    args["!" + name] = ""      # back to "not set", as RouterOS prints a fresh item
                continue
        else:
            continue
        if name in menu.secrets and name not in row:
            # RouterOS did not print the secret (a user without the "sensitive" policy)
            if secret_update == "always":
                args[name] = wanted
            elif secret_update == "on_change":
                pending_secrets[name] = wanted
            continue
        if not same_value(menu.path, name, wanted, row.get(name)) and \
                not any(same_value(menu.path, name, value, row.get(name)) for value in accepts.get(name, ())):
            args[name] = wanted
    if args and pending_secrets:
        args.update(pending_secrets)
    return args


def _order(menu, current_rows, owned, desired, anchor):
    """(key, before) placements that put the desired items in desired relative order.

    Items already in a longest run of correct relative order stay; every other existing item is
    moved and every new item added right after its desired predecessor (the first one before the
    first staying item, or at the anchor). Foreign and dynamic rows never move. The placements are
    simulated on the current order, so ``before`` ids are valid when each write runs.
    """
    position = dict((key, i) for i, (key, _item) in enumerate(desired))
    existing = [menu_table.owner_key(menu, row) for row in current_rows
                if row_is_owned(menu, row) and owned.get(menu_table.owner_key(menu, row)) is row
                and menu_table.owner_key(menu, row) in position]
    stay = set(existing[i] for i in _longest_increasing_subsequence([position[k] for k in existing]))
    simulated = [row[".id"] for row in current_rows]
    ids = dict((key, row[".id"]) for key, row in owned.items())
    anchor_id = anchor(current_rows) if anchor else None
    placements = []
    for i, (key, _item) in enumerate(desired):
        if key in stay:
            continue
        if i > 0:
            predecessor = ids[desired[i - 1][0]]
            at = simulated.index(predecessor) + 1
            before = simulated[at] if at < len(simulated) else None
        else:
            first_staying = [ids[k] for k, _item in desired if k in stay]
            before = first_staying[0] if first_staying else anchor_id
        if key in ids and before == ids[key]:
            continue  # already right after its predecessor
        if key in ids:
            simulated.remove(ids[key])
        else:
            ids[key] = NewItem(menu.path, key)
        if before is None:
            simulated.append(ids[key])
        else:
            simulated.insert(simulated.index(before), ids[key])
        placements.append((key, before))
    return placements


def _before_selector(menu, before, current_rows, new_items):
    if before is None:
        return None
    if isinstance(before, NewItem):
        return selector(menu, new_items[before.key])
    for row in current_rows:
        if row[".id"] == before:
            if row_is_owned(menu, row):
                return selector(menu, row)
            return before
    return before


def _finish_after(plan, current_rows, changed_args, removed, added):
    menu = plan.menu
    after = []
    for row in current_rows:
        if not row_is_owned(menu, row) or row[".id"] in removed:
            continue
        merged = dict(row)
        written = changed_args.get(row[".id"], {})
        for name, value in written.items():
            if name.startswith("!"):
                merged.pop(name[1:], None)
            else:
                merged[name] = value
        item = to_module_item(menu, merged)
        for name in written:
            if name in menu.secrets and written[name] != "":
                # masked before and after alike, a new secret would leave the diff empty
                item[name.replace("-", "_")] = SECRET_CHANGED
        after.append((row[".id"], item))
    if menu.ordered:
        order = _final_order(plan, current_rows)
        after_by_id = dict(after)
        for key, item in added:
            after_by_id[NewItem(menu.path, key)] = to_module_item(menu, item)
        plan.after = [after_by_id[i] for i in order if i in after_by_id]
    else:
        plan.after = [item for _id, item in after] + [to_module_item(menu, item) for _key, item in added]


def _final_order(plan, current_rows):
    order = [row[".id"] for row in current_rows]
    for op in plan.operations:
        if op.action not in ("add", "move"):
            continue
        target = NewItem(plan.menu.path, op.key) if op.action == "add" else op.target
        if target in order:
            order.remove(target)
        if op.before is None:
            order.append(target)
        else:
            order.insert(order.index(op.before), target)
    return order


def ordered_operations(session, plans):
    """All writes of ``plans`` (MenuPlans of several menus) in a safe order, checked before writing.

    Stale owned dependents are added (read through ``session`` when their menu is not planned);
    removals freeing a unique value run first; then adds, sets and moves in APPLY_ORDER; then the
    other removals in reverse order. Returns (plans including the added ones, operations).
    Raises ReconcileError when no safe order exists.
    """
    plans = _with_stale_dependents(session, plans)
    operations = _order_for_unique_values(plans)
    operations += [op for plan in plans for op in plan.operations]
    operations += [op for plan in reversed(plans) for op in plan.removals]
    return plans, operations


def _with_stale_dependents(session, plans):
    """Removals first dereferenced: owned items of any menu that still use a removed item go first.

    RouterOS refuses to remove an item another one uses ("peer is used by policy"). An owned item
    that uses a removed item and is not itself kept pointing elsewhere is stale (its tunnel is
    gone), so it is removed first, also from menus this run does not manage (removing a peer with
    ipsec_phase1 removes the owned policies using it). A foreign or kept owned item still using it
    fails the run before any write. Returns the plans (plus plans for those extra menus) in
    APPLY_ORDER.
    """
    by_path = dict((plan.menu.path, plan) for plan in plans)
    removed = set((plan.menu.path, op.target) for plan in plans for op in plan.removals)
    queue = [(plan.menu, row) for plan in plans for row in plan.rows if (plan.menu.path, row[".id"]) in removed]
    while queue:
        menu, row = queue.pop(0)
        name = row.get("name")
        if not name:
            continue
        for other in menu_table.MENUS.values():
            for argument, path in other.references:
                if path != menu.path:
                    continue
                plan = by_path.get(other.path)
                rows = plan.rows if plan is not None else session.read(other.path)
                moving_away = set()
                if plan is not None:
                    moving_away = set(op.target for op in plan.operations if op.action == "set"
                                      and argument in op.args and op.args[argument] != name)
                for dependent in rows:
                    if dependent.get(argument) != name or is_dynamic(dependent):
                        continue
                    if (other.path, dependent[".id"]) in removed or dependent[".id"] in moving_away:
                        continue
                    if not row_is_owned(other, dependent):
                        raise ReconcileError(
                            "%s: %s cannot be removed: %s item %s (not managed by ipsecfleet) uses it"
                            % (menu.section, name, other.path, dependent[".id"]))
                    key = menu_table.owner_key(other, dependent)
                    if plan is not None and plan.managed:
                        raise ReconcileError("%s: %s cannot be removed: owned item %s of %s still uses it"
                                             % (menu.section, name, key, other.path))
                    if plan is None:
                        plan = MenuPlan(other)
                        plan.managed = False
                        plan.rows = rows
                        plan.before = [to_module_item(other, r) for r in rows if row_is_owned(other, r)]
                        by_path[other.path] = plan
                    plan.removals.append(removal(other, dependent))
                    plan.after = [to_module_item(other, r) for r in rows if row_is_owned(other, r)
                                  and (other.path, r[".id"]) not in removed and r is not dependent]
                    removed.add((other.path, dependent[".id"]))
                    queue.append((other, dependent))
    return [by_path[path] for path in menu_table.APPLY_ORDER if path in by_path]


def _values_after(op, rows_by_id):
    values = dict(rows_by_id[op.target]) if op.action == "set" else {}
    for name, value in op.args.items():
        if name.startswith("!"):
            values.pop(name[1:], None)
        else:
            values[name] = value
    return values


def _order_for_unique_values(plans):
    """Make no write duplicate a value RouterOS keeps unique (routeros_values.UNIQUE_TOGETHER).

    A value held by an owned item that this run removes (a tunnel renamed, same remote address) is
    freed first: that removal, and the removals of the items referencing it, move before the adds.
    A value held by an item whose own set moves it elsewhere orders the two sets. A value held by a
    foreign item, or wanted twice, or a swap between items, fails before anything is written.
    Returns the removals to run first; reorders each plan's adds and sets.
    """
    plans_by_path = dict((plan.menu.path, plan) for plan in plans)
    early = []
    for plan in plans:
        menu = plan.menu
        writes = [op for op in plan.operations if op.action in ("add", "set")]
        if menu.ordered or not writes or not unique_values(menu.path, {}):
            continue
        rows = [row for row in plan.rows if not is_dynamic(row)]
        rows_by_id = dict((row[".id"], row) for row in rows)
        removal_of = dict((op.target, op) for op in plan.removals)
        set_of = dict((op.target, op) for op in writes if op.action == "set")
        waits_for = dict((id(op), []) for op in writes)
        claimed = {}
        for op in writes:
            wanted = unique_values(menu.path, _values_after(op, rows_by_id))
            for index, (fields, value) in enumerate(wanted):
                if value is None:
                    continue
                label = "%s %s" % (menu.path, " ".join("%s=%s" % (f, v) for f, v in zip(fields, value)))
                if (index, value) in claimed:
                    raise ReconcileError("%s: two desired items want %s" % (menu.section, label))
                claimed[(index, value)] = op
                for row in rows:
                    if op.action == "set" and row[".id"] == op.target:
                        continue
                    if unique_values(menu.path, row)[index][1] != value:
                        continue
                    holder = row[".id"]
                    if holder in removal_of:
                        _remove_early(plans_by_path, plan, row, removal_of[holder], early)
                    elif holder in set_of and unique_values(
                            menu.path, _values_after(set_of[holder], rows_by_id))[index][1] != value:
                        waits_for[id(op)].append(set_of[holder])
                    elif not row_is_owned(menu, row):
                        raise ReconcileError("%s: %s is already used by item %s, which ipsecfleet does not "
                                             "manage" % (menu.section, label, holder))
                    else:
                        raise ReconcileError("%s: %s is already used by owned item %s"
                                             % (menu.section, label, menu_table.owner_key(menu, row)))
        plan.operations = _topological(writes, waits_for, menu) + [
            op for op in plan.operations if op.action not in ("add", "set")]
    return early


def _remove_early(plans_by_path, plan, row, early_removal, early):
    if any(op is early_removal for op in early):
        return
    name = row.get("name")
    for other in plans_by_path.values():
        for argument, path in other.menu.references:
            if path != plan.menu.path or not name:
                continue
            for dependent in other.rows:
                if dependent.get(argument) != name or not row_is_owned(other.menu, dependent):
                    continue
                dependent_removal = [op for op in other.removals if op.target == dependent[".id"]]
                if not dependent_removal:
                    raise ReconcileError(
                        "%s: %s must go before its replacement is added, but owned item %s of %s still "
                        "uses it" % (plan.menu.section, name, menu_table.owner_key(other.menu, dependent),
                                     other.menu.path))
                _remove_early(plans_by_path, other, dependent, dependent_removal[0], early)
    plan.removals = [op for op in plan.removals if op is not early_removal]
    early.append(early_removal)


def _topological(writes, waits_for, menu):
    ordered, done = [], set()
    pending = list(writes)
    while pending:
        ready = [op for op in pending if all(id(dep) in done for dep in waits_for[id(op)])]
        if not ready:
            raise ReconcileError("%s: items swap values RouterOS keeps unique (%s); change them in two runs"
                                 % (menu.section, ", ".join(str(op.key) for op in pending)))
        for op in ready:
            ordered.append(op)
            done.add(id(op))
        pending = [op for op in pending if id(op) not in done]
    return ordered


def render_commands(desired, menu_paths=None):
    """State rendered: the RouterOS script (rsc.py, export quoting) that creates ``desired`` on an
    empty router, secrets masked. Items are checked by the same ownership rules as writes."""
    selected = dict((section, [split_accepts(item)[0] for item in items or ()]) for section, items in desired.items()
                    if menu_paths is None or menu_table.MENUS_BY_SECTION[section].path in menu_paths)
    for path in menu_table.APPLY_ORDER:
        menu = menu_table.MENUS[path]
        _validate_desired(menu, selected.get(menu.section) or ())
    return rsc.render(selected, reveal_secrets=False)


def gather(session, menu_paths):
    """State gathered: owned items of each menu in module format, secrets masked."""
    gathered = {}
    for path in menu_paths:
        menu = menu_table.MENUS[path]
        gathered[menu.section] = [to_module_item(menu, row) for row in session.read(path)
                                  if row_is_owned(menu, row)]
    return gathered


def execute(session, operations):
    """Write ``operations`` (as ordered by ``ordered_operations``) through ``session``, in order.

    Ids of items added earlier in the run are resolved as they become known. Raises ReconcileError
    naming the failed write (masked) and how many writes succeeded before it.
    """
    new_ids = {}
    for op in operations:
        try:
            _execute(session, op, new_ids)
        except Exception as error:  # librouteros trap, lost connection, ...
            lost = ""
            if session.unconfirmed:
                lost = (" (its reply never came: it was sent and may have taken effect, %d write(s) in all "
                        "unconfirmed)" % session.unconfirmed)
            raise ReconcileError(
                "%s failed after %d write(s)%s: %s" % (op.command(), session.writes, lost, explain_permissions(
                    scrub(str(error), op.args, op.menu), writing=True)))


def _resolve(value, new_ids):
    if isinstance(value, NewItem):
        return new_ids[value]
    return value


def _execute(session, op, new_ids):
    path = op.menu.path
    if op.action == "add":
        new_ids[NewItem(path, op.key)] = session.add(path, op.args, place_before=_resolve(op.before, new_ids))
    elif op.action == "set":
        session.set(path, _resolve(op.target, new_ids), op.args)
    elif op.action == "move":
        session.move(path, _resolve(op.target, new_ids), _resolve(op.before, new_ids))
    elif op.action == "remove":
        session.remove(path, _resolve(op.target, new_ids))


def scrub(text, args, menu):
    """``text`` with every secret value of ``args`` replaced by MASK."""
    for name in menu.secrets:
        value = args.get(name)
        if value:
            text = text.replace(value, MASK)
    return text
