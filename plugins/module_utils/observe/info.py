# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ipsec_info: one read-only API session per router -> managed configuration, live state, the
status of each intent tunnel, the diagnosis, drift against the HostPlan and (optionally) the audit.

Kept Python 3.8+ compatible: the module's ``main()`` imports it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.community.routeros.plugins.module_utils.api import api_argument_spec
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import audit as audits
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import diagnosis
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import drift as drifts
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import gather

FEATURES = site_engine.FEATURES


class InfoError(Exception):
    """A bad option (the audit policy) or nothing readable."""


def argument_spec():
    spec = dict(
        features=dict(type="list", elements="str", choices=list(FEATURES), default=list(FEATURES)),
        log_lines=dict(type="int", default=50),
        drift=dict(type="bool", default=True),
        audit=dict(type="bool", default=False),
        audit_policy=dict(type="dict", default={}),
        raw_state=dict(type="bool", default=False),
        firewall_options=dict(type="dict", default={}),
        firewall_overrides=dict(type="dict", default={}),
    )
    spec.update(api_argument_spec())
    return spec


def run(params, connect, plan):
    """Read the router once over ``connect()`` and build the result (module RETURN). Never writes."""
    try:
        policy = audits.load_policy(params.get("audit_policy") or None)
    except audits.PolicyError as error:
        raise InfoError(str(error))
    session = ApiSession(connect())
    try:
        state = gather.read_state(session, log_lines=params.get("log_lines", 50), audit_menus=params.get("audit"))
    finally:
        session.close()
    if session.writes:
        raise InfoError("ipsec_info wrote to the router (%d writes): a bug" % session.writes)
    return build_result(state, plan, params, policy, reads=session.reads)


def build_result(state, plan, params, policy=None, reads=None):
    """The module result from gathered ``state`` and the router's HostPlan (pure)."""
    host = plan.host
    features = params.get("features") or list(FEATURES)
    selectors = gather.selectors_of(host, plan.tunnels)
    findings = diagnosis.diagnose(state, selectors)
    result = {
        "changed": False,
        "host": host,
        "version": (state.get("resource") or {}).get("version"),
        "config": gather.managed_config(state),
        "peers": [dict(p) for p in state.get("active_peers") or []],
        "installed_sa": [gather.sa_row(sa) for sa in state.get("installed_sa") or []],
        "policies": [_policy_row(p) for p in state.get("policies") or []],
        "statistics": state.get("statistics") or {},
        "log": state.get("log") or [],
        "tunnels": gather.tunnel_status(state, host, plan.tunnels, findings),
        "diagnosis": findings,
        "unreadable": state.get("unreadable") or {},
    }
    result["tunnels_up"] = sum(1 for t in result["tunnels"] if t["up"])
    result["tunnels_down"] = [t["tunnel"] for t in result["tunnels"] if not t["up"]]
    entries = drifts.compute(state, plan, site_engine.sections_of(features))
    if params.get("drift", True):
        result["drift"] = entries
        result["drift_lines"] = drifts.describe(entries)
    named = bool(plan.tunnels) or any(plan.sections.get(s) for s in site_engine.sections_of(features))
    result["leftovers"] = drifts.leftovers(entries, [t.name for t in plan.tunnels], named=named)
    if params.get("audit"):
        policy = policy or audits.load_policy(None)
        found = audits.audit_router(host, gather.audit_view(state), policy)
        reported, failing = audits.apply_policy(found, policy)
        result["audit"] = {"findings": reported, "failing": failing, "summary": audits.summary(reported)}
    if params.get("raw_state"):
        result["state"] = gather.masked_state(state)
    if reads is not None:
        result["api_reads"] = reads
    return result


def _policy_row(row):
    keep = ("peer", "src-address", "dst-address", "tunnel", "action", "proposal", "ph2-state", "active",
            "template", "disabled", "comment", "dynamic", "invalid")
    return dict((k.replace("-", "_"), row.get(k)) for k in keep if k in row)


def module_main():
    """``main()`` of the module: drift needs the inventory intent, so only the action plugin runs it."""
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="ipsecfleet.routeros.ipsec_info reads the inventory intent and runs through its action "
                         "plugin on the controller; it cannot run as a module on a target host")
