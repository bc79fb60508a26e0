#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipsec_phase1
short_description: Manage RouterOS 7 IPsec phase 1 (profiles, peers, identities) owned by ipsecfleet
version_added: 0.1.0
description:
  - Converges C(/ip/ipsec/profile), C(/ip/ipsec/peer) and C(/ip/ipsec/identity) of one RouterOS 7 router
    to O(config) through the RouterOS API, with the fewest writes.
  - O(config) is normally the output of the C(ipsecfleet.routeros.ipsec_plan) filter for the host.
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
      profiles:
        description: C(/ip/ipsec/profile) items. The menu has no comment, so O(config.profiles[].name) must start with
          C(ipsecfleet-).
        type: list
        elements: dict
        suboptions:
          name:
            description: Profile name; starts with C(ipsecfleet-).
            type: str
            required: true
          hash_algorithm:
            description: Hash algorithm (md5, sha1, sha256, sha384, sha512).
            type: str
            choices: [md5, sha1, sha256, sha384, sha512]
          prf_algorithm:
            description: PRF algorithm (auto, sha1, sha256, sha384, sha512).
            type: str
            choices: [auto, sha1, sha256, sha384, sha512]
          enc_algorithm:
            description: Encryption algorithms (aes-256, aes-192, aes-128, 3des, des); order does not matter.
            type: list
            elements: str
          dh_group:
            description: Diffie-Hellman groups (for example V(ecp256), V(modp2048)); order does not matter.
            type: list
            elements: str
          lifetime:
            description: Phase 1 lifetime, a RouterOS time such as V(1d) or V(8h).
            type: str
          lifebytes:
            description: Phase 1 lifetime in bytes, V(0) for none.
            type: int
          proposal_check:
            description: How the responder checks the initiator's lifetime.
            type: str
            choices: [obey, strict, claim, exact]
          nat_traversal:
            description: Use NAT traversal (UDP 4500).
            type: bool
          dpd_interval:
            description: Dead peer detection interval (a time, or V(disable-dpd)).
            type: str
          dpd_maximum_failures:
            description: Dead peer detection failures before the peer is considered down (IKEv1).
            type: int
          ppk:
            description: Post-quantum preshared key use (RouterOS 7.21 and later).
            type: str
            choices: ['no', psk, psk-ike-initial, qkd]
      peers:
        description: C(/ip/ipsec/peer) items.
        type: list
        elements: dict
        suboptions:
          name:
            description: Peer name, referenced by identities and policies.
            type: str
          address:
            description: Remote address or prefix, or a DNS name; left out for a passive peer.
            type: str
          local_address:
            description: Local address to use.
            type: str
          passive:
            description: Only respond, never initiate.
            type: bool
          port:
            description: Remote UDP port.
            type: int
          profile:
            description: Name of the profile used.
            type: str
          exchange_mode:
            description: IKE exchange mode.
            type: str
            choices: [main, aggressive, ike2, base]
          send_initial_contact:
            description: Send the initial-contact notification.
            type: bool
          disabled:
            description: Whether the peer is disabled.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
          ppk_secret:
            description: Post-quantum preshared key (RouterOS 7.21 and later); never shown in results.
            type: str
      identities:
        description: C(/ip/ipsec/identity) items.
        type: list
        elements: dict
        suboptions:
          peer:
            description: Name of the peer this identity authenticates.
            type: str
            required: true
          auth_method:
            description: Authentication method, for example V(pre-shared-key) or V(digital-signature).
            type: str
          secret:
            description: The pre-shared key. Never shown in results; a changed key is set on the existing identity.
            type: str
          generate_policy:
            description: Generate policies from the peer's proposal.
            type: str
            choices: ['no', port-override, port-strict]
          policy_template_group:
            description: Policy group whose templates generated policies must match.
            type: str
          my_id:
            description: 'Local identity (auto, address:IP, fqdn:NAME, user-fqdn:X, key-id:X).'
            type: str
          remote_id:
            description: Expected remote identity.
            type: str
          match_by:
            description: Match the remote by its id or its certificate.
            type: str
            choices: [remote-id, certificate]
          mode_config:
            description: Mode-config handed out to (or requested from) the peer, or V(none).
            type: str
          certificate:
            description: Local certificate name.
            type: str
          remote_certificate:
            description: Remote certificate name.
            type: str
          disabled:
            description: Whether the identity is disabled.
            type: bool
          comment:
            description: 'Ownership tag C(ipsecfleet:<key>) optionally followed by a space and free text.'
            type: str
            required: true
  # END GENERATED
requirements:
  - librouteros
seealso:
  - module: ipsecfleet.routeros.ipsec_phase2
"""

EXAMPLES = r"""
- name: Phase 1 of a hub towards one spoke
  ipsecfleet.routeros.ipsec_phase1:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    tls: true
    ca_path: /etc/ipsecfleet/ca.pem
    config:
      profiles:
        - name: ipsecfleet-aes256-ecp256
          enc_algorithm: [aes-256]
          hash_algorithm: sha256
          dh_group: [ecp256]
          lifetime: 8h
      peers:
        - name: ipsecfleet-spoke1
          address: 198.51.100.2/32
          profile: ipsecfleet-aes256-ecp256
          exchange_mode: ike2
          comment: "ipsecfleet:hub-spoke1 tunnel to spoke1"
      identities:
        - peer: ipsecfleet-spoke1
          secret: "{{ vault_psk_hub_spoke1 }}"
          comment: "ipsecfleet:hub-spoke1"
    state: merged

- name: What would change (check mode shows the commands)
  ipsecfleet.routeros.ipsec_phase1:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    # the plan holds every IPsec section: this module takes the phase 1 ones
    config: >-
      {{ ipsec_tunnels | ipsecfleet.routeros.ipsec_plan(inventory_hostname, hostvars)
         | dict2items | selectattr('key', 'in', ['profiles', 'peers', 'identities']) | items2dict }}
    state: overridden
  check_mode: true

- name: Read back the owned phase 1 items
  ipsecfleet.routeros.ipsec_phase1:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    state: gathered
  register: phase1
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
    - '/ip ipsec peer add address=198.51.100.2/32 comment=ipsecfleet:hub-spoke1 name=ipsecfleet-spoke1'
    - '/ip ipsec identity set [find comment=ipsecfleet:hub-spoke1] secret=********'
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

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import PHASE1_SECTIONS, module_main


def main():
    module_main(PHASE1_SECTIONS)


if __name__ == "__main__":
    main()
