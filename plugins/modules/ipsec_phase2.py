#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipsec_phase2
short_description: Manage RouterOS 7 IPsec phase 2 (proposals, policy groups, policies) owned by ipsecfleet
version_added: 0.1.0
description:
  - Converges C(/ip/ipsec/proposal), C(/ip/ipsec/policy/group) and C(/ip/ipsec/policy) of one RouterOS 7
    router to O(config) through the RouterOS API, with the fewest writes.
  - Policies are ordered. Owned policies are kept in the order of O(config.policies); new ones are
    placed with C(place-before) next to their neighbours in that order, existing ones are moved only when
    their relative order is wrong, and the template and foreign policies never move.
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
      proposals:
        description: C(/ip/ipsec/proposal) items.
        type: list
        elements: dict
        suboptions:
          name:
            description: Proposal name, referenced by policies.
            type: str
          auth_algorithms:
            description: Integrity algorithms (sha512, sha256, sha1, md5, null); empty for AEAD ciphers.
            type: list
            elements: str
          enc_algorithms:
            description: Ciphers, for example V(aes-256-gcm) or V(aes-256-cbc); order does not matter.
            type: list
            elements: str
          lifetime:
            description: SA lifetime, a RouterOS time such as V(30m) or V(1h).
            type: str
          pfs_group:
            description: PFS Diffie-Hellman group, or V(none).
            type: str
          disabled:
            description: Whether the proposal is disabled.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
      policy_groups:
        description: C(/ip/ipsec/policy/group) items. The menu has no comment, so O(config.policy_groups[].name) must
          start with C(ipsecfleet-).
        type: list
        elements: dict
        suboptions:
          name:
            description: Group name; starts with C(ipsecfleet-).
            type: str
            required: true
      policies:
        description: C(/ip/ipsec/policy) items, in the order they must appear.
        type: list
        elements: dict
        suboptions:
          peer:
            description: Name of the peer negotiating the SAs.
            type: str
          tunnel:
            description: Tunnel mode.
            type: bool
          group:
            description: Policy group (templates).
            type: str
          src_address:
            description: Source prefix.
            type: str
          dst_address:
            description: Destination prefix.
            type: str
          src_port:
            description: Source port or V(any).
            type: str
          dst_port:
            description: Destination port or V(any).
            type: str
          protocol:
            description: IP protocol name or number, or V(all).
            type: str
          action:
            description: What to do with matching traffic.
            type: str
            choices: [encrypt, discard, none]
          level:
            description: SA requirement level.
            type: str
            choices: [require, use, unique]
          ipsec_protocols:
            description: ESP or AH.
            type: str
            choices: [esp, ah]
          proposal:
            description: Name of the proposal used.
            type: str
          template:
            description: Whether this is a template for generated policies.
            type: bool
          disabled:
            description: Whether the policy is disabled.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
  # END GENERATED
requirements:
  - librouteros
seealso:
  - module: ipsecfleet.routeros.ipsec_phase1
"""

EXAMPLES = r"""
- name: Phase 2 of a hub towards one spoke
  ipsecfleet.routeros.ipsec_phase2:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    config:
      proposals:
        - name: ipsecfleet-gcm256
          enc_algorithms: [aes-256-gcm]
          auth_algorithms: []
          pfs_group: ecp256
          lifetime: 1h
          comment: "ipsecfleet:gcm256"
      policies:
        - peer: ipsecfleet-spoke1
          tunnel: true
          src_address: 10.10.0.0/24
          dst_address: 10.20.0.0/24
          proposal: ipsecfleet-gcm256
          comment: "ipsecfleet:hub-spoke1-lan"
    state: merged

- name: Remove every owned phase 2 item
  ipsecfleet.routeros.ipsec_phase2:
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
    - '/ip ipsec policy add comment=ipsecfleet:hub-spoke1-lan dst-address=10.20.0.0/24 peer=ipsecfleet-spoke1 src-address=10.10.0.0/24 tunnel=yes'
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

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import PHASE2_SECTIONS, module_main


def main():
    module_main(PHASE2_SECTIONS)


if __name__ == "__main__":
    main()
