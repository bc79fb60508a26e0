# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs ipsec_client_profiles on the controller: no router is contacted; the fleet PKI issues the
hub's remote-access client certificates and the bundles are written (plugin_utils/client_profiles.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import IntentError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import remote_access
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import client_profiles
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "export_passphrase": {"type": "str", "required": True, "no_log": True},
    "clients": {"type": "list", "elements": "str"},
}
# the host variables the remote-access settings and the PKI are read from
HOST_VARIABLES = ("ipsec_remote_access", "ipsec_lan_prefixes", "ipsec_ike_id", "ipsec_dns_name", "ipsec_wan_address")
PKI_VARIABLES = ("ipsec_pki_dir", "ipsec_pki_passphrase", "ipsec_pki_validity_days", "ipsec_pki_renew_before_days",
                 "ipsec_pki_ca_cert", "ipsec_pki_ca_key")


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            message = "; ".join(validation.error_messages)
            for secret in validation._no_log_values:   # what AnsibleModule would mask
                message = message.replace(secret, "********")
            result.update(failed=True, msg=message)
            return result
        params = validation.validated_parameters
        host = task_vars["inventory_hostname"]

        def var(name):
            value = task_vars.get(name)
            return self._templar.template(value) if value is not None else None
        try:
            ra = remote_access.parse(host, {host: dict((name, var(name)) for name in HOST_VARIABLES)})
            if ra is None:
                raise IntentError("host '%s': ipsec_remote_access is not set: it has no remote-access clients" % host)
            authority = pki.from_hostvars(dict((name, var(name)) for name in PKI_VARIABLES))
            if authority is None:
                raise pki.PkiError("ipsec_pki_dir is not set: client certificates come from the fleet PKI")
            outcome = client_profiles.write_bundles(ra, authority, params["dest"], params["export_passphrase"],
                                                    names=params.get("clients"), check_mode=self._task.check_mode)
        except (IntentError, pki.PkiError) as error:
            result.update(failed=True, msg=to_native(error))
            return result
        result.update(outcome)
        return result
