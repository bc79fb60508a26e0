# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs ipsec_info in-process on the controller: one read-only API session per router, the host's
HostPlan (the same builders and firewall options as ipsec_site) for the tunnel list and the drift.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.action.ipsec_site import inventory_arguments
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import info
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan.host_plan import HostPlan
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import ControllerAction


class ActionModule(ControllerAction):

    def argument_spec(self):
        return info.argument_spec()

    def task_arguments(self, task_vars):
        def lookup(name):
            if name not in task_vars:
                return None
            return self._templar.template(task_vars[name])
        known = set(info.argument_spec())
        args = inventory_arguments(self._task.args, lookup)
        # ipsec_site's inventory options that ipsec_info has no use for (state, lock-out, ...)
        return dict((k, v) for k, v in args.items() if k in known or k in self._task.args)

    def run_engine(self, params, connect, task_vars):
        features = params.get("features") or list(site_engine.FEATURES)
        plan = self.host_plan(task_vars, features=features, **site_engine.firewall_build_options(params))
        if plan is None:
            plan = HostPlan(task_vars["inventory_hostname"], [])
        return info.run(params, connect, plan)
