# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one apply pipeline: every section of a task (IPsec menus, firewall, and later interfaces,
routes, scripts) goes through the same steps, over one counted API session:

    read      every managed menu once, all prints in one round trip (ApiSession.prefetch)
    plan      the change set per menu (reconcile.plan_changes; the firewall's blocks through
              placement.plan_menu), then one safe order across all menus (reconcile.ordered_operations)
    guard     the static lock-out check on the resulting input chain (apply/lockout.py)
    arm       commit-confirm: a revert scheduler written through the same session (apply/lockout.py)
    execute   the writes, in order (reconcile.execute)
    confirm   a NEW connection proves management still works, then disarms the revert

A failure after a write raises ``ConvergeError`` whose ``result`` says ``changed: true`` and the true
number of writes, so a failed task never hides that the router was changed.

Kept Python 3.8+ compatible: the modules' ``main()`` may run it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import lockout
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import placement
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession, explain_permissions
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus as menu_table

FILTER = "/ip/firewall/filter"
ADDRESS_LIST = "/ip/firewall/address-list"


class ConvergeError(reconcile.ReconcileError):
    """A refusal or a failed write; ``result`` is what the task must report (changed, writes, ...)."""

    def __init__(self, message, result=None):
        super(ConvergeError, self).__init__(message)
        self.result = result or {"changed": False, "writes": 0}


class Guard(object):
    """Lock-out protection of a task that manages the firewall."""

    def __init__(self, sources=(), ports=lockout.DEFAULT_MANAGEMENT_PORTS, check=True, confirm_timeout=None):
        self.sources = list(sources)          # lockout.Source objects
        self.ports = list(ports)
        self.check = check                    # the static check on the planned input chain
        self.confirm_timeout = confirm_timeout  # seconds of the commit-confirm, None: no commit-confirm


def _is_firewall(path):
    return path in menu_table.FIREWALL_PATHS


def owned(menu, row):
    """Rows this engine manages: ipsecfleet-owned, and in the firewall menus the ``fw-`` keys only
    (other features' ipsecfleet items in the same menus are not the firewall's)."""
    if _is_firewall(menu.path):
        return placement.is_ours(menu, row)
    return reconcile.row_is_owned(menu, row)


def owned_items(menu, rows):
    return [reconcile.to_module_item(menu, row) for row in rows if owned(menu, row)]


def _clock(seconds):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _menu_plans(rows, desired, state, paths, blocks, secret_update, anchors, notes):
    plans = []
    delete_everything = state == "deleted" and not any(desired.get(s) for s in desired)
    for path in paths:
        menu = menu_table.MENUS[path]
        items = desired.get(menu.section) or []
        if blocks is not None and _is_firewall(path):
            # the firewall feature's rules go into their blocks among foreign rules
            menu_plan = reconcile.MenuPlan(menu)
            menu_plan.rows = list(rows[path])
            if state != "deleted":
                items, covered = placement.covered_by_foreign(menu.section, menu_plan.rows, items, blocks)
                notes.extend(covered)
            try:
                menu_plan.operations, menu_plan.removals = placement.plan_menu(
                    menu.section, menu_plan.rows, items, blocks, state)
            except placement.PlacementError as error:
                raise ConvergeError(str(error))
            plans.append(menu_plan)
            continue
        if state == "deleted" and not delete_everything and not items:
            continue
        if state in ("merged", "replaced") and menu.section not in desired:
            continue
        plans.append(reconcile.plan_changes(menu, rows[path], items, state, anchor=anchors.get(path),
                                            secret_update=secret_update))
    return plans


def _diff(plans, rows, operations, blocks):
    before, after = {}, {}
    for plan in plans:
        menu = plan.menu
        if blocks is not None and _is_firewall(menu.path) and menu.path in rows:
            before[menu.section] = owned_items(menu, rows[menu.path])
            after[menu.section] = owned_items(menu, placement.simulate(menu, rows[menu.path], operations))
        else:
            before[menu.section], after[menu.section] = plan.before, plan.after
    return {"before": before, "after": after}


def written(session, result):
    """``result`` of a failed run, saying what the run wrote through ``session``: ``changed`` whenever
    a write took effect or may have (sent, reply lost), ``writes`` the confirmed ones and
    ``writes_unconfirmed`` those whose reply never came."""
    result = dict(result)
    result["writes"] = session.writes
    result["changed"] = session.writes > 0 or session.unconfirmed > 0
    if session.unconfirmed:
        result["writes_unconfirmed"] = session.unconfirmed
    return result


def apply(session, desired, state, check_mode=False, menu_paths=None, secret_update="on_change", blocks=None,
          guard=None, anchors=None, now=time.time):
    """The pipeline over one logged-in ``session``: read, plan, guard, arm, execute.

    ``desired``: section -> module-format items. ``menu_paths``: the menus this task manages (default:
    those ``desired`` names). ``blocks``: firewall item key -> placement block. ``guard``: a Guard when
    the task manages the firewall. ``anchors``: menu path -> anchor function for ordered menus planned
without blocks. Returns the result (changed, commands, writes, operations, diff, and
    gathered / rendered / lockout / revert_armed_until); the caller confirms an armed revert over a
    new connection (``converge`` does). Raises ConvergeError (a ReconcileError) with the result to report.
    """
    if state not in reconcile.STATES:
        raise ConvergeError("state must be one of %s" % ", ".join(reconcile.STATES))
    desired = desired or {}
    for section in desired:
        if section not in menu_table.MENUS_BY_SECTION:
            raise ConvergeError("unknown section %r" % section)
    if menu_paths is None:
        menu_paths = [menu_table.MENUS_BY_SECTION[s].path for s in desired]
    paths = [p for p in menu_table.APPLY_ORDER if p in set(menu_paths)]
    result = {"changed": False, "commands": [], "writes": 0}
    if state == "rendered":
        result["rendered"] = reconcile.render_commands(desired, paths)
        return result
    session.prefetch(paths)  # every managed menu in one round trip
    rows = dict((path, session.read(path)) for path in paths)
    if state == "gathered":
        result["gathered"] = dict((menu_table.MENUS[p].section, owned_items(menu_table.MENUS[p], rows[p]))
                                  for p in paths)
        return result
    # every menu is read and planned before the first write: a collision aborts a run untouched
    covered = []
    plans = _menu_plans(rows, desired, state, paths, blocks, secret_update, anchors or {}, covered)
    plans, operations = reconcile.ordered_operations(session, plans)
    result.update(changed=bool(operations), commands=[op.command() for op in operations],
                  operations=[op.as_dict() for op in operations], diff=_diff(plans, rows, operations, blocks))
    if covered:
        # planned rules the router's own rules already do (RouterOS default configuration): not added
        result["covered_by_foreign"] = covered
    if guard is not None and FILTER in rows:
        _static_lockout_check(guard, rows, operations, result)
    if check_mode or not operations:
        return result
    armed_until = None
    if guard is not None and guard.confirm_timeout and any(_is_firewall(op.menu.path) for op in operations):
        revert = lockout.revert_script(dict((p, rows.get(p) or session.read(p)) for p in menu_table.FIREWALL_PATHS))
        lockout.arm(session, revert, guard.confirm_timeout)
        armed_until = _clock(now() + guard.confirm_timeout)
        result["revert_armed_until"] = armed_until
    try:
        reconcile.execute(session, operations)
    except reconcile.ReconcileError as error:  # a trap or a lost connection
        message = str(error)
        if armed_until:
            message += ("; the commit-confirm stays armed: the router will restore the previous managed "
                        "firewall rules at about %s" % armed_until)
        raise ConvergeError(message, written(session, result))
    result["writes"] = session.writes
    return result


def converge(connect, desired, state, sections, blocks=None, guard=None, check_mode=False,
             secret_update="on_change", now=time.time):
    """One task: ``apply`` over a new session to the menus of ``sections``, then the commit-confirm.

    ``connect()`` returns a NEW logged-in librouteros Api on every call (the confirm needs a second
    one). Raises ConvergeError with the result the task must report.
    """
    paths = [menu_table.MENUS_BY_SECTION[s].path for s in sections]
    if state == "rendered":
        return apply(None, desired, state, menu_paths=paths)
    session = ApiSession(connect())
    try:
        result = apply(session, desired, state, check_mode=check_mode, menu_paths=paths,
                       secret_update=secret_update, blocks=blocks, guard=guard, now=now)
    except (ConvergeError, lockout.LockoutError):  # LockoutError: a revert still armed, refused unwritten
        raise
    except Exception as error:  # a trap or a lost connection outside the writes (reading, arming)
        raise ConvergeError(explain_permissions(str(error)),
                            written(session, {"changed": False, "commands": []}))
    finally:
        session.close()
    if result.get("revert_armed_until"):
        _confirm(connect, result["revert_armed_until"], result)
    return result


def _static_lockout_check(guard, rows, operations, result):
    if not guard.check:
        return
    if not guard.sources:
        result.setdefault("warnings", []).append("no management_sources: the static lock-out check was skipped")
        return
    final = placement.final_rows(rows, operations)
    report = lockout.check(rows[FILTER], final[FILTER], rows.get(ADDRESS_LIST) or [],
                           final.get(ADDRESS_LIST) or [], guard.sources, guard.ports)
    result["lockout"] = report
    result.setdefault("warnings", []).extend(report["warnings"])
    if report["refused"]:
        raise ConvergeError("refusing to change the firewall: the input chain would stop accepting the "
                            "management sources:\n- " + "\n- ".join(report["problems"]), dict(result, changed=False))


def _confirm(connect, armed_until, result):
    """The proof that management still works: a NEW connection, made after the change, disarms."""
    try:
        session = ApiSession(connect())
    except Exception as error:
        raise ConvergeError("the firewall was changed (%d write(s)) but a new API connection failed (%s); the "
                            "router will restore the previous managed firewall rules at about %s (commit-confirm)"
                            % (result["writes"], error, armed_until), dict(result, changed=True))
    try:
        lockout.disarm(session)
    except Exception as error:
        failed = dict(result, changed=True, writes=result["writes"] + session.writes)
        if session.unconfirmed:
            failed["writes_unconfirmed"] = session.unconfirmed
        raise ConvergeError("reconnected but could not disarm the commit-confirm (%s); the router will restore "
                            "the previous managed firewall rules at about %s" % (error, armed_until), failed)
    finally:
        session.close()
    result["writes"] += session.writes
    result["confirmed"] = True
