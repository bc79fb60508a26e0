# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs ipsec_firewall in-process on the controller (one task per host, no interpreter start-up).

When the task gives no ``tunnels``, they are derived here from the inventory intent (``ipsec_tunnels``,
``ipsec_topologies``, host vars) with the planner the phase roles use, for ``inventory_hostname``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import firewall_engine as firewall_runner
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import ControllerAction


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
    index = intent.FleetIndex(raw or [], task_vars["hostvars"], topologies, task_vars.get("groups"), only_host=host)
    return firewall_runner.tunnels_from_intent(index.tunnels_of(host), host)


class ActionModule(ControllerAction):

    def argument_spec(self):
        return firewall_runner.argument_spec()

    def run_engine(self, params, connect, task_vars):
        if params.get("tunnels") is None and params["state"] in ("merged", "replaced", "overridden", "rendered"):
            params["tunnels"] = _intent_tunnels(task_vars, self._templar)
        return firewall_runner.run(params, connect, check_mode=self._task.check_mode, diff=self._task.diff)
