#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipsec_firewall
short_description: Manage the RouterOS 7 firewall an IPsec router needs, placed among your own rules
version_added: 0.1.0
description:
  - Derives from the router's tunnels the C(/ip/firewall) items IPsec needs and converges the owned ones
    (comment C(ipsecfleet:fw-...)) through the RouterOS API, with the one apply engine of the collection.
  - "Derived items: an address list of the IPsec peers; input accepts for IKE (UDP 500), NAT-T (UDP 4500),
    ESP (and AH when a tunnel uses it) only from that list, with a rate limit on new IKE/NAT-T flows and a
    drop of the excess; drops of IKE/NAT-T/ESP/AH from anyone else; forward accepts for C(ipsec-policy=in,ipsec)
    and C(out,ipsec) before FastTrack; forward accept established/related and drop invalid after FastTrack;
    a NAT bypass before any masquerade/src-nat; a FastTrack exemption for tunnel traffic (raw notrack or
    accepts before the fasttrack rule); TCP MSS clamping computed from the tunnel overhead."
  - Each block of owned rules is placed where it works, before the first foreign rule of its chain that would
    stop it (drop, reject, jump, fasttrack, masquerade...), with C(place-before) on add; foreign and dynamic
    rules are never modified, moved, removed or used as C(place-before) target when dynamic. Re-runs write nothing.
  - Before writing, a static analysis of the resulting input chain refuses a change that would stop accepting
    O(management_sources) on O(management_ports). A commit-confirm then arms a revert on the router
    (C(/system/script) + C(/system/scheduler) C(ipsecfleet-fw-revert)) that restores the previous owned rules
    after O(confirm_timeout) unless a NEW API connection made after the change disarms it.
  - Runs in-process on the controller through the action plugin of the same name; without O(tunnels) the action
    plugin derives them from the inventory intent (C(ipsec_tunnels), C(ipsec_topologies)) for the host.
author:
  - ipsecfleet maintainers (@ipsecfleet)
extends_documentation_fragment:
  - community.routeros.api
  - ipsecfleet.routeros.firewall_guard
options:
  tunnels:
    description:
      - The tunnels ending on this router. Required for O(state=merged), V(replaced), V(overridden) and
        V(rendered) unless the action plugin can derive them from the inventory intent.
    type: list
    elements: dict
    suboptions:
      peer_address:
        description: The remote end's public address (IPv4 or DNS name; IPv6 peers are skipped with a warning).
        type: str
        required: true
      local_prefixes:
        description: This router's side of the tunnel selectors.
        type: list
        elements: str
        default: []
      remote_prefixes:
        description: The peer's side of the tunnel selectors.
        type: list
        elements: str
        default: []
      enc_algorithms:
        description: Phase 2 ciphers the tunnel may negotiate (MSS computation); default the RouterOS proposal default.
        type: list
        elements: str
      auth_algorithms:
        description: Phase 2 integrity algorithms (MSS computation); default V(sha1).
        type: list
        elements: str
      ipsec_protocols:
        description: V(ah) adds an input accept for AH from the peers.
        type: str
        choices: [esp, ah]
        default: esp
      nat_traversal:
        description: Whether NAT-T (8 bytes of UDP) may wrap ESP; counted in the MSS.
        type: bool
        default: true
  options:
    description: Derivation knobs; unset ones take the defaults shown.
    type: dict
    default: {}
    suboptions:
      peer_list:
        description: Name of the peers' address list (default C(ipsecfleet-peers)).
        type: str
      ike_rate_limit:
        description: RouterOS C(limit) of new IKE/NAT-T flows from the peers (default C(10,5:packet)).
        type: str
      fasttrack_bypass:
        description: V(raw) (default, notrack for the tunnel prefixes), V(accept) (accepts before the fasttrack rule), V(none).
        type: str
        choices: [raw, accept, none]
      nat_bypass:
        description: V(policy) (default, accept C(ipsec-policy=out,ipsec)), V(prefixes) (one accept per prefix pair), V(none).
        type: str
        choices: [policy, prefixes, none]
      forward_state:
        description: Add forward accept established,related and drop invalid after FastTrack (default true).
        type: bool
      mss:
        description: V(auto) (default, computed from the tunnels), V(none) (no clamping), or a number.
        type: str
      wan_mtu:
        description: MTU of the path the ESP packets take (default 1500).
        type: int
      outer_ip_version:
        description: IP version of the outer (tunnel) header (default 4).
        type: int
        choices: [4, 6]
  overrides:
    description:
      - Per section (V(address_lists), V(raw), V(filter), V(nat), V(mangle)), a list of entries with C(key).
        An entry whose key names a derived item replaces its arguments (C(null) removes one); C(state=absent)
        removes the derived item; a new key adds a user rule to the block of its chain (or C(block)).
      - Argument names use C(_) for C(-) (C(dst_port)). C(text) sets the comment text after the key.
    type: dict
    default: {}
  state:
    description:
      - V(merged) adds missing items and sets the given arguments; V(replaced) also resets arguments an item does
        not give; V(overridden) also removes owned firewall items that are no longer derived; V(deleted) removes
        every owned firewall item; V(gathered) reads them back; V(rendered) returns the commands without
        contacting the router.
      - The peers' address list is kept in sync in every writing state (a peer no tunnel names is removed).
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: merged
notes:
  - Only items whose comment starts with C(ipsecfleet:fw-) are changed.
  - If the new connection after the change fails, the task fails and says when the router will restore the
    previous rules. If a revert from an earlier run is still armed, the task refuses to start.
  - V(rendered) lists the adds in plan order; their position among foreign rules is decided at apply time.
requirements:
  - librouteros
seealso:
  - module: ipsecfleet.routeros.ipsec_phase1
  - module: ipsecfleet.routeros.ipsec_phase2
"""

EXAMPLES = r"""
- name: Firewall for a hub with two spokes, management from the NOC
  ipsecfleet.routeros.ipsec_firewall:
    hostname: "{{ ansible_host }}"
    username: ansible
    password: "{{ vault_routeros_password }}"
    tunnels:
      - peer_address: 203.0.113.2
        local_prefixes: [10.10.0.0/24]
        remote_prefixes: [10.20.0.0/24]
        enc_algorithms: [aes-256-gcm]
      - peer_address: 203.0.113.3
        local_prefixes: [10.10.0.0/24]
        remote_prefixes: [10.30.0.0/24]
    management_sources:
      - address: 192.0.2.0/24
        interface_lists: [WAN]
    overrides:
      filter:
        - key: in-ike-new
          limit: "50,20:packet"
    confirm_timeout: 3m

- name: Remove every owned firewall item
  ipsecfleet.routeros.ipsec_firewall:
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
    - '/ip firewall filter add action=accept chain=input comment="ipsecfleet:fw-in-esp ESP from the peers" protocol=ipsec-esp src-address-list=ipsecfleet-peers'
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
covered_by_foreign:
  description:
    - Planned rules not added because a foreign rule of the router already does the same in their place (RouterOS's default
      configuration forward accept established/related and drop invalid). Each has C(key), the router's rule C(id) and
      C(comment), and a C(note).
  returned: when such rules were found
  type: list
  elements: dict
mss:
  description: The MSS the clamping rules use.
  returned: when clamping is on
  type: int
mss_explanation:
  description: The arithmetic behind RV(mss) for the worst tunnel.
  returned: when clamping is on
  type: str
lockout:
  description: The static check's report (C(refused), C(problems), C(warnings), C(checked)).
  returned: when management sources are given and the router was read
  type: dict
revert_armed_until:
  description: When the armed revert would have fired (controller clock, UTC).
  returned: when a change was written with O(confirm=true)
  type: str
confirmed:
  description: The change was confirmed over a new API connection and the revert disarmed.
  returned: when a change was written with O(confirm=true)
  type: bool
"""

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.firewall_engine import module_main


def main():
    module_main()


if __name__ == "__main__":
    main()
