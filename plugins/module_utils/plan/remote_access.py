# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builder of the ``remote_access`` feature: road-warrior clients on a hub (IKEv2, certificates),
and the client profiles made from the same data (strongSwan swanctl.conf, Apple .mobileconfig).

The hub's host var ``ipsec_remote_access``::

    ipsec_remote_access:
      name: staff                      # [a-z0-9-], keys every item
      pool: 10.99.0.0/24               # client addresses (the hub hands out .2 .. last-1)
      split_include: [10.10.0.0/24]    # default: the hub's ipsec_lan_prefixes
      dns: [10.10.0.53]                # optional
      clients: [{name: alice, id: alice@example.net}]

Hub objects (RouterOS facts: routeros7-behaviour.md §2 mode-config, identity, policy): the pool, a
``mode-config responder=yes address-pool=… split-include=… static-dns=…``, a policy group with one
template per split-include prefix (dst = the pool), and one identity per client on the hub's shared
passive ``0.0.0.0/0`` peer (plan/ipsec.py DYNAMIC_PEER): ``auth-method=digital-signature
remote-id=user-fqdn:<client id> generate-policy=port-strict mode-config=… policy-template-group=…``,
so a client gets only its own policies. EAP through RADIUS (``auth-method=eap-radius``) is the other
RouterOS way; it needs a RADIUS server and is not emulated by the lab (docs/remote-access.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import ipaddress
import plistlib
import uuid

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import FQDN_RE, NAME_RE, fail

SECTIONS = ("pools", "mode_configs")
NAME_PREFIX = menus.OWNER_NAME_PREFIX
KEYS = ("name", "pool", "split_include", "dns", "clients", "suite")
CLIENT_KEYS = ("name", "id")


class RemoteAccess(object):
    """A hub's validated remote-access settings."""

    def __init__(self, host, name, pool, split_include, dns, clients, suite, hub_id, hub_address):
        self.host = host
        self.name = name
        self.pool = pool                    # ipaddress network
        self.split_include = split_include  # [network]
        self.dns = dns                      # [address]
        self.clients = clients              # [(name, id)]
        self.suite = suite
        self.hub_id = hub_id                # the hub's IKE ID (its certificate's DNS name)
        self.hub_address = hub_address      # what clients connect to (DNS name or address)

    @property
    def item_name(self):
        return NAME_PREFIX + "ra-" + self.name

    def ranges(self):
        hosts = list(self.pool.hosts()) if self.pool.num_addresses <= 65536 else None
        if hosts:
            return "%s-%s" % (hosts[1] if len(hosts) > 2 else hosts[0], hosts[-1])
        return str(self.pool)


def parse(host, hostvars):
    """The host's ``ipsec_remote_access`` (or None). Raises IntentError naming the field."""
    own = hostvars.get(host) or {}
    raw = own.get("ipsec_remote_access")
    if raw is None:
        return None
    scope = "host '%s'" % host
    if not isinstance(raw, dict):
        fail(scope, "ipsec_remote_access", "must be a mapping")
    for key in raw:
        if key not in KEYS:
            fail(scope, "ipsec_remote_access.%s" % key, "unknown field (known: %s)" % ", ".join(KEYS))
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 20:
        fail(scope, "ipsec_remote_access.name", "must be 1-20 characters of a-z, 0-9 and '-'")
    try:
        pool = ipaddress.ip_network(str(raw.get("pool")), strict=True)
    except ValueError:
        fail(scope, "ipsec_remote_access.pool", "must be an IPv4 prefix without host bits, got %r" % raw.get("pool"))
    if pool.version != 4 or pool.prefixlen > 30:
        fail(scope, "ipsec_remote_access.pool", "must be an IPv4 prefix of /30 or larger")
    includes = raw.get("split_include", own.get("ipsec_lan_prefixes") or [])
    if not isinstance(includes, list) or not includes:
        fail(scope, "ipsec_remote_access.split_include", "must be a non-empty list of prefixes")
    split = []
    for index, text in enumerate(includes):
        try:
            net = ipaddress.ip_network(str(text), strict=True)
        except ValueError:
            fail(scope, "ipsec_remote_access.split_include[%d]" % index, "%r is not a prefix" % (text,))
        if net.overlaps(pool):
            fail(scope, "ipsec_remote_access.split_include[%d]" % index, "%s overlaps the pool %s" % (net, pool))
        split.append(net)
    dns = []
    for index, text in enumerate(raw.get("dns") or []):
        try:
            dns.append(ipaddress.ip_address(str(text)))
        except ValueError:
            fail(scope, "ipsec_remote_access.dns[%d]" % index, "%r is not an address" % (text,))
    clients, seen = [], set()
    for index, client in enumerate(raw.get("clients") or []):
        where = "ipsec_remote_access.clients[%d]" % index
        if not isinstance(client, dict) or set(client) - set(CLIENT_KEYS):
            fail(scope, where, "must be a mapping with name and id")
        cname, cid = client.get("name"), client.get("id")
        if not isinstance(cname, str) or not NAME_RE.match(cname):
            fail(scope, where + ".name", "must be a-z, 0-9 and '-'")
        if not isinstance(cid, str) or "@" not in cid or not FQDN_RE.match(cid.split("@", 1)[1]):
            fail(scope, where + ".id", "must be an e-mail style ID (user@domain, the certificate's e-mail SAN)")
        if cname in seen or cid in seen:
            fail(scope, where, "%s is listed twice" % cname)
        seen.update((cname, cid))
        clients.append((cname, cid))
    if not clients:
        fail(scope, "ipsec_remote_access.clients", "lists no client")
    try:
        suite = crypto_suites.resolve_suite(raw.get("suite", crypto_suites.DEFAULT_SUITE))
    except crypto_suites.SuiteError as exc:
        fail(scope, "ipsec_remote_access.suite", exc.message)
    hub_id = own.get("ipsec_ike_id") or host
    hub_address = own.get("ipsec_dns_name") or own.get("ipsec_wan_address")
    return RemoteAccess(host, name, pool, split, dns, clients, suite, hub_id, hub_address)


def hub_items(ra, profile_name, proposal_name, certificate):
    """The hub's items: {section: [items]} (pools, mode_configs, policy_groups, policies, identities)."""
    name = ra.item_name
    mode_config = {"name": name, "responder": "true", "address_pool": name,
                   "split_include": ",".join(str(n) for n in ra.split_include), "system_dns": "false"}
    if ra.dns:
        mode_config["static_dns"] = ",".join(str(a) for a in ra.dns)
    text = "remote access %s" % ra.name
    templates = [{"group": name, "template": "true", "src_address": str(net), "dst_address": str(ra.pool),
                  "proposal": proposal_name,
                  "comment": menus.owner_comment("policy/ra-%s/%s" % (ra.name, str(net).replace("/", "_")), text)}
                 for net in ra.split_include]
    identities = []
    for cname, cid in ra.clients:
        identity = {"peer": NAME_PREFIX + "dynamic", "auth_method": "digital-signature",
                    "my_id": "fqdn:" + ra.hub_id, "remote_id": "user-fqdn:" + cid, "match_by": "remote-id",
                    "generate_policy": "port-strict", "mode_config": name, "policy_template_group": name,
                    "comment": menus.owner_comment("identity/ra-%s/%s" % (ra.name, cname), "%s client %s" % (text, cname))}
        if certificate:
            identity["certificate"] = certificate
        identities.append(identity)
    return {"pools": [{"name": name, "ranges": ra.ranges(), "comment": menus.owner_comment("pool/ra-" + ra.name, text)}],
            "mode_configs": [mode_config], "policy_groups": [{"name": name}], "policies": templates,
            "identities": identities}


# --- client profiles ---------------------------------------------------------------------------------
_SWANCTL_ESP = {"aes-256-gcm": "aes256gcm16", "aes-128-gcm": "aes128gcm16", "aes-256-cbc": "aes256",
                "aes-128-cbc": "aes128", "chacha20poly1305": "chacha20poly1305"}
_SWANCTL_IKE = {"aes-256": "aes256", "aes-192": "aes192", "aes-128": "aes128"}
_DH = {"ecp256": "ecp256", "ecp384": "ecp384", "ecp521": "ecp521", "modp2048": "modp2048", "modp3072": "modp3072",
       "modp4096": "modp4096", "modp8192": "modp8192"}


def _ike_proposal(suite):
    p = suite.profile
    return "%s-%s-%s" % (_SWANCTL_IKE.get(p["enc_algorithm"][0], p["enc_algorithm"][0]),
                         p["hash_algorithm"], _DH.get(p["dh_group"][0], p["dh_group"][0]))


def _esp_proposal(suite):
    p = suite.proposal
    enc = _SWANCTL_ESP.get(p["enc_algorithms"][0], p["enc_algorithms"][0])
    parts = [enc] if "gcm" in enc or "chacha" in enc else [enc, p["auth_algorithms"][0]]
    if p["pfs_group"] != "none":
        parts.append(_DH.get(p["pfs_group"], p["pfs_group"]))
    return "-".join(parts)


def swanctl_conf(ra, client_name):
    """A strongSwan swanctl.conf for one client (certificate auth, virtual IP from the pool)."""
    cid = dict(ra.clients)[client_name]
    lines = [
        "# ipsecfleet remote access %s: client %s (strongSwan swanctl.conf)" % (ra.name, client_name),
        "connections {",
        "    ipsecfleet-%s {" % ra.name,
        "        version = 2",
        "        remote_addrs = %s" % ra.hub_address,
        "        vips = 0.0.0.0",
        "        proposals = %s" % _ike_proposal(ra.suite),
        "        local {",
        "            auth = pubkey",
        "            certs = %s.crt" % client_name,
        "            id = %s" % cid,
        "        }",
        "        remote {",
        "            auth = pubkey",
        "            id = %s" % ra.hub_id,
        "        }",
        "        children {",
        "            ipsecfleet-%s {" % ra.name,
        "                remote_ts = %s" % ",".join(str(n) for n in ra.split_include),
        "                esp_proposals = %s" % _esp_proposal(ra.suite),
        "                start_action = start",
        "            }",
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def mobileconfig(ra, client_name, ca_pem, identifier_prefix="net.ipsecfleet", pkcs12=None):
    """An Apple configuration profile (.mobileconfig, XML plist) for one client: IKEv2 with a
    certificate. With ``pkcs12`` (bytes) the client's identity is a payload of the profile (the
    device asks for its passphrase on install) and ``PayloadCertificateUUID`` names it; without,
    the PKCS#12 must be installed first with that UUID."""
    cid = dict(ra.clients)[client_name]
    seed = "%s/%s/%s" % (ra.host, ra.name, client_name)
    ids = dict((part, str(uuid.uuid5(uuid.NAMESPACE_URL, seed + "/" + part))) for part in ("profile", "vpn", "ca", "cert"))
    der = "".join(line for line in ca_pem.splitlines() if line and not line.startswith("-----"))
    dh = {"ecp256": 19, "ecp384": 20, "ecp521": 21, "modp2048": 14, "modp3072": 15, "modp4096": 16}
    ike = {"EncryptionAlgorithm": "AES-256" if "256" in ra.suite.profile["enc_algorithm"][0] else "AES-128",
           "IntegrityAlgorithm": {"sha256": "SHA2-256", "sha384": "SHA2-384", "sha512": "SHA2-512"}.get(
               ra.suite.profile["hash_algorithm"], "SHA2-256"),
           "DiffieHellmanGroup": dh.get(ra.suite.profile["dh_group"][0], 19), "LifeTimeInMinutes": 1440}
    child = dict(ike, EncryptionAlgorithm="AES-256-GCM" if "gcm" in ra.suite.proposal["enc_algorithms"][0] else
                 ike["EncryptionAlgorithm"], LifeTimeInMinutes=30)
    if ra.suite.proposal["pfs_group"] == "none":
        child.pop("DiffieHellmanGroup")
    vpn = {"PayloadType": "com.apple.vpn.managed", "PayloadVersion": 1, "PayloadIdentifier":
           "%s.%s.vpn" % (identifier_prefix, ra.name), "PayloadUUID": ids["vpn"],
           "PayloadDisplayName": "ipsecfleet %s" % ra.name, "UserDefinedName": "ipsecfleet %s" % ra.name,
           "VPNType": "IKEv2",
           "IKEv2": {"RemoteAddress": str(ra.hub_address), "RemoteIdentifier": ra.hub_id, "LocalIdentifier": cid,
                     "AuthenticationMethod": "Certificate", "PayloadCertificateUUID": ids["cert"],
                     "ExtendedAuthEnabled": 0, "CertificateType": "ECDSA256",
                     "ServerCertificateIssuerCommonName": "ipsecfleet fleet CA",
                     "EnablePFS": 1 if ra.suite.proposal["pfs_group"] != "none" else 0,
                     "IKESecurityAssociationParameters": ike, "ChildSecurityAssociationParameters": child,
                     "DeadPeerDetectionRate": "Medium", "DisableMOBIKE": 1}}
    ca = {"PayloadType": "com.apple.security.root", "PayloadVersion": 1, "PayloadUUID": ids["ca"],
          "PayloadIdentifier": "%s.%s.ca" % (identifier_prefix, ra.name), "PayloadDisplayName": "ipsecfleet CA",
          "PayloadContent": base64.b64decode(der.encode("ascii"))}
    profile = {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadUUID": ids["profile"],
               "PayloadIdentifier": "%s.%s" % (identifier_prefix, ra.name),
               "PayloadDisplayName": "ipsecfleet %s (%s)" % (ra.name, client_name), "PayloadContent": [ca, vpn]}
    if pkcs12 is not None:
        profile["PayloadContent"].insert(1, {
            "PayloadType": "com.apple.security.pkcs12", "PayloadVersion": 1, "PayloadUUID": ids["cert"],
            "PayloadIdentifier": "%s.%s.%s.identity" % (identifier_prefix, ra.name, client_name),
            "PayloadDisplayName": "%s (%s)" % (client_name, cid), "PayloadCertificateFileName": "%s.p12" % client_name,
            "PayloadContent": pkcs12})
    return plistlib.dumps(profile).decode("utf-8")


# what a client bundle holds (relative to <dest>/<hub>/<client>/): the strongSwan layout of
# /etc/swanctl (swanctl.conf, x509ca/, x509/, private/), the PKCS#12 and the Apple profile
CLIENT_README = """ipsecfleet remote access %(name)s: client %(client)s (id %(id)s), hub %(hub)s

strongSwan (Linux): copy swanctl/ into /etc/swanctl/ (keep private/ mode 0600), then
  swanctl --load-creds   (asks for the export passphrase of private/%(client)s.key)
  swanctl --load-conns
  ECDSA keys need strongSwan's openssl plugin (Debian/Ubuntu: libstrongswan-standard-plugins).
macOS / iOS: open %(client)s.mobileconfig; it installs the CA, the identity (asks for the passphrase)
  and the IKEv2 connection.
Windows / others: import %(client)s.p12 (passphrase) and the CA in swanctl/x509ca/.
Windows' built-in client ignores split-include: add routes to %(split)s with Add-VpnConnectionRoute.
The passphrase is not in this directory: it comes from your operator, separately.
"""


def client_public_files(ra, client_name, ca_pem, cert_pem):
    """{relative path: text} of a client bundle's files that do not hold a key: the same for the same
    certificate, so an unchanged bundle is recognised and not rewritten."""
    cid = dict(ra.clients)[client_name]
    return {
        "README.txt": CLIENT_README % {"name": ra.name, "client": client_name, "id": cid, "hub": ra.hub_address,
                                       "split": ", ".join(str(n) for n in ra.split_include)},
        "swanctl/swanctl.conf": swanctl_conf(ra, client_name),
        "swanctl/x509ca/ipsecfleet-ca.crt": ca_pem,
        "swanctl/x509/%s.crt" % client_name: cert_pem,
    }


def client_secret_paths(client_name):
    """Relative paths of a bundle's files that carry the client's key (encrypted)."""
    return ["swanctl/private/%s.key" % client_name, "%s.p12" % client_name, "%s.mobileconfig" % client_name]


def client_secret_files(ra, client_name, ca_pem, key_pem, pkcs12):
    """{relative path: bytes} of the files that carry the client's key (each encrypted with the
    export passphrase; new salt every time, so only written with a new or changed certificate)."""
    key_path, p12_path, profile_path = client_secret_paths(client_name)
    return {
        key_path: key_pem.encode("ascii"),
        p12_path: pkcs12,
        profile_path: mobileconfig(ra, client_name, ca_pem, pkcs12=pkcs12).encode("utf-8"),
    }
