# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Lock-out protection of every module that writes the firewall (ipsec_firewall, ipsec_site)."""

    DOCUMENTATION = r"""
options:
  management_sources:
    description:
      - Where management connections come from, for the static lock-out check. Each entry is an address or prefix,
        or a dict with C(address) and what is known of the way in (C(in_interface), C(interface_lists) the arrival
        interface belongs to, C(dst_address), C(via_ipsec)). Unknown facts are evaluated both ways.
      - Without sources the check is skipped with a warning.
    type: list
    elements: raw
    default: []
  management_ports:
    description: TCP ports that must stay reachable (API, API-SSL, SSH, Winbox).
    type: list
    elements: int
    default: [8728, 8729, 22, 8291]
  lockout_check:
    description: Run the static lock-out check before writing.
    type: bool
    default: true
  confirm:
    description: Arm the commit-confirm revert before writing and disarm it over a new connection afterwards.
    type: bool
    default: true
  confirm_timeout:
    description:
      - When the armed revert fires (RouterOS time); must exceed the time the change takes.
      - It must leave the confirm time to arrive; the confirm is a new connection, its login and the print and removal of
        the revert scheduler, each of which may take up to O(timeout). A value below 4 x O(timeout) (and below 10s) is
        refused before anything is written; with the default O(timeout=10) the shortest is C(40s).
    type: str
    default: 2m
"""
