# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs ipsec_site in-process on the controller: this host's HostPlan (every feature builder, the
intent normalised once) converged in one task over one API session.

Options a task leaves out come from the same inventory variables the roles read, so
``ipsecfleet.routeros.ipsec_site: {}`` converges a router exactly as the three roles would.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan.host_plan import HostPlan
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import ControllerAction

# option -> inventory variable read when the task does not give the option (the roles' variables)
INVENTORY_DEFAULTS = (
    ("state", "ipsec_site_state"),
    ("features", "ipsec_site_features"),
    ("secret_update", "ipsec_phase1_secret_update"),
    ("firewall_options", "ipsec_firewall_options"),
    ("firewall_overrides", "ipsec_firewall_overrides"),
    ("management_sources", "ipsec_firewall_management_sources"),
    ("management_ports", "ipsec_firewall_management_ports"),
    ("lockout_check", "ipsec_firewall_lockout_check"),
    ("confirm", "ipsec_firewall_confirm"),
    ("confirm_timeout", "ipsec_firewall_confirm_timeout"),
    ("username", "ipsec_api_username"),
    ("password", "ipsec_api_password"),
    ("tls", "ipsec_api_tls"),
    ("validate_certs", "ipsec_api_validate_certs"),
    ("validate_cert_hostname", "ipsec_api_validate_cert_hostname"),
    ("force_no_cert", "ipsec_api_force_no_cert"),
    ("ca_path", "ipsec_api_ca_path"),
    ("timeout", "ipsec_api_timeout"),
)
# what the roles default to when neither the task nor the inventory says
CONNECTION_FALLBACKS = {"username": "admin", "password": ""}


def inventory_arguments(task_args, lookup):
    """The task's arguments with the gaps filled from inventory variables.

    ``lookup(name)`` returns the templated inventory variable or None. The API address and port
    follow the roles: ``ipsec_api_hostname``, else ``ansible_host``, else the inventory name;
    ``ipsec_api_port``, else ``routeros_api_tls_port`` (TLS) / ``routeros_api_port`` (the lab's).
    """
    args = dict(task_args)
    for option, variable in INVENTORY_DEFAULTS:
        if option not in args:
            value = lookup(variable)
            if value is None:
                value = CONNECTION_FALLBACKS.get(option)
            if value is not None:
                args[option] = value
    if "hostname" not in args:
        args["hostname"] = lookup("ipsec_api_hostname") or lookup("ansible_host") or lookup("inventory_hostname")
    if "port" not in args:
        tls = args.get("tls", args.get("ssl", False))
        tls = tls if isinstance(tls, bool) else str(tls).lower() in ("1", "true", "yes", "on")
        port = lookup("ipsec_api_port") or lookup("routeros_api_tls_port" if tls else "routeros_api_port")
        if port not in (None, ""):
            args["port"] = port
    return args


class ActionModule(ControllerAction):

    def argument_spec(self):
        return site_engine.argument_spec()

    def task_arguments(self, task_vars):
        def lookup(name):
            if name not in task_vars:
                return None
            return self._templar.template(task_vars[name])
        return inventory_arguments(self._task.args, lookup)

    def run_engine(self, params, connect, task_vars):
        features = params.get("features") or list(site_engine.FEATURES)
        plan = self.host_plan(task_vars, features=features, **site_engine.firewall_build_options(params))
        if plan is None:  # the inventory declares no intent at all
            plan = HostPlan(task_vars["inventory_hostname"], [])
        return site_engine.run(params, connect, plan, check_mode=self._task.check_mode, diff=self._task.diff)
