#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipsec_info
short_description: Read a RouterOS 7 router's IPsec configuration and live state, diagnose it, and show drift
version_added: 0.3.0
description:
  - Reads the router over ONE read-only API session (every menu printed in one round trip) and returns the
    configuration the collection manages, the live IPsec state (active peers with state and uptime, installed
    SAs with SPI, algorithms, bytes, packets, age and C(hw-aead), policies with C(ph2-state),
    C(/ip ipsec statistics) counters, recent C(ipsec) log lines), one status row per tunnel of the inventory
    intent, and a diagnosis of every problem found (cause, evidence, fix).
  - Drift is what a converge (C(ipsec_site)) would change on the router now, computed by the same engine in check
    mode against the HostPlan of the inventory intent - owned items missing, changed by hand, no longer in the
    intent, or out of place. A secret changed by hand is shown as C(secret differs), never its value.
  - With O(audit=true) it also audits the router's configuration, hand-made items included (see
    C(docs/observe.md)); O(audit_policy) decides which findings fail (C(failing) in RV(audit)).
  - Writes nothing, ever; check mode changes nothing.
  - Runs in-process on the controller through the action plugin of the same name (the intent lives in the
    inventory); it cannot run as a module on a target host.
author:
  - ipsecfleet maintainers (@ipsecfleet)
extends_documentation_fragment:
  - community.routeros.api
notes:
  - "Connection options a task leaves out come from the inventory variables C(ipsec_site) reads
    (C(ipsec_api_hostname), C(ipsec_api_port), C(ipsec_api_username), C(ipsec_api_password), C(ipsec_api_tls), ...);
    O(firewall_options) and O(firewall_overrides) from C(ipsec_firewall_options) and C(ipsec_firewall_overrides),
    so the drift is computed against the same plan C(ipsec_site) converges."
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
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
      - 'The feature builders whose sections the drift compares (as O(ipsecfleet.routeros.ipsec_site#module:features)):'
      - 'V(ipsec) - the IPsec menus (phase 1 and 2: profiles, peers, identities, proposals, policies, groups).'
      - V(firewall) - the C(/ip/firewall) items around them (filter, NAT, raw, mangle, address lists).
      - V(ha) - the failover scripts, netwatch, VRRP and schedulers of high-availability tunnels.
      - V(route_based) - the GRE/IPIP interfaces, link addresses and static routes of route-based tunnels (C(mode=gre)
        or C(mode=ipip) in the intent).
      - V(remote_access) - the address pool and mode-config of a remote-access hub (C(ipsec_remote_access)).
      - V(certificates) - the C(/certificate) entries of certificate-authenticated tunnels (uploaded through C(/file)
        and imported before the IPsec menus change, stale ones removed after them).
    type: list
    elements: str
    choices: [ipsec, firewall, ha, route_based, remote_access, certificates]
    default: [ipsec, firewall, ha, route_based, remote_access, certificates]
  # END GENERATED
  log_lines:
    description: How many of the most recent C(ipsec) log lines to return and diagnose.
    type: int
    default: 50
  drift:
    description: Compute the drift against the inventory intent.
    type: bool
    default: true
  audit:
    description: Audit the router's configuration (reads C(/ip service), C(/system logging) and the PPTP/L2TP servers too).
    type: bool
    default: false
  audit_policy:
    description:
      - The audit policy (the content of the policy file, see C(docs/observe.md)) - C(fail_on), C(require_certificates),
        C(min_psk_length), C(min_dh_group), C(max_phase2_lifetime), C(ignore), C(severity).
    type: dict
    default: {}
  raw_state:
    description:
      - Also return every row read (RV(state)), foreign items included, secrets masked - what C(playbooks/troubleshoot.yml)
        gives the two-ended diagnosis.
    type: bool
    default: false
  firewall_options:
    description: The firewall builder's knobs (as O(ipsecfleet.routeros.ipsec_site#module:firewall_options)); for the drift.
    type: dict
    default: {}
  firewall_overrides:
    description: Per-item overrides of the firewall builder (as O(ipsecfleet.routeros.ipsec_site#module:firewall_overrides)).
    type: dict
    default: {}
seealso:
  - module: ipsecfleet.routeros.ipsec_site
"""

EXAMPLES = r"""
- name: Status, diagnosis and drift of every router
  ipsecfleet.routeros.ipsec_info: {}
  register: info

- name: The tunnels that are down, with the cause
  ansible.builtin.debug:
    msg: "{{ info.tunnels | rejectattr('up') | map(attribute='diagnosis') | list }}"

- name: Audit against a policy file
  ipsecfleet.routeros.ipsec_info:
    audit: true
    drift: false
    audit_policy: "{{ lookup('ansible.builtin.file', 'audit-policy.yml') | from_yaml }}"
"""

RETURN = r"""
host:
  description: The inventory name of the router.
  returned: always
  type: str
version:
  description: RouterOS version (C(/system resource)).
  returned: always
  type: str
config:
  description: The owned items of every managed menu by section, module format, secrets masked.
  returned: always
  type: dict
peers:
  description: C(/ip ipsec active-peers) rows (RouterOS names), e.g. C(remote-address), C(state), C(uptime), C(natt-peer).
  returned: always
  type: list
  elements: dict
installed_sa:
  description: Installed SAs.
  returned: always
  type: list
  elements: dict
  contains:
    spi:
      description: "SPI."
      type: str
    src_address:
      description: "Source (with C(:4500) under NAT-T)."
      type: str
    dst_address:
      description: "Destination."
      type: str
    state:
      description: "SA state (C(mature), C(dying), ...)."
      type: str
    enc_algorithm:
      description: "Encryption algorithm."
      type: str
    enc_key_size:
      description: "Key size."
      type: str
    auth_algorithm:
      description: "Integrity algorithm."
      type: str
    bytes:
      description: "Bytes through the SA."
      type: int
    packets:
      description: "Packets through the SA."
      type: int
    addtime:
      description: "When the SA was added (its age)."
      type: str
    expires_in:
      description: "Time left."
      type: str
    hw_aead:
      description: "Hardware AEAD offload."
      type: bool
policies:
  description: C(/ip ipsec policy) rows (RouterOS names with C(_)), with C(ph2_state) and C(active).
  returned: always
  type: list
  elements: dict
statistics:
  description: C(/ip ipsec statistics) counters.
  returned: always
  type: dict
log:
  description: The most recent C(ipsec) log lines (C(time), C(topics), C(message)).
  returned: always
  type: list
  elements: dict
tunnels:
  description: One status row per tunnel of the intent that ends on this router.
  returned: always
  type: list
  elements: dict
  contains:
    tunnel:
      description: "Tunnel name."
      type: str
    peer:
      description: "The C(/ip ipsec peer) name."
      type: str
    remote_host:
      description: "Inventory name of the other end."
      type: str
    remote_address:
      description: "The other end's address."
      type: str
    state:
      description: "The IKE peer's state (C(established), C(message-1-sent), C(absent), C(not configured))."
      type: str
    up:
      description: "IKE established, every policy's ph2-state established, SAs in and out."
      type: bool
    uptime:
      description: "The IKE SA's uptime."
      type: str
    ph2_states:
      description: "The tunnel's policies' C(ph2-state)."
      type: list
      elements: str
    sas_in:
      description: "Installed SAs into this router."
      type: int
    sas_out:
      description: "Installed SAs out of this router."
      type: int
    bytes_in:
      description: "Bytes received through the tunnel's SAs."
      type: int
    bytes_out:
      description: "Bytes sent."
      type: int
    algorithms:
      description: "The SAs' algorithms."
      type: list
      elements: str
    last_error:
      description: "The last C(ipsec,error) log line naming the peer."
      type: str
    diagnosis:
      description: "The most likely cause when the tunnel is not up."
      type: str
    cause:
      description: "Its identifier (see C(docs/observe.md))."
      type: str
    fix:
      description: "What to do."
      type: str
tunnels_up:
  description: How many of the intent's tunnels are up.
  returned: always
  type: int
tunnels_down:
  description: The names of the intent's tunnels that are not up.
  returned: always
  type: list
  elements: str
diagnosis:
  description:
    - Every finding (C(cause), C(title), C(evidence), C(fix), C(peer), C(severity)).
    - Log findings also have C(current), false when a newer failure of the same peer was logged since.
  returned: always
  type: list
  elements: dict
drift:
  description: What a converge would change (C(section), C(menu), C(key), C(what), C(fields) with C(router)/C(intent) values; a secret shows C(secret differs)).
  returned: when O(drift=true)
  type: list
  elements: dict
drift_lines:
  description: The drift, one line per item.
  returned: when O(drift=true)
  type: list
  elements: str
leftovers:
  description:
    - Owned items the intent no longer has - C(items) (one line each), C(tunnels) (tunnels not in the intent that still own
      items), C(count), C(named) (whether the intent still names the router) and C(message) (what removes them,
      C(site.yml) or, for a router the intent no longer names, C(playbooks/decommission.yml); empty when none).
  returned: always
  type: dict
audit:
  description: C(findings) (rule, severity, object, message, fix, owned), C(failing) (those the policy fails on) and C(summary).
  returned: when O(audit=true)
  type: dict
unreadable:
  description: Menus the router refused to print (menu -> RouterOS error); their checks are skipped.
  returned: always
  type: dict
state:
  description: Every row read by menu (C(profiles), C(peers), C(filter), C(address_lists), C(active_peers), C(log), ...), secrets masked.
  returned: when O(raw_state=true)
  type: dict
api_reads:
  description: Menus printed (all in one round trip).
  returned: always
  type: int
"""

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe.info import module_main


def main():
    module_main()


if __name__ == "__main__":
    main()
