# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ipsec_firewall invocation: plan, place, check for lock-out, arm the commit-confirm, apply
through the one engine, reconnect and disarm. Shared by the module's ``main()`` and, in-process, by
the action plugin of the same name.

Kept Python 3.8+ compatible: the module imports it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.community.routeros.plugins.module_utils.api import api_argument_spec
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import placement as placement
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import firewall as firewall_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import lockout
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus as menu_table
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession

STATES = reconcile.STATES
FILTER = "/ip/firewall/filter"
ADDRESS_LIST = "/ip/firewall/address-list"


class FirewallError(Exception):
    pass


def argument_spec():
    spec = dict(
        tunnels=dict(type="list", elements="dict", options=dict(
            peer_address=dict(type="str", required=True),
            local_prefixes=dict(type="list", elements="str", default=[]),
            remote_prefixes=dict(type="list", elements="str", default=[]),
            enc_algorithms=dict(type="list", elements="str"),
            auth_algorithms=dict(type="list", elements="str"),
            ipsec_protocols=dict(type="str", choices=["esp", "ah"], default="esp"),
            nat_traversal=dict(type="bool", default=True),
        )),
        options=dict(type="dict", default={}, options=dict(
            peer_list=dict(type="str"),
            ike_rate_limit=dict(type="str"),
            fasttrack_bypass=dict(type="str", choices=["raw", "accept", "none"]),
            nat_bypass=dict(type="str", choices=["policy", "prefixes", "none"]),
            forward_state=dict(type="bool"),
            mss=dict(type="str"),
            wan_mtu=dict(type="int"),
            outer_ip_version=dict(type="int", choices=[4, 6]),
        )),
        overrides=dict(type="dict", default={}),
        state=dict(type="str", default="merged", choices=list(STATES)),
        management_sources=dict(type="list", elements="raw", default=[]),
        management_ports=dict(type="list", elements="int", default=list(lockout.DEFAULT_MANAGEMENT_PORTS)),
        lockout_check=dict(type="bool", default=True),
        confirm=dict(type="bool", default=True),
        confirm_timeout=dict(type="str", default="2m"),
    )
    spec.update(api_argument_spec())
    return spec


def tunnels_from_intent(tunnels, host):
    """This module's tunnel input from the planner's validated ``intent.Tunnel`` objects of ``host``."""
    result = []
    for tunnel in tunnels:
        local, remote = tunnel.side(host)
        selectors = tunnel.selectors(host)
        result.append({
            "peer_address": str(remote.address),
            "local_prefixes": sorted(set(str(src) for src, _dst in selectors)),
            "remote_prefixes": sorted(set(str(dst) for _src, dst in selectors)),
            "enc_algorithms": list(tunnel.suite.proposal["enc_algorithms"]),
            "auth_algorithms": list(tunnel.suite.proposal["auth_algorithms"]),
            "nat_traversal": bool(tunnel.nat_traversal),
            "ipsec_protocols": "esp",
        })
    return result


def _plan(params):
    tunnels = params.get("tunnels")
    if tunnels is None:
        if params["state"] in ("merged", "replaced", "overridden", "rendered"):
            raise FirewallError("state=%s needs tunnels" % params["state"])
        tunnels = []
    options = dict((k, v) for k, v in (params.get("options") or {}).items() if v is not None)
    try:
        return firewall_plan.build_plan(tunnels, options, params.get("overrides") or {})
    except firewall_plan.PlanError as error:
        raise FirewallError(str(error))


def _owned_items(rows_by_path):
    result = {}
    for path in placement.FIREWALL_PATHS:
        menu = menu_table.MENUS[path]
        result[menu.section] = [reconcile.to_module_item(menu, row) for row in rows_by_path.get(path) or []
                                if placement.is_ours(menu, row)]
    return result


def _clock(seconds):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def run(params, connect, check_mode=False, diff=False, now=time.time):
    """Run one invocation. ``connect()`` returns a NEW logged-in librouteros Api on every call."""
    state = params["state"]
    plan = _plan(params)
    result = {"changed": False, "commands": [], "writes": 0, "warnings": list(plan.warnings)}
    if plan.mss is not None:
        result["mss"] = plan.mss
        result["mss_explanation"] = plan.mss_explanation
    if state == "rendered":
        result["rendered"] = reconcile.render_commands(plan.sections, placement.FIREWALL_PATHS)
        return result

    session = ApiSession(connect())
    try:
        rows = dict((path, session.read(path)) for path in placement.FIREWALL_PATHS)
        if state == "gathered":
            result["gathered"] = _owned_items(rows)
            return result
        try:
            operations = placement.plan_all(rows, plan.sections, plan.blocks, state, session)
        except (placement.PlacementError, reconcile.ReconcileError) as error:
            raise FirewallError(str(error))
        final = placement.final_rows(rows, operations)
        result["changed"] = bool(operations)
        result["commands"] = [op.command() for op in operations]
        if diff:
            result["diff"] = {"before": _owned_items(rows), "after": _owned_items(final)}

        if params.get("lockout_check", True):
            sources = lockout.parse_sources(params.get("management_sources") or [])
            if sources:
                report = lockout.check(rows[FILTER], final[FILTER], rows[ADDRESS_LIST], final[ADDRESS_LIST],
                                       sources, params.get("management_ports") or lockout.DEFAULT_MANAGEMENT_PORTS)
                result["lockout"] = report
                result["warnings"].extend(report["warnings"])
                if report["refused"]:
                    raise FirewallError("refusing to change the firewall: the input chain would stop accepting "
                                        "the management sources:\n- " + "\n- ".join(report["problems"]))
            else:
                result["warnings"].append("no management_sources: the static lock-out check was skipped")
        if check_mode or not operations:
            return result

        revert_at = None
        if params.get("confirm", True):
            timeout = lockout.timeout_seconds(params.get("confirm_timeout") or "2m")
            lockout.arm(session.api, lockout.revert_script(rows), timeout)
            revert_at = _clock(now() + timeout)
            result["revert_armed_until"] = revert_at
        try:
            reconcile.execute(session, operations)
        except reconcile.ReconcileError as error:  # a trap or a lost connection
            message = str(error)
            if revert_at:
                message += ("; the commit-confirm stays armed: the router will restore the previous "
                            "managed firewall rules at about %s" % revert_at)
            raise FirewallError(message)
        result["writes"] = session.writes
    finally:
        session.close()

    if revert_at:
        # the proof that management still works: a NEW connection, made after the change
        try:
            api = connect()
        except Exception as error:
            raise FirewallError("the firewall was changed but a new API connection failed (%s); the router will "
                                "restore the previous managed firewall rules at about %s (commit-confirm)"
                                % (error, revert_at))
        try:
            lockout.disarm(api)
        except Exception as error:
            raise FirewallError("reconnected but could not disarm the commit-confirm (%s); the router will "
                                "restore the previous managed firewall rules at about %s" % (error, revert_at))
        finally:
            try:
                api.close()
            except Exception:  # already gone; nothing to release
                pass
        result["confirmed"] = True
    return result


def module_main():
    """``main()`` of the module when it runs outside the action plugin."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.community.routeros.plugins.module_utils.api import check_has_library, create_api

    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if module.params["state"] != "rendered":
        check_has_library(module)
    try:
        result = run(module.params, lambda: create_api(module), check_mode=module.check_mode, diff=module._diff)
    except Exception as error:  # refusals, a trap or a lost connection: a failed task, as the action reports it
        module.fail_json(msg=str(error))
    warnings = result.pop("warnings", [])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)
