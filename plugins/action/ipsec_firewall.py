# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs ipsec_firewall in-process on the controller (one task per host, no interpreter start-up).

When the task gives no ``tunnels``, the firewall is planned here from the inventory intent
(``ipsec_tunnels``, ``ipsec_topologies``, host vars): the firewall builder of this host's HostPlan,
reading the intent's Tunnel model directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import firewall_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan.firewall import FirewallPlan
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import ControllerAction


def firewall_of(host_plan):
    """The firewall part of a HostPlan in the shape the firewall engine takes."""
    fw = FirewallPlan()
    fw.sections = dict((s, host_plan.sections.get(s, [])) for s in fw.sections)
    fw.blocks = host_plan.blocks
    fw.warnings = host_plan.warnings
    fw.mss = host_plan.notes.get("mss")
    fw.mss_explanation = host_plan.notes.get("mss_explanation")
    return fw


class ActionModule(ControllerAction):

    def argument_spec(self):
        return firewall_engine.argument_spec()

    def run_engine(self, params, connect, task_vars):
        firewall = None
        if params.get("tunnels") is None and params["state"] in ("merged", "replaced", "overridden", "rendered"):
            options = dict((k, v) for k, v in (params.get("options") or {}).items() if v is not None)
            plan = self.host_plan(task_vars, features=("firewall",), firewall_options=options,
                                  firewall_overrides=params.get("overrides") or {})
            if plan is not None:
                firewall = firewall_of(plan)
        return firewall_engine.run(params, connect, check_mode=self._task.check_mode, diff=self._task.diff,
                                   firewall=firewall)
