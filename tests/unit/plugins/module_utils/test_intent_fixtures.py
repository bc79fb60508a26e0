"""Shared inventory data for the intent / plan / rsc / filter tests (plain data, like hostvars). No tests here."""
import copy

PSK = "k3y-f0r-tests-only-0123456789"
PSK2 = "another-test-key-abcdefghijk"

HOSTVARS = {
    "hq": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.0.0.0/16"],
           "routeros_version": "7.22.2"},
    "br1": {"ipsec_wan_address": "203.0.113.10", "ipsec_lan_prefixes": ["10.1.0.0/24"],
            "routeros_version": "7.22.2", "ipsec_psk": PSK},
    "br2": {"ipsec_wan_address": "203.0.113.20", "ipsec_lan_prefixes": ["10.2.0.0/24"],
            "routeros_version": "7.20.8", "ipsec_psk": PSK2},
    "br3": {"ipsec_wan_address": "203.0.113.30", "ipsec_lan_prefixes": ["10.3.0.0/24"]},
    "v6a": {"ipsec_wan_address": "2001:db8::a", "ipsec_lan_prefixes": ["fd00:a::/64"],
            "routeros_version": "7.22.2"},
    "v6b": {"ipsec_wan_address": "2001:db8::b", "ipsec_lan_prefixes": ["fd00:b::/64"],
            "routeros_version": "7.21.5"},
    "bare": {},
}

GROUPS = {
    "all": sorted(HOSTVARS),
    "hubs": ["hq"],
    "branches": ["br1", "br2"],
    "empty": [],
    "mesh": ["br1", "br2", "br3"],
}


def hostvars():
    return copy.deepcopy(HOSTVARS)


def groups():
    return copy.deepcopy(GROUPS)


def tunnel(**overrides):
    """A valid tunnel hq <-> br1 with the given fields replaced (None deletes a field)."""
    t = {"name": "hq-br1", "a": "hq", "b": "br1", "auth": {"psk": PSK}}
    for key, value in overrides.items():
        if value is None:
            t.pop(key, None)
        else:
            t[key] = value
    return t
