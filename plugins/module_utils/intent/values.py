# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scalar values of the intent: durations, versions, prefixes, addresses, secrets and host variables.

Pure functions; each raises IntentError naming the scope and field. Addresses use the standard library
``ipaddress`` (no extra requirement on an execution environment)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import ipaddress
import re

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import (
    MIN_ROUTEROS,
    PSK_MIN_LENGTH,
    IntentError,
    is_undefined,
    undefined_reason,
    fail,
)

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:(?:beta|rc)\d+)?(?:\s.*)?$")


def parse_version(value):
    """RouterOS version text -> (major, minor, patch); ValueError if malformed."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a version string like 7.22.2")
    match = _VERSION_RE.match(value.strip())
    if not match:
        raise ValueError("%r is not a RouterOS version (e.g. 7.22.2)" % (value,))
    return tuple(int(g or 0) for g in match.groups())


# --- addresses ------------------------------------------------------------------------------------


# A hub's own prefixes and address are read once per tunnel: parse each text once.
@functools.lru_cache(maxsize=65536)
def _network(text):
    return ipaddress.ip_network(text, strict=False), ipaddress.ip_interface(text).ip


@functools.lru_cache(maxsize=65536)
def _interface(text):
    return ipaddress.ip_interface(text)


def parse_prefix(scope, field, value):
    """A LAN prefix: ipaddress network, no host bits."""
    if is_undefined(value):
        fail(scope, field, "is undefined")
    if not isinstance(value, str):
        fail(scope, field, "must be a prefix string like 10.1.0.0/24, got %s" % type(value).__name__)
    text = value.strip()
    try:
        network, address = _network(text)
    except ValueError:
        fail(scope, field, "%r is not an IPv4/IPv6 prefix" % (value,))
    if "/" not in text:
        fail(scope, field, "%r has no prefix length (write %s)" % (value, network))
    if network.network_address != address:
        fail(scope, field, "%s has host bits set (did you mean %s?)" % (text, network))
    return network


def parse_address(scope, field, value):
    """A single unicast address (a /32 or /128 prefix is accepted too)."""
    if is_undefined(value):
        fail(scope, field, "is undefined")
    if not isinstance(value, str):
        fail(scope, field, "must be an IP address string, got %s" % type(value).__name__)
    text = value.strip()
    try:
        interface = _interface(text)
    except ValueError:
        fail(scope, field, "%r is not an IP address (DNS names are not supported)" % (value,))
    network = interface.network
    if "/" in text and network.prefixlen != network.max_prefixlen:
        if network.prefixlen == 0:
            fail(scope, field, "%s would accept any peer; give the other end's single address" % text)
        fail(scope, field, "%s is a prefix; a peer needs one address (/%d)" % (text, network.max_prefixlen))
    address = interface.ip
    if address.is_unspecified:
        fail(scope, field, "%s (any address) would accept any peer; give the real address" % address)
    if address.is_multicast:
        fail(scope, field, "%s is a multicast address" % address)
    return address


# --- secrets ---------------------------------------------------------------------------------------

_PLACEHOLDER_RE = re.compile(
    r"^(?:change[-_ ]?me.*|todo|tbd|fixme|placeholder|secret|password|x+|\*+|<[^>]*>|__.*__|!vault.*"
    r"|vault[-_]?(?:placeholder|secret|value)?)$", re.IGNORECASE)
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


def check_secret(scope, field, value):
    """A pre-shared key as the vault should have delivered it; returns it stripped of nothing."""
    if value is None or is_undefined(value):
        fail(scope, field, "is missing: the vault variable is undefined (is the vault loaded?)%s"
             % (undefined_reason(value) if value is not None else ""))
    if type(value).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        # an inline !vault value reaches us still encrypted; str() decrypts when a vault secret is loaded
        try:
            value = str(value)
        except Exception:
            fail(scope, field, "is still vault-encrypted; pass the vault password to Ansible")
    if not isinstance(value, str):
        fail(scope, field, "must be a string, got %s" % type(value).__name__)
    if value == "":
        fail(scope, field, "is empty: the vault variable has no value")
    if "{{" in value or "{%" in value:
        fail(scope, field, "is an unrendered template (%s...); the variable it names is not "
             "defined" % value[:value.find("{") + 2])
    if value.startswith("$ANSIBLE_VAULT"):
        fail(scope, field, "is still vault-encrypted text; pass the vault password to Ansible")
    if _PLACEHOLDER_RE.match(value.strip()):
        fail(scope, field, "is a placeholder, not a key: set the real vault secret")
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        fail(scope, field, "contains leading/trailing blanks or control characters")
    if value[:2].lower() == "0x":
        # RouterOS parses a secret starting with 0x as hex bytes
        digits = value[2:]
        if not _HEX_RE.match(digits) or len(digits) % 2:
            fail(scope, field, "starts with 0x, so RouterOS reads it as hex, but the rest is not an "
                 "even number of hex digits")
        if len(digits) // 2 < PSK_MIN_LENGTH:
            fail(scope, field, "is %d bytes of hex; at least %d are required"
                 % (len(digits) // 2, PSK_MIN_LENGTH))
        return value
    if len(value) < PSK_MIN_LENGTH:
        fail(scope, field, "is %d characters; at least %d are required" % (len(value), PSK_MIN_LENGTH))
    return value


# --- host variables --------------------------------------------------------------------------------

MISSING = object()


class HostvarsCache(object):
    """``hostvars`` with each host's variables looked up once.

    In Ansible every ``hostvars[host]`` computes that host's variables anew (milliseconds on a large
    inventory), and planning reads several variables of the same few hosts.
    """

    def __init__(self, hostvars):
        self._hostvars = hostvars
        self._hosts = {}

    def __contains__(self, host):
        return host in self._hostvars

    def __getitem__(self, host):
        if host not in self._hosts:
            self._hosts[host] = self._hostvars[host]
        return self._hosts[host]


def host_exists(hostvars, host):
    try:
        return host in hostvars
    except TypeError:
        return False


def host_var(hostvars, host, var):
    """A host variable, MISSING when absent; an undefined template raises IntentError."""
    try:
        values = hostvars[host]
        if var not in values:
            return MISSING
        value = values[var]
    except IntentError:
        raise
    except Exception as exc:  # Ansible raises its own undefined-variable errors lazily
        raise IntentError("host '%s': host var '%s': cannot be read: %s" % (host, var, exc))
    if is_undefined(value):
        return MISSING
    return value


def host_version(hostvars, host):
    """The host's routeros_version as a tuple, or None when not set."""
    value = host_var(hostvars, host, "routeros_version")
    if value is MISSING or value is None or value == "":
        return None
    scope = "host '%s'" % host
    try:
        version = parse_version(value)
    except ValueError as exc:
        raise IntentError("%s: host var 'routeros_version': %s" % (scope, exc))
    if version[:2] < MIN_ROUTEROS:
        raise IntentError("%s: host var 'routeros_version': RouterOS %s is not supported (7.%d or "
                          "later; RouterOS 6 never)" % (scope, value, MIN_ROUTEROS[1]))
    return version


class HostVarRef(object):
    """A host variable read only when needed (``auth.psk_var`` of a hub_and_spoke topology)."""

    __slots__ = ("host", "var")

    def __init__(self, host, var):
        self.host = host
        self.var = var

    def __eq__(self, other):
        return isinstance(other, HostVarRef) and (self.host, self.var) == (other.host, other.var)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.host, self.var))

    def __repr__(self):
        return "HostVarRef(%r, %r)" % (self.host, self.var)

    def resolve(self, hostvars):
        """The value, or None when the host or the variable is missing."""
        if not host_exists(hostvars, self.host):
            return None
        value = host_var(hostvars, self.host, self.var)
        return None if value is MISSING else value
