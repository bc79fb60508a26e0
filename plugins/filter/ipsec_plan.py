# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning filters: ipsec_plan, ipsec_rsc, ipsec_validate (documented in the .yml files beside)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent as intent_model
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as planner
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import rsc


def _error(exc):
    return AnsibleFilterError("ipsecfleet: %s" % exc)


def ipsec_plan(ipsec_tunnels, inventory_hostname, hostvars, topologies=None, groups=None):
    """The desired IPsec objects of one host (only its own tunnels are validated in full)."""
    try:
        return planner.plan_host(inventory_hostname, ipsec_tunnels, hostvars, topologies, groups)
    except (intent_model.IntentError, rsc.RenderError) as exc:
        raise _error(exc)


def ipsec_rsc(plan, host=None, reveal_secrets=False):
    """A plan rendered as a RouterOS .rsc script."""
    if not isinstance(plan, dict):
        raise AnsibleFilterError("ipsecfleet: ipsec_rsc expects a plan (a mapping of sections), got %s"
                                 % type(plan).__name__)
    try:
        return rsc.render(plan, host=host, reveal_secrets=bool(reveal_secrets))
    except rsc.RenderError as exc:
        raise _error(exc)


def ipsec_validate(ipsec_tunnels, hostvars, topologies=None, groups=None):
    """Validate the whole fleet (every tunnel, every host, both ends agree); a summary without secrets."""
    try:
        return planner.summary(*planner.validate_fleet(ipsec_tunnels, hostvars, topologies, groups))
    except intent_model.IntentError as exc:
        raise _error(exc)


class FilterModule(object):
    """ipsecfleet.routeros planning filters."""

    def filters(self):
        return {
            "ipsec_plan": ipsec_plan,
            "ipsec_rsc": ipsec_rsc,
            "ipsec_validate": ipsec_validate,
        }
