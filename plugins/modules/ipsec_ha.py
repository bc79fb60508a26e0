#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipsec_ha
short_description: Manage the RouterOS 7 failover items of IPsec tunnels (netwatch, scripts, VRRP) owned by ipsecfleet
version_added: 0.2.0
description:
  - Converges C(/system/script), C(/tool/netwatch), C(/interface/vrrp) and C(/system/scheduler) items tagged
    C(ipsecfleet:ha/...) of one RouterOS 7 router to O(config) through the RouterOS API, with the fewest writes.
  - Without O(config), the action plugin derives the items from the tunnels' C(backup) and C(failover)
    fields and the host var C(ipsec_vrrp) (docs/ha.md) for the host.
  - "Backup peers: the end that is not backed up probes the primary with netwatch; its down script moves the
    tunnel's policies to the backup peer, removes the old peer's IKE SA, flushes the installed SAs and removes
    the tracked connections of the tunnel's traffic; its up script fails back when C(failover.preempt)."
  - "VRRP pairs: a VRRP interface whose on-master/on-backup scripts (and a scheduler every 10s) enable the
    pair's IPsec peers and policies on the master and disable them on the backup."
  - The peers and policies themselves are converged by M(ipsecfleet.routeros.ipsec_phase1) and
    M(ipsecfleet.routeros.ipsec_phase2) (or M(ipsecfleet.routeros.ipsec_site)); they accept the values these
    scripts switch (policy C(peer), C(disabled) on a VRRP pair), so a converge after a failover writes nothing.
  - Runs in-process on the controller through the action plugin of the same name.
author:
  - ipsecfleet maintainers (@ipsecfleet)
extends_documentation_fragment:
  - community.routeros.api
  - ipsecfleet.routeros.engine
options:
  # BEGIN GENERATED from plugins/module_utils/device/menus.py by tools/gen_module_docs.py
  config:
    description:
      - The desired owned items, per menu. Keys of the items are RouterOS argument names with C(_) for C(-).
      - Arguments left out are not managed with O(state=merged).
    type: dict
    suboptions:
      scripts:
        description: C(/system/script) items.
        type: list
        elements: dict
        suboptions:
          name:
            description: Script name, run as C(/system script run <name>).
            type: str
            required: true
          source:
            description: The script's source.
            type: str
          policy:
            description: Policies the script runs with.
            type: list
            elements: str
          dont_require_permissions:
            description: Run without checking the caller's permissions.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
      netwatch:
        description: C(/tool/netwatch) probes.
        type: list
        elements: dict
        suboptions:
          host:
            description: Address probed.
            type: str
            required: true
          type:
            description: Probe type.
            type: str
            choices: [simple, icmp, tcp-conn, http-get, https-get, dns]
          interval:
            description: Time between probes.
            type: str
          timeout:
            description: How long a probe waits for an answer.
            type: str
          up_script:
            description: Script source run when the host comes up.
            type: str
          down_script:
            description: Script source run when the host goes down.
            type: str
          disabled:
            description: Whether the probe is disabled.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
      vrrp:
        description: C(/interface/vrrp) interfaces.
        type: list
        elements: dict
        suboptions:
          name:
            description: Interface name.
            type: str
            required: true
          interface:
            description: Interface VRRP runs on.
            type: str
            required: true
          vrid:
            description: Virtual router id.
            type: int
          priority:
            description: Priority in the election.
            type: int
          interval:
            description: Advertisement interval.
            type: str
          preemption_mode:
            description: A higher priority router takes the master role back.
            type: bool
          version:
            description: VRRP version.
            type: int
          on_master:
            description: Script source run on becoming master.
            type: str
          on_backup:
            description: Script source run on becoming backup.
            type: str
          disabled:
            description: Whether the VRRP interface is disabled.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
      schedulers:
        description: C(/system/scheduler) items.
        type: list
        elements: dict
        suboptions:
          name:
            description: Scheduler name.
            type: str
            required: true
          on_event:
            description: Script name or source run at each interval.
            type: str
          interval:
            description: Time between runs.
            type: str
          policy:
            description: Policies the event runs with.
            type: list
            elements: str
          disabled:
            description: Whether the scheduler is disabled.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
  # END GENERATED
notes:
  - In these menus only items whose owner key starts with C(ha/) are managed; the firewall's commit-confirm
    revert script and scheduler (C(ipsecfleet:fw-revert)) are left alone.
requirements:
  - librouteros
seealso:
  - module: ipsecfleet.routeros.ipsec_phase1
  - module: ipsecfleet.routeros.ipsec_phase2
  - module: ipsecfleet.routeros.ipsec_site
"""

EXAMPLES = r"""
- name: Converge this router's failover items from the tunnel intent
  ipsecfleet.routeros.ipsec_ha:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    state: overridden

- name: Show what would be written, without contacting the router
  ipsecfleet.routeros.ipsec_ha:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    state: rendered

- name: Remove every owned failover item
  ipsecfleet.routeros.ipsec_ha:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    state: deleted
"""

RETURN = r"""
# BEGIN GENERATED engine results by tools/gen_module_docs.py
changed:
  description: Whether anything was (or, in check mode, would be) written; true on a failure after a write.
  returned: always
  type: bool
commands:
  description: The RouterOS writes, as CLI-like text with secrets masked, in execution order.
  returned: always
  type: list
  elements: str
  sample:
    - '/tool netwatch add comment="ipsecfleet:ha/dual/primary tunnel dual" host=198.51.100.1 interval=5s'
writes:
  description: Number of API writes done (0 in check mode); on a failure, the writes that took effect.
  returned: always
  type: int
writes_unconfirmed:
  description: On a failure, writes sent whose reply never came (the connection was lost); they may have taken effect.
  returned: when a failed task lost the reply to a write
  type: int
gathered:
  description: The owned items, per section, secrets masked.
  returned: when O(state=gathered)
  type: dict
rendered:
  description: RouterOS script (C(.rsc)) that creates the desired items on an empty router, secrets masked.
  returned: when O(state=rendered)
  type: str
diff:
  description: Owned items before and after, per section, secrets masked.
  returned: in diff mode, for states that write
  type: dict
# END GENERATED
"""

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import HA_SECTIONS, module_main


def main():
    module_main(HA_SECTIONS)


if __name__ == "__main__":
    main()
