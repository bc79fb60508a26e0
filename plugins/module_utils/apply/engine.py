# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ipsec_phase1/ipsec_phase2 modules and their action plugins share: argument specs per
section, and one ``run_engine`` used both by a module's ``main()`` (remote) and in-process by the
action plugins on the controller (one login, one print per managed menu, no interpreter start-up).

Kept Python 3.8+ compatible: the modules import it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.community.routeros.plugins.module_utils.api import api_argument_spec
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus as menu_table
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import ConvergeError, converge
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.reconcile import (
    SECRET_UPDATE_MODES,
    STATES,
    ReconcileError,
)

# Suboptions of ``config.<section>``: generated from the one field table (device/menus.py).
SECTION_OPTIONS = dict((section, menu_table.option_spec(section)) for section in menu_table.MENUS_BY_SECTION
                       if not menu_table.MENUS_BY_SECTION[section].path.startswith("/ip/firewall/"))

PHASE1_SECTIONS = ("profiles", "peers", "identities")
PHASE2_SECTIONS = ("proposals", "policy_groups", "policies")
HA_SECTIONS = ("scripts", "netwatch", "vrrp", "schedulers")   # plan/ha.py SECTIONS


def engine_argument_spec(sections):
    """Argument spec of a module managing ``sections``: config, state, secret_update, API options."""
    config_options = {}
    for section in sections:
        config_options[section] = dict(type="list", elements="dict", options=dict(
            (name, dict(spec)) for name, spec in SECTION_OPTIONS[section].items()))
    spec = dict(
        config=dict(type="dict", options=config_options),
        state=dict(type="str", default="merged", choices=list(STATES)),
        secret_update=dict(type="str", default="on_change", choices=list(SECRET_UPDATE_MODES), no_log=False),
    )
    spec.update(api_argument_spec())
    return spec


def typed_item(section, item):
    """A gathered item (printed strings) in the types of the module's options, so it can be fed back."""
    options = SECTION_OPTIONS[section]
    typed = {}
    for name, value in item.items():
        spec = options.get(name)
        if spec is None:
            continue
        kind = spec.get("type")
        if kind == "bool" and value in ("true", "yes", "false", "no"):
            value = value in ("true", "yes")
        elif kind == "int" and str(value).isdigit():
            value = int(value)
        elif kind == "list":
            value = [part for part in str(value).split(",") if part]
        elif value in ("true", "false") and "no" in (spec.get("choices") or ()):
            # librouteros reads an enum's "no" as False: give back the enum word
            value = "yes" if value == "true" else "no"
        typed[name] = value
    return typed


def desired_from_params(params, sections):
    config = params.get("config") or {}
    return dict((section, config.get(section)) for section in sections if config.get(section) is not None)


def run_engine(params, sections, connect, check_mode=False, diff=False, desired=None):
    """Run the engine for one module invocation. ``connect()`` returns a logged-in librouteros Api.

    ``desired``: the items to converge when the task gives no ``config`` (the action plugin passes the
    host's plan). Returns the module result (without ``failed``); raises ConvergeError (a
    ReconcileError) carrying the result to report.
    """
    state = params["state"]
    if params.get("config") is not None or desired is None:
        desired = desired_from_params(params, sections)
        if state in ("merged", "replaced", "overridden") and params.get("config") is None:
            raise ReconcileError("state=%s needs config" % state)
    return _shape(converge(connect, desired, state, sections, check_mode=check_mode,
                           secret_update=params.get("secret_update") or "on_change"), diff)


def _shape(result, diff):
    shaped = dict(result)
    if "gathered" in shaped:
        shaped["gathered"] = dict((section, [typed_item(section, item) for item in items])
                                  for section, items in shaped["gathered"].items())
    shaped.pop("operations", None)
    changes = shaped.pop("diff", None)
    if diff and changes is not None:
        shaped["diff"] = changes
    return shaped


def module_main(sections):
    """``main()`` of a module: the same engine, run wherever Ansible executes the module."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.community.routeros.plugins.module_utils.api import check_has_library, create_api

    module = AnsibleModule(argument_spec=engine_argument_spec(sections), supports_check_mode=True)
    if module.params["state"] != "rendered":
        check_has_library(module)
    try:
        result = run_engine(module.params, sections, lambda: create_api(module),
                            check_mode=module.check_mode, diff=module._diff)
    except ConvergeError as error:  # a refusal or a failed write: report what was written
        module.fail_json(msg=str(error), **error.result)
    except Exception as error:  # a trap or a lost connection while reading
        module.fail_json(msg=str(error))
    module.exit_json(**result)
