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
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import firewall as firewall_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import lockout
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import converge
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import Guard

STATES = reconcile.STATES


class FirewallError(converge.ConvergeError):
    """A refusal or failure of the firewall task (carries the result to report, like ConvergeError)."""


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


def plan(params):
    """The firewall plan of the task's explicit ``tunnels`` (TunnelFacts or option mappings)."""
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


def guard(params):
    """The lock-out protection the task's options ask for."""
    timeout = None
    if params.get("confirm", True):
        try:
            timeout = lockout.timeout_seconds(params.get("confirm_timeout") or "2m", params.get("timeout"))
        except lockout.LockoutError as error:
            raise FirewallError(str(error))
    return Guard(sources=lockout.parse_sources(params.get("management_sources") or []),
                 ports=params.get("management_ports") or lockout.DEFAULT_MANAGEMENT_PORTS,
                 check=params.get("lockout_check", True), confirm_timeout=timeout)


def run(params, connect, check_mode=False, diff=False, now=time.time, firewall=None):
    """Run one invocation through the one pipeline. ``connect()`` returns a NEW logged-in librouteros
    Api on every call. ``firewall``: a plan already built (the action's HostPlan); else ``plan(params)``."""
    fw = firewall if firewall is not None else plan(params)
    try:
        result = converge.converge(connect, fw.sections, params["state"], firewall_plan.SECTIONS, blocks=fw.blocks,
                                   guard=guard(params), check_mode=check_mode, now=now)
    except converge.ConvergeError as error:
        if isinstance(error, FirewallError):
            raise
        raise FirewallError(str(error), error.result)
    result["warnings"] = list(fw.warnings) + result.get("warnings", [])
    if fw.mss is not None:
        result["mss"] = fw.mss
        result["mss_explanation"] = fw.mss_explanation
    result.pop("operations", None)
    changes = result.pop("diff", None)
    if diff and changes is not None:
        result["diff"] = changes
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
    except converge.ConvergeError as error:  # a refusal or a failed write: report what was written
        module.fail_json(msg=str(error), **error.result)
    except Exception as error:  # refusals, a trap or a lost connection: a failed task, as the action reports it
        module.fail_json(msg=str(error))
    warnings = result.pop("warnings", [])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)
