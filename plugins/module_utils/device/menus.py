# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection knows about each RouterOS menu it manages: one table, used by the planner,
the apply engine, the renderer and the docs.

Facts come from RouterOS 7 (/console/inspect 7.9-7.24, MikroTik manual); see
docs/dev/routeros-facts.md. Every value the collection writes is a RouterOS API string.

Ownership: the collection only ever changes items it owns.
  * menus owned by comment: items whose comment starts with OWNER_COMMENT_PREFIX;
    the text after the prefix up to the first space is the item's stable key.
  * menus owned by name (IPsec profile and mode-config have no ``comment``; a policy group has one in
    every 7.x inspect tree, but its name is what policies and identities reference): items whose name starts
    with OWNER_NAME_PREFIX; the name is the key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

OWNER_COMMENT_PREFIX = "ipsecfleet:"
OWNER_NAME_PREFIX = "ipsecfleet-"


class Menu(object):
    """One RouterOS menu as the collection manages it."""

    def __init__(self, path, section, owned_by, ordered=False, secrets=(), references=(), readonly=(), fields=()):
        self.path = path
        # the key of this menu's item list in module options and plans (e.g. "peers"); item keys
        # there are RouterOS argument names with "_" for "-" (local_address -> local-address)
        self.section = section
        # "comment" or "name": how an owned item is recognised and keyed
        self.owned_by = owned_by
        # True where item order is meaningful (firewall chains, IPsec policies)
        self.ordered = ordered
        # arguments whose values are never shown (diff, results, logs, check-mode commands)
        self.secrets = tuple(secrets)
        # (argument, menu path) pairs: the value names an item of another menu (by its name)
        self.references = tuple(references)
        # properties RouterOS reports but does not accept on add/set
        self.readonly = tuple(readonly)
        # arguments the collection may write in this menu (RouterOS 7 names)
        self.fields = tuple(fields)


_FIREWALL_MATCHERS = (
    "chain", "action", "protocol", "src-address", "dst-address", "src-address-list",
    "dst-address-list", "src-port", "dst-port", "port", "in-interface", "out-interface",
    "in-interface-list", "out-interface-list", "connection-state", "connection-nat-state",
    "ipsec-policy", "limit", "dst-limit", "jump-target", "log", "log-prefix", "to-addresses",
    "to-ports", "tcp-flags", "tcp-mss", "new-mss", "passthrough", "address-list",
    "address-list-timeout", "disabled", "comment",
)
_FIREWALL_READONLY = ("bytes", "packets", "dynamic", "invalid")

MENUS = dict((m.path, m) for m in (
    Menu("/ip/ipsec/profile", "profiles", "name",
         fields=("name", "hash-algorithm", "prf-algorithm", "enc-algorithm", "dh-group", "lifetime",
                 "lifebytes", "proposal-check", "nat-traversal", "dpd-interval",
                 "dpd-maximum-failures", "ppk"),  # ppk: RouterOS 7.21+
         readonly=("default",)),
    Menu("/ip/ipsec/policy/group", "policy_groups", "name", fields=("name",), readonly=("default",)),
    Menu("/ip/ipsec/proposal", "proposals", "comment",
         fields=("name", "auth-algorithms", "enc-algorithms", "lifetime", "pfs-group", "disabled",
                 "comment"),
         readonly=("default",)),
    Menu("/ip/ipsec/peer", "peers", "comment",
         fields=("name", "address", "local-address", "passive", "port", "profile", "exchange-mode",
                 "send-initial-contact", "disabled", "comment", "ppk-secret"),  # ppk-secret: 7.21+
         secrets=("ppk-secret",),
         references=(("profile", "/ip/ipsec/profile"),),
         readonly=("dynamic", "responder", "current-address")),
    Menu("/ip/ipsec/identity", "identities", "comment",
         fields=("peer", "auth-method", "secret", "generate-policy", "policy-template-group",
                 "my-id", "remote-id", "match-by", "certificate", "remote-certificate", "disabled",
                 "comment"),
         secrets=("secret", "password"),
         references=(("peer", "/ip/ipsec/peer"), ("policy-template-group", "/ip/ipsec/policy/group")),
         readonly=("dynamic",)),
    Menu("/ip/ipsec/policy", "policies", "comment", ordered=True,
         fields=("peer", "tunnel", "group", "src-address", "dst-address", "src-port", "dst-port",
                 "protocol", "action", "level", "ipsec-protocols", "proposal", "template",
                 "disabled", "comment"),
         references=(("peer", "/ip/ipsec/peer"), ("proposal", "/ip/ipsec/proposal"),
                     ("group", "/ip/ipsec/policy/group")),
         readonly=("active", "default", "dynamic", "invalid", "ph2-count", "ph2-state", "backup",
                   "active-interface")),
    Menu("/ip/firewall/address-list", "address_lists", "comment",
         fields=("list", "address", "timeout", "disabled", "comment"),
         readonly=("creation-time", "dynamic")),
    Menu("/ip/firewall/filter", "filter", "comment", ordered=True, fields=_FIREWALL_MATCHERS,
         readonly=_FIREWALL_READONLY),
    Menu("/ip/firewall/nat", "nat", "comment", ordered=True, fields=_FIREWALL_MATCHERS,
         readonly=_FIREWALL_READONLY),
    Menu("/ip/firewall/raw", "raw", "comment", ordered=True, fields=_FIREWALL_MATCHERS,
         readonly=_FIREWALL_READONLY),
    Menu("/ip/firewall/mangle", "mangle", "comment", ordered=True, fields=_FIREWALL_MATCHERS,
         readonly=_FIREWALL_READONLY),
))

MENUS_BY_SECTION = dict((m.section, m) for m in MENUS.values())

# Creation order: an item is created after everything it references, removed before it.
APPLY_ORDER = (
    "/ip/ipsec/profile",
    "/ip/ipsec/policy/group",
    "/ip/ipsec/proposal",
    "/ip/ipsec/peer",
    "/ip/ipsec/identity",
    "/ip/ipsec/policy",
    "/ip/firewall/address-list",
    "/ip/firewall/raw",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
    "/ip/firewall/mangle",
)


def owner_key(menu, item):
    """Return the stable key of an item the collection owns in ``menu``, or None if it is foreign."""
    if menu.owned_by == "name":
        name = item.get("name", "")
        return name if name.startswith(OWNER_NAME_PREFIX) else None
    comment = item.get("comment", "")
    if not comment.startswith(OWNER_COMMENT_PREFIX):
        return None
    return comment[len(OWNER_COMMENT_PREFIX):].split(" ", 1)[0] or None


def owner_comment(key, text=None):
    """The comment that marks an item as owned under ``key`` (with optional human text)."""
    return OWNER_COMMENT_PREFIX + key + ((" " + text) if text else "")
