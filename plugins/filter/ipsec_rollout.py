# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout filters: ipsec_rollout_order, ipsec_rollout_checks, ipsec_tunnels_down (documented beside)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import rollout


def _rows(value, what):
    """API rows as community.routeros.api returns them in ``msg``; a string there is a read error."""
    if value is None:
        return None
    if isinstance(value, str):
        return []
    if not isinstance(value, list):
        raise AnsibleFilterError("ipsecfleet: %s must be a list of rows, got %s" % (what, type(value).__name__))
    return value


def ipsec_rollout_order(summary, hosts=None, tunnels=None):
    """The routers of a rollout in rollout order (most tunnels first, then by name)."""
    if not isinstance(summary, dict) or "hosts" not in summary or "tunnels" not in summary:
        raise AnsibleFilterError("ipsecfleet: ipsec_rollout_order expects ipsec_validate's result")
    if hosts is not None and not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("ipsecfleet: ipsec_rollout_order: hosts must be a list of inventory names")
    return rollout.rollout_order(summary, hosts, tunnels)


def ipsec_rollout_checks(tunnels, host, rolled):
    """The tunnel ends the rollout gate waits for after ``host`` converged."""
    if not isinstance(tunnels, list):
        raise AnsibleFilterError("ipsecfleet: ipsec_rollout_checks expects ipsec_validate's tunnels (a list)")
    try:
        return rollout.gate_checks(tunnels, host, list(rolled or ()))
    except KeyError as exc:
        raise AnsibleFilterError("ipsecfleet: ipsec_rollout_checks: a tunnel lacks %s (use ipsec_validate's tunnels)"
                                 % exc)


def ipsec_tunnels_down(checks, router, peers=None, sas=None):
    """Problems of ``router``'s tunnel ends given its active-peers / installed-sa rows."""
    return rollout.tunnels_down(checks, router, _rows(peers, "peers"), _rows(sas, "sas"))


class FilterModule(object):
    """ipsecfleet.routeros rollout filters."""

    def filters(self):
        return {
            "ipsec_rollout_checks": ipsec_rollout_checks,
            "ipsec_rollout_order": ipsec_rollout_order,
            "ipsec_tunnels_down": ipsec_tunnels_down,
        }
