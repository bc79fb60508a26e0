# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the engine modules: validate the task's arguments like AnsibleModule would,
log in with community.routeros's public helpers and run the engine inside the worker, so a fleet
pays API round trips, not one Python start-up per host and task (ARCHITECTURE.md, "Speed").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.community.routeros.plugins.module_utils.api import check_has_library, create_api
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import ConvergeError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import (
    engine_argument_spec,
    run_engine,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan as host_plans
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.reconcile import MASK


class EngineFailure(Exception):
    """Raised by the stand-in module when community.routeros reports a failure."""

    def __init__(self, msg, **details):
        super(EngineFailure, self).__init__(msg)
        self.details = details


class _ControllerModule(object):
    """What community.routeros's create_api/check_has_library need from a module: params, fail_json."""

    def __init__(self, params):
        self.params = params

    def fail_json(self, msg, **details):
        raise EngineFailure(msg, **details)


def _masked(value, secrets):
    # remove_values masks with its own placeholder; the collection shows one mask everywhere
    masked = remove_values(value, secrets)
    return _replace_placeholder(masked)


def _replace_placeholder(value):
    placeholder = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    if isinstance(value, str):
        return value.replace(placeholder, MASK)
    if isinstance(value, list):
        return [_replace_placeholder(v) for v in value]
    if isinstance(value, dict):
        return dict((k, _replace_placeholder(v)) for k, v in value.items())
    return value


class ControllerAction(ActionBase):
    """Runs one of the collection's engines inside the worker: validates the task's arguments like
    AnsibleModule would, connects with community.routeros's public helpers and masks every no_log
    value in whatever comes back. Subclasses give the argument spec and the engine call."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def argument_spec(self):
        raise NotImplementedError

    def run_engine(self, params, connect, task_vars):
        """Return the engine's outcome (a dict) for validated ``params``; ``connect()`` logs in."""
        raise NotImplementedError

    def task_arguments(self, task_vars):
        """The arguments to validate: the task's own (a subclass may fill gaps from inventory vars)."""
        return self._task.args

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super(ControllerAction, self).run(tmp, task_vars)
        validation = ArgumentSpecValidator(self.argument_spec()).validate(self.task_arguments(task_vars or {}))
        # ansible-core keeps the values of no_log options here; AnsibleModule masks with the same set
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
            outcome = self.run_engine(params, connect, task_vars or {})
        except ConvergeError as error:  # refused or failed after writes: report what was written
            result.update(_masked(error.result, secrets))
            result.update(failed=True, msg=_masked(to_native(error), secrets))
            return result
        except EngineFailure as error:
            result.update(failed=True, msg=_masked(to_native(error), secrets))
            result.update(_masked(error.details, secrets))
            return result
        except Exception as error:  # engine refusals, a trap or a lost connection
            result.update(failed=True, msg=_masked(to_native(error), secrets))
            return result
        outcome = _masked(outcome, secrets)  # warnings too: AnsibleModule masks them the same way
        warnings = outcome.pop("warnings", [])
        if warnings:
            result["warnings"] = list(result.get("warnings") or []) + warnings
        result.update(outcome)
        return result

    def host_plan(self, task_vars, features, **options):
        """This host's HostPlan from the inventory intent (None when the inventory declares none).

        The intent is normalised once per host and task; task_vars hold it as written, so it is
        rendered first (a psk given as "{{ vault_... }}")."""
        raw = self._templar.template(task_vars.get("ipsec_tunnels"))
        topologies = self._templar.template(task_vars.get("ipsec_topologies"))
        if raw is None and topologies is None:
            return None
        host = task_vars["inventory_hostname"]
        options.setdefault("pki", lambda tunnels: self.pki_material(host, tunnels, task_vars))
        return host_plans.plan_from_intent(host, raw or [], task_vars["hostvars"], topologies,
                                           task_vars.get("groups"), features=features, **options)

    def pki_material(self, host, tunnels, task_vars):
        """The controller PKI's certificates for ``host`` (plugin_utils/pki.py); None without ipsec_pki_dir
        (the certificates builder then names the tunnel and what is missing)."""
        def var(name):
            value = task_vars.get(name)
            return self._templar.template(value) if value is not None else None
        settings = dict((name, var(name)) for name in (
            "ipsec_pki_dir", "ipsec_pki_passphrase", "ipsec_pki_validity_days", "ipsec_pki_renew_before_days",
            "ipsec_pki_ca_cert", "ipsec_pki_ca_key"))
        authority = pki.from_hostvars(settings)
        if authority is None:
            return None
        ike_id = next((t.side(host)[0].ike_id for t in tunnels if t.auth_method == "certificate"),
                      var("ipsec_ike_id") or host)   # a remote-access hub without certificate tunnels
        return authority.material(host, ike_id)


class EngineAction(ControllerAction):
    """Base of the ipsec_phase1/ipsec_phase2/ipsec_ha action plugins; subclasses set SECTIONS (and
    FEATURE, the HostPlan builder whose sections they are)."""

    SECTIONS = ()
    FEATURE = "ipsec"

    def argument_spec(self):
        return engine_argument_spec(self.SECTIONS)

    def run_engine(self, params, connect, task_vars):
        desired = None
        warnings = []
        if params.get("config") is None and params["state"] in ("merged", "replaced", "overridden", "rendered"):
            # no config given: this host's share of the plan, built here once (the role passes none)
            plan = self.host_plan(task_vars, features=(self.FEATURE,))
            if plan is not None:
                desired = plan.subset(self.SECTIONS)
                warnings = plan.warnings
        outcome = run_engine(params, self.SECTIONS, connect, check_mode=self._task.check_mode,
                             diff=self._task.diff, desired=desired)
        if warnings:
            outcome["warnings"] = list(warnings) + list(outcome.get("warnings") or [])
        return outcome
