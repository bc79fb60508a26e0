# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs ipsec_firewall in-process on the controller (one task per host, no interpreter start-up).

When the task gives no ``tunnels``, they are derived here from the inventory intent (``ipsec_tunnels``,
``ipsec_topologies``, host vars) with the planner the phase roles use, for ``inventory_hostname``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.community.routeros.plugins.module_utils.api import check_has_library, create_api
from ansible_collections.ipsecfleet.routeros.plugins.module_utils import firewall_runner
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import (
    EngineFailure,
    _ControllerModule,
    _masked,
)


def _intent_tunnels(task_vars, templar):
    """This host's tunnels in ipsec_firewall's input form, from the inventory intent (or None)."""
    # task_vars hold the intent as written: render it (a psk given as "{{ vault_... }}") as the
    # phase roles' ipsec_plan filter receives it
    raw = templar.template(task_vars.get("ipsec_tunnels"))
    topologies = templar.template(task_vars.get("ipsec_topologies"))
    if raw is None and topologies is None:
        return None
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent

    host = task_vars["inventory_hostname"]
    index = intent.FleetIndex(raw or [], task_vars["hostvars"], topologies, task_vars.get("groups"))
    return firewall_runner.tunnels_from_intent(index.tunnels_of(host), host)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        validation = ArgumentSpecValidator(firewall_runner.argument_spec()).validate(self._task.args)
        secrets = set(validation._no_log_values)
        if validation.error_messages:
            result.update(failed=True, msg=_masked("; ".join(validation.error_messages), secrets))
            return result
        params = validation.validated_parameters
        module = _ControllerModule(params)

        def connect():
            check_has_library(module)
            return create_api(module)

        try:
            if params.get("tunnels") is None and params["state"] in ("merged", "replaced", "overridden", "rendered"):
                params["tunnels"] = _intent_tunnels(task_vars, self._templar)
            outcome = firewall_runner.run(params, connect, check_mode=self._task.check_mode, diff=self._task.diff)
        except EngineFailure as error:
            result.update(failed=True, msg=_masked(to_native(error), secrets))
            result.update(_masked(error.details, secrets))
            return result
        except Exception as error:  # FirewallError, LockoutError, IntentError, a trap, a lost connection
            result.update(failed=True, msg=_masked(to_native(error), secrets))
            return result
        warnings = outcome.pop("warnings", [])
        if warnings:
            result["warnings"] = list(result.get("warnings") or []) + warnings
        result.update(_masked(outcome, secrets))
        return result
