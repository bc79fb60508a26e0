# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builder of the ``certificates`` feature: the certificates a router needs for its
``auth: {method: certificate}`` tunnels, and the names its identities reference.

Inputs are the tunnel model and the controller's PKI material for this host (``options["pki"]``,
made by plugins/plugin_utils/pki.py on the controller; nothing here touches keys in clear):

    {"ca": {"pem": ..., "fingerprint": ...},
     "own": {"pem": ..., "fingerprint": ..., "key_pem": <encrypted PKCS#8>, "passphrase": ...}}

A certificate's RouterOS name carries the start of its fingerprint (``ipsecfleet-ca-<fp8>``,
``ipsecfleet-<host>-<fp8>``): a rotated certificate is a new item, imported beside the old one; the
identities switch to it and the old one is removed after them (apply/certificates.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent as intent_model
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import fail

SECTIONS = ("certificates",)
NAME_PREFIX = menus.OWNER_NAME_PREFIX
FINGERPRINT_CHARS = 8
PKI_HINT = ("certificate authentication needs the controller PKI: set ipsec_pki_dir and ipsec_pki_passphrase "
            "(docs/certificates.md)")


def uses_certificates(tunnels):
    return any(t.auth_method == "certificate" for t in tunnels)


def ca_name(fingerprint):
    return "%sca-%s" % (NAME_PREFIX, fingerprint[:FINGERPRINT_CHARS])


def own_name(host, fingerprint):
    return "%s%s-%s" % (NAME_PREFIX, intent_model.generated_name(host), fingerprint[:FINGERPRINT_CHARS])


def _check_pki(tunnel, pki):
    if not pki or not pki.get("ca") or not pki.get("own"):
        fail(tunnel.scope, "auth.method", PKI_HINT)
    for part in ("ca", "own"):
        for key in ("pem", "fingerprint"):
            if not pki[part].get(key):
                fail(tunnel.scope, "auth.method", "the PKI material has no %s %s" % (part, key))
    if not pki["own"].get("key_pem") or not pki["own"].get("passphrase"):
        fail(tunnel.scope, "auth.method", "the PKI material has no encrypted key for the router")


def certificate_name(host, tunnels, pki):
    """The name of ``host``'s own certificate (what its identities reference), or None without
    certificate tunnels. Raises IntentError naming the tunnel when the PKI material is missing."""
    for tunnel in sorted(tunnels, key=lambda t: t.name):
        if tunnel.auth_method == "certificate":
            _check_pki(tunnel, pki)
            return own_name(host, pki["own"]["fingerprint"])
    return None


def own_certificate_name(host, pki, remote_access):
    """The name of the hub's certificate for remote access; fails naming the setting without PKI."""
    if not pki or not pki.get("own") or not pki["own"].get("fingerprint"):
        fail("host '%s'" % host, "ipsec_remote_access", PKI_HINT)
    return own_name(host, pki["own"]["fingerprint"])


def build_items(host, tunnels, pki, force=False):
    """The /certificate items of ``host``: the fleet CA (trusted) and its own certificate with key.
    ``force``: also without certificate tunnels (a remote-access hub)."""
    name = certificate_name(host, tunnels, pki)
    if name is None and force and pki and pki.get("own"):
        name = own_name(host, pki["own"]["fingerprint"])
    if name is None:
        return []
    ca, own = pki["ca"], pki["own"]
    return [
        {"name": ca_name(ca["fingerprint"]), "fingerprint": ca["fingerprint"], "trusted": "true",
         "pem": ca["pem"]},
        {"name": name, "fingerprint": own["fingerprint"], "trusted": "false", "pem": own["pem"],
         "key_pem": own["key_pem"], "passphrase": own["passphrase"]},
    ]
