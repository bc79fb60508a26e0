#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipsec_site
short_description: Converge a RouterOS 7 router's IPsec and the firewall around it from the inventory intent, in one task
version_added: 0.2.0
description:
  - Plans this router's share of the inventory intent (C(ipsec_tunnels), C(ipsec_topologies), host vars) once,
    with every feature builder (IPsec profiles, proposals, peers, identities, policy groups, policies; the firewall
    address list, raw, filter, NAT and mangle rules with their placement among foreign rules), and converges all of
    it over ONE API session - one login, one print per managed menu, one safe order of writes across the menus.
  - The same end state as the roles C(ipsec_phase1), C(ipsec_phase2) and C(ipsec_firewall) run one after another,
    with the firewall's static lock-out check and commit-confirm as steps of the same run.
  - Only items the collection owns (comment C(ipsecfleet:...), names C(ipsecfleet-...)) are ever changed or
    removed; foreign items are read, never written.
  - Options a task leaves out are read from the inventory variables the roles use (see O(state), O(features) and
    the notes), so a task C(ipsecfleet.routeros.ipsec_site) with no options is complete.
  - Runs in-process on the controller through the action plugin of the same name (the intent lives in the
    inventory); it cannot run as a module on a target host.
author:
  - ipsecfleet maintainers (@ipsecfleet)
extends_documentation_fragment:
  - community.routeros.api
  - ipsecfleet.routeros.firewall_guard
notes:
  - "Inventory variables read for options the task leaves out: O(state) C(ipsec_site_state), O(features)
    C(ipsec_site_features), O(secret_update) C(ipsec_phase1_secret_update), O(firewall_options)
    C(ipsec_firewall_options), O(firewall_overrides) C(ipsec_firewall_overrides), O(management_sources)
    C(ipsec_firewall_management_sources), O(management_ports) C(ipsec_firewall_management_ports),
    O(lockout_check) C(ipsec_firewall_lockout_check), O(confirm) C(ipsec_firewall_confirm), O(confirm_timeout)
    C(ipsec_firewall_confirm_timeout)."
  - "Connection: O(hostname) C(ipsec_api_hostname), else C(ansible_host), else the inventory name; O(port)
    C(ipsec_api_port), else C(routeros_api_tls_port) with TLS or C(routeros_api_port); O(username)
    C(ipsec_api_username) (default C(admin)); O(password) C(ipsec_api_password) (default empty); O(tls)
    C(ipsec_api_tls); O(validate_certs), O(validate_cert_hostname), O(force_no_cert), O(ca_path), O(timeout) from C(ipsec_api_*)."
  - A router that ends no tunnel is refused in the converging states (O(state=overridden) would remove every
    owned item); remove what the collection owns on purpose with O(state=deleted) (C(playbooks/decommission.yml)).
attributes:
  check_mode:
    support: full
    description: Plans against the router's current configuration and reports the commands, writing nothing.
  diff_mode:
    support: full
    description: The owned items per section before and after.
  action:
    support: full
    description: Runs in-process on the controller.
  platform:
    support: full
    platforms: RouterOS
    description: RouterOS 7 through the API (community.routeros connection options).
options:
  # BEGIN GENERATED features from plugins/module_utils/plan/host_plan.py by tools/gen_module_docs.py
  features:
    description:
      - 'The feature builders whose sections this task converges:'
      - 'V(ipsec) - the IPsec menus (phase 1 and 2: profiles, peers, identities, proposals, policies, groups).'
      - V(firewall) - the C(/ip/firewall) items around them (filter, NAT, raw, mangle, address lists).
      - V(ha) - the failover scripts, netwatch, VRRP and schedulers of high-availability tunnels.
      - V(route_based) - the GRE/IPIP interfaces, link addresses and static routes of route-based tunnels (C(mode=gre)
        or C(mode=ipip) in the intent).
      - V(remote_access) - the address pool and mode-config of a remote-access hub (C(ipsec_remote_access)).
      - V(certificates) - the C(/certificate) entries of certificate-authenticated tunnels (uploaded through C(/file)
        and imported before the IPsec menus change, stale ones removed after them).
      - Menus of a feature left out are neither read nor written.
    type: list
    elements: str
    choices: [ipsec, firewall, ha, route_based, remote_access, certificates]
    default: [ipsec, firewall, ha, route_based, remote_access, certificates]
  # END GENERATED
  state:
    description:
      - V(overridden) (default) makes the owned items of the managed menus exactly what the intent derives for
        this router (items of removed tunnels are removed). V(merged) adds missing items and sets derived
        arguments; V(replaced) also resets arguments an item does not give.
      - V(deleted) removes every owned item of the managed menus (decommissioning a router).
      - V(gathered) reads the owned items back; V(rendered) returns the RouterOS commands that create the plan on
        an empty router, without contacting it. Secrets are masked in both.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: overridden
  secret_update:
    description:
      - What to do with an identity's C(secret) when RouterOS does not print it, for example for a user without
        the C(sensitive) policy. Readable secrets are always compared.
      - V(on_change) writes the secret whenever another argument of the same item changes; V(always) writes it on
        every run (the task then always reports a change); V(on_create) only when the item is added.
    type: str
    choices: [on_change, always, on_create]
    default: on_change
  firewall_options:
    description: The firewall builder's knobs (the same as O(ipsecfleet.routeros.ipsec_firewall#module:options)).
    type: dict
    default: {}
    suboptions:
      # BEGIN GENERATED from plugins/modules/ipsec_firewall.py options by tools/gen_module_docs.py
      peer_list:
        description: Name of the peers' address list (default C(ipsecfleet-peers)).
        type: str
      ike_rate_limit:
        description: RouterOS C(limit) of new IKE/NAT-T flows from the peers (default C(10,5:packet)).
        type: str
      fasttrack_bypass:
        description: V(raw) (default, notrack for the tunnel prefixes), V(accept) (accepts before the fasttrack rule),
          V(none).
        type: str
        choices:
        - raw
        - accept
        - none
      nat_bypass:
        description: V(policy) (default, accept C(ipsec-policy=out,ipsec)), V(prefixes) (one accept per prefix pair),
          V(none).
        type: str
        choices:
        - policy
        - prefixes
        - none
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
        choices:
        - 4
        - 6
      # END GENERATED
  firewall_overrides:
    description:
      - Per firewall section, entries that replace, remove or add rules by key (the same as
        O(ipsecfleet.routeros.ipsec_firewall#module:overrides)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Converge IPsec and the firewall around it, every option from the inventory
  ipsecfleet.routeros.ipsec_site: {}

- name: Dry run with the commands that would be written
  ipsecfleet.routeros.ipsec_site: {}
  check_mode: true
  diff: true

- name: IPsec only; the firewall is managed elsewhere
  ipsecfleet.routeros.ipsec_site:
    features: [ipsec]

- name: Remove everything the collection owns on a router that leaves the VPN
  ipsecfleet.routeros.ipsec_site:
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
    - '/ip ipsec peer add address=198.51.100.2/32 comment=ipsecfleet:hub-spoke1 name=ipsecfleet-spoke1'
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
tunnels:
  description: Names of the intent's tunnels that end on this router.
  returned: always except O(state=rendered) without intent
  type: list
  elements: str
mss:
  description: The MSS the firewall's clamping rules use.
  returned: when the firewall feature clamps
  type: int
mss_explanation:
  description: The arithmetic behind RV(mss) for the worst tunnel.
  returned: when the firewall feature clamps
  type: str
route_based:
  description:
    - Per route-based tunnel of the router (C(mode=gre) or C(mode=ipip)) - its interface, link address, the far
      link address its routes use, the interface MTU with the arithmetic behind it, and the TCP MSS the
      interface clamps to.
  returned: when the route_based feature runs and the router ends a route-based tunnel
  type: dict
  sample:
    hq-branch1:
      interface: ipsecfleet-hq-branch1
      mode: gre
      address: 10.255.0.1/30
      gateway: 10.255.0.2
      mtu: 1434
      mss: 1394
      mtu_explanation: "gre over ESP transport aes-256-gcm: 1500 WAN MTU - 20 outer IP - ... = MTU 1434"
lockout:
  description: The static lock-out check's report (C(refused), C(problems), C(warnings), C(checked)).
  returned: when management sources are given and the firewall was read
  type: dict
revert_armed_until:
  description: When the armed commit-confirm revert would have fired (controller clock, UTC).
  returned: when a firewall change was written with O(confirm=true)
  type: str
confirmed:
  description: The change was confirmed over a new API connection and the revert disarmed.
  returned: when a firewall change was written with O(confirm=true)
  type: bool
"""

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.site_engine import module_main


def main():
    module_main()


if __name__ == "__main__":
    main()
