# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ipsec_site invocation: every section of a router's HostPlan (IPsec menus and the firewall
around them) converged in ONE task over ONE API session: one login, one print per managed menu,
one safe order of writes across all menus, the firewall's lock-out check and commit-confirm as steps
of the same pipeline (apply/converge.py).

The per-role modules (ipsec_phase1, ipsec_phase2, ipsec_firewall) converge the same HostPlan one
share at a time; this is the same result in one round of reads.

Kept Python 3.8+ compatible: the module's ``main()`` imports it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.community.routeros.plugins.module_utils.api import api_argument_spec
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import certificates as certificate_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import converge
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import firewall_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import lockout
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan as host_plans

FEATURES = tuple(name for name, _build, _sections in host_plans.BUILDERS)
STATES = reconcile.STATES
# states that converge towards the intent: a router that ends no tunnel would lose every owned item
CONVERGING_STATES = ("merged", "replaced", "overridden")


class SiteError(converge.ConvergeError):
    """A refusal or failure of the site task (carries the result to report, like ConvergeError)."""


def argument_spec():
    """The module's options; the action plugin fills the ones a task leaves out from inventory
    variables (plugins/action/ipsec_site.py, INVENTORY_DEFAULTS)."""
    firewall = firewall_engine.argument_spec()
    spec = dict(
        features=dict(type="list", elements="str", choices=list(FEATURES), default=list(FEATURES)),
        state=dict(type="str", default="overridden", choices=list(STATES)),
        secret_update=dict(type="str", default="on_change", choices=list(reconcile.SECRET_UPDATE_MODES),
                           no_log=False),
        firewall_options=dict(firewall["options"], default={}),
        firewall_overrides=dict(type="dict", default={}),
        management_sources=firewall["management_sources"],
        management_ports=firewall["management_ports"],
        lockout_check=firewall["lockout_check"],
        confirm=firewall["confirm"],
        confirm_timeout=firewall["confirm_timeout"],
    )
    spec.update(api_argument_spec())
    return spec


def sections_of(features):
    """The plan sections (and so the menus) the task manages, in builder order."""
    sections = []
    for name in FEATURES:
        if name in features:
            sections.extend(host_plans.FEATURE_SECTIONS[name])
    return sections


def firewall_build_options(params):
    """The firewall builder's knobs from the task's options (unset ones left to the builder)."""
    options = dict((k, v) for k, v in (params.get("firewall_options") or {}).items() if v is not None)
    return {"firewall_options": options, "firewall_overrides": params.get("firewall_overrides") or {}}


def guard(params):
    """The lock-out protection of the firewall part (ipsec_firewall's options, same meaning)."""
    try:
        return firewall_engine.guard(params)
    except converge.ConvergeError as error:
        raise SiteError(str(error))


def run(params, connect, plan, check_mode=False, diff=False):
    """Converge ``plan`` (a HostPlan built with ``firewall_build_options(params)``) in one session.

    ``connect()`` returns a NEW logged-in librouteros Api on every call (the commit-confirm needs a
    second one). Returns the module result; raises SiteError carrying the result to report.
    """
    state = params["state"]
    features = params.get("features") or list(FEATURES)
    if state in CONVERGING_STATES and not plan.tunnels and not plan.sections.get("mode_configs"):
        # overridden would remove everything the collection owns: only ever on purpose
        raise SiteError("host '%s' ends no tunnel in the intent (ipsec_tunnels / ipsec_topologies): nothing to "
                        "converge. To remove what the collection owns on it, run it with state=deleted "
                        "(playbooks/decommission.yml)" % plan.host)
    sections = sections_of(features)
    desired = dict((s, plan.sections.get(s, [])) for s in sections)
    if state == "deleted":
        desired = {}  # every owned item of the managed menus, whatever the intent says
    firewall_on = "firewall" in features
    certificates_on = "certificates" in features
    cert_items = desired.pop("certificates", []) if certificates_on else []
    cert_changes = None
    if certificates_on and state != "rendered" and (cert_items or state == "deleted"):
        # (a router without certificate tunnels pays no extra session: owned certificates left from
        # an earlier certificate intent go with state=deleted, docs/certificates.md)
        # before the IPsec menus: the certificates the identities are about to reference
        cert_changes = _certificates(connect, cert_items, state, check_mode, "install")
    try:
        result = converge.converge(connect, desired, state, [s for s in sections if s != "certificates"],
                                   blocks=plan.blocks if firewall_on else None,
                                   guard=guard(params) if firewall_on else None, check_mode=check_mode,
                                   secret_update=params.get("secret_update") or "on_change")
    except converge.ConvergeError as error:
        if isinstance(error, SiteError):
            raise
        raise SiteError(str(error), error.result)
    except lockout.LockoutError as error:  # refused before any write
        raise SiteError(str(error))
    if cert_changes is not None:
        # after them: the owned certificates no identity references any more
        _certificates(connect, cert_items, state, check_mode, "prune")
        result["certificates"] = cert_changes
        if cert_changes["imported"] or cert_changes["removed"]:
            result["changed"] = True
            result["commands"] = cert_changes.pop("commands") + result.get("commands", [])
        else:
            cert_changes.pop("commands")
    result["warnings"] = list(plan.warnings) + result.get("warnings", [])
    result["tunnels"] = sorted(t.name for t in plan.tunnels)
    if firewall_on and plan.notes.get("mss") is not None:
        result["mss"] = plan.notes["mss"]
        result["mss_explanation"] = plan.notes["mss_explanation"]
    if "route_based" in features and plan.notes.get("route_based"):
        result["route_based"] = plan.notes["route_based"]
    result.pop("operations", None)
    changes = result.pop("diff", None)
    if diff and changes is not None:
        result["diff"] = changes
    return result


def _certificates(connect, items, state, check_mode, step):
    """One step of the /certificate convergence (apply/certificates.py) over its own session:
    ``install`` returns what the run changes (names and commands, no secrets); ``prune`` removes."""
    session = ApiSession(connect())
    try:
        rows = session.read(certificate_engine.PATH)
        imports, removals = certificate_engine.plan(rows, items, state)
        if step == "install":
            commands = [line for item in imports for line in certificate_engine.import_commands(item)]
            commands += ["/certificate remove %s" % row.get("name") for row in removals]
            if not check_mode:
                certificate_engine.install(session, rows, imports)
            changes = certificate_engine.summary(imports, removals)
            changes["commands"] = commands
            return changes
        if not check_mode:
            certificate_engine.prune(session, removals)
        return None
    except Exception as error:
        raise SiteError("certificates (%s): %s" % (step, error),
                        converge.written(session, {"changed": False, "commands": []}))
    finally:
        session.close()


def module_main():
    """``main()`` of the module: the intent lives in the inventory, so only the action plugin can plan."""
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="ipsecfleet.routeros.ipsec_site plans from the inventory intent and runs through its "
                         "action plugin on the controller; it cannot run as a module on a target host")
