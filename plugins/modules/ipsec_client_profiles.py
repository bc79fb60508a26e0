#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipsec_client_profiles
short_description: Issue remote-access client certificates from the fleet PKI and write their profiles
version_added: 0.4.0
description:
  - For a hub with C(ipsec_remote_access), issues each client a certificate from the fleet CA on the controller
    (C(ipsec_pki_dir); CN and e-mail SAN = the client's C(id), which the hub's identity matches with
    C(remote-id=user-fqdn:<id>); extended key usage clientAuth; EC P-256; valid C(ipsec_pki_validity_days),
    renewed within C(ipsec_pki_renew_before_days) of expiry or when the ID or the CA changed).
  - Writes one bundle per client under O(dest)C(/<hub>/<client>/) - C(README.txt); C(swanctl/) in the layout of
    C(/etc/swanctl) (C(swanctl.conf), C(x509ca/ipsecfleet-ca.crt), C(x509/<client>.crt),
    C(private/<client>.key)); C(<client>.p12) (certificate, key and CA); C(<client>.mobileconfig) (Apple
    profile with the CA, the identity and the IKEv2 connection). Every file that holds the key is encrypted
    with O(export_passphrase) and readable by the owner only; hand the passphrase to the user apart from the files.
  - Idempotent; a bundle is rewritten only when its certificate is new or renewed, or a file is missing or differs.
    Check mode writes nothing and issues nothing.
  - No router is contacted. Runs on the controller through the action plugin of the same name.
author:
  - ipsecfleet maintainers (@ipsecfleet)
options:
  dest:
    description: Directory on the controller the bundles are written under (created, mode 0700).
    type: path
    required: true
  export_passphrase:
    description:
      - Encrypts the client keys in the bundle (PKCS#8 and PKCS#12). At least 12 characters; keep it in a vault.
    type: str
    required: true
  clients:
    description: Only these clients (names from C(ipsec_remote_access.clients)); default all.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Reports which bundles would be written; writes and issues nothing.
  diff_mode:
    support: none
    description: Files with keys are not shown.
  action:
    support: full
    description: Runs as an action plugin on the controller.
notes:
  - The PKI variables are those of certificate tunnels (C(ipsec_pki_dir), C(ipsec_pki_passphrase), ...), see
    C(docs/certificates.md); the hub's settings those of C(docs/remote-access.md).
"""

EXAMPLES = r"""
- name: Write the remote-access client bundles of every hub
  ipsecfleet.routeros.ipsec_client_profiles:
    dest: "{{ playbook_dir }}/client-profiles"
    export_passphrase: "{{ vault_client_export_passphrase }}"
  when: ipsec_remote_access is defined
"""

RETURN = r"""
summary:
  description: One line per client (certificate new/renewed/kept, files written or current).
  returned: always
  type: list
  elements: str
clients:
  description: One entry per client handled.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The client's name.
      type: str
    id:
      description: The client's IKE ID (its certificate's e-mail SAN).
      type: str
    directory:
      description: The bundle's directory.
      type: str
    reason:
      description: Why the certificate was (or would be) issued (C(new), C(expires ... within the rotation window ...)); null when kept.
      type: str
    files:
      description: Files written (or to be written in check mode), relative to RV(clients[].directory); empty when the bundle was current.
      type: list
      elements: str
    expires:
      description: The certificate's expiry date (not in check mode).
      type: str
"""


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=dict(
        dest=dict(type="path", required=True), export_passphrase=dict(type="str", required=True, no_log=True),
        clients=dict(type="list", elements="str")), supports_check_mode=True)
    module.fail_json(msg="ipsecfleet.routeros.ipsec_client_profiles uses the controller's fleet PKI and runs through "
                         "its action plugin; it cannot run as a module on a target host")


if __name__ == "__main__":
    main()
