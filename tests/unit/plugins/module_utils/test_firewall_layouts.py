"""Foreign firewall layouts the placement and lock-out tests start from (and checks of the fixtures).

DEFCONF_* is the RouterOS 7 default configuration firewall as `/export` shows it on a home/SOHO
device (routeros7-behaviour.md section 3 quotes its IPsec and FastTrack lines and the masquerade),
with the dynamic "special dummy rule to show fasttrack counters" RouterOS v7 keeps at the top.
"""
import copy

FILTER = "/ip/firewall/filter"
NAT = "/ip/firewall/nat"
RAW = "/ip/firewall/raw"
MANGLE = "/ip/firewall/mangle"
ADDRESS_LIST = "/ip/firewall/address-list"

DYNAMIC_DUMMY = {".id": "*FFFFFFFF", "chain": "forward", "action": "passthrough", "dynamic": "true",
                 "comment": "special dummy rule to show fasttrack counters"}

DEFCONF_FILTER = [
    DYNAMIC_DUMMY,
    {".id": "*1", "chain": "input", "action": "accept", "connection-state": "established,related,untracked",
     "comment": "defconf: accept established,related,untracked"},
    {".id": "*2", "chain": "input", "action": "drop", "connection-state": "invalid",
     "comment": "defconf: drop invalid"},
    {".id": "*3", "chain": "input", "action": "accept", "protocol": "icmp", "comment": "defconf: accept ICMP"},
    {".id": "*4", "chain": "input", "action": "accept", "dst-address": "127.0.0.1",
     "comment": "defconf: accept to local loopback (for CAPsMAN)"},
    {".id": "*5", "chain": "input", "action": "drop", "in-interface-list": "!LAN",
     "comment": "defconf: drop all not coming from LAN"},
    {".id": "*6", "chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec",
     "comment": "defconf: accept in ipsec policy"},
    {".id": "*7", "chain": "forward", "action": "accept", "ipsec-policy": "out,ipsec",
     "comment": "defconf: accept out ipsec policy"},
    {".id": "*8", "chain": "forward", "action": "fasttrack-connection", "connection-state": "established,related",
     "hw-offload": "true", "comment": "defconf: fasttrack"},
    {".id": "*9", "chain": "forward", "action": "accept", "connection-state": "established,related,untracked",
     "comment": "defconf: accept established,related, untracked"},
    {".id": "*A", "chain": "forward", "action": "drop", "connection-state": "invalid",
     "comment": "defconf: drop invalid"},
    {".id": "*B", "chain": "forward", "action": "drop", "connection-state": "new", "connection-nat-state": "!dstnat",
     "in-interface-list": "WAN", "comment": "defconf: drop all from WAN not DSTNATed"},
]

DEFCONF_NAT = [
    {".id": "*1", "chain": "srcnat", "action": "masquerade", "ipsec-policy": "out,none",
     "out-interface-list": "WAN", "comment": "defconf: masquerade"},
]

# defconf plus the kind of rules operators add by hand
EXTRA_FILTER = copy.deepcopy(DEFCONF_FILTER)
EXTRA_FILTER[1:1] = [
    {".id": "*20", "chain": "input", "action": "accept", "protocol": "tcp", "dst-port": "8728,8729,22,8291",
     "src-address-list": "mgmt", "comment": "management"},
    {".id": "*21", "chain": "input", "action": "jump", "jump-target": "blacklist", "comment": "to blacklist"},
]
EXTRA_FILTER += [
    {".id": "*22", "chain": "blacklist", "action": "drop", "src-address-list": "bad", "comment": "bad guys"},
    {".id": "*23", "chain": "blacklist", "action": "return"},
    {".id": "*24", "chain": "input", "action": "drop", "disabled": "true", "comment": "final drop (off)"},
]
EXTRA_NAT = [
    {".id": "*10", "chain": "dstnat", "action": "dst-nat", "to-addresses": "10.10.0.5", "protocol": "tcp",
     "dst-port": "443"},
] + copy.deepcopy(DEFCONF_NAT) + [
    {".id": "*11", "chain": "srcnat", "action": "src-nat", "to-addresses": "198.51.100.9", "src-address": "10.10.9.0/24"},
]
EXTRA_RAW = [
    {".id": "*30", "chain": "prerouting", "action": "drop", "src-address-list": "bogons", "comment": "bogons"},
]
EXTRA_MANGLE = [
    {".id": "*40", "chain": "forward", "action": "mark-connection", "new-connection-mark": "voip",
     "passthrough": "true"},
    {".id": "*41", "chain": "forward", "action": "mark-packet", "new-packet-mark": "bulk", "passthrough": "false"},
]
EXTRA_LISTS = [
    {".id": "*50", "list": "mgmt", "address": "192.0.2.0/24"},
]

LAYOUTS = {
    "empty": {},
    "dynamic-only": {FILTER: [DYNAMIC_DUMMY]},
    "defconf": {FILTER: DEFCONF_FILTER, NAT: DEFCONF_NAT},
    "defconf-extra": {FILTER: EXTRA_FILTER, NAT: EXTRA_NAT, RAW: EXTRA_RAW, MANGLE: EXTRA_MANGLE,
                      ADDRESS_LIST: EXTRA_LISTS},
    "drop-first": {FILTER: [DYNAMIC_DUMMY,
                            {".id": "*1", "chain": "forward", "action": "drop", "src-address": "10.99.0.0/16"},
                            {".id": "*2", "chain": "input", "action": "reject", "protocol": "udp", "dst-port": "53"},
                            {".id": "*3", "chain": "forward", "action": "fasttrack-connection",
                             "connection-state": "established,related"}]},
    "forward-before-input": {FILTER: [DYNAMIC_DUMMY,
                                      {".id": "*1", "chain": "forward", "action": "fasttrack-connection",
                                       "connection-state": "established,related"},
                                      {".id": "*2", "chain": "forward", "action": "drop"},
                                      {".id": "*3", "chain": "input", "action": "drop"}]},
}


def layout(name):
    return copy.deepcopy(LAYOUTS[name])


def test_fixture_ids_are_unique_per_menu():
    for rows_by_path in LAYOUTS.values():
        for rows in rows_by_path.values():
            ids = [row[".id"] for row in rows]
            assert len(ids) == len(set(ids))


def test_defconf_has_the_reference_lines():
    # routeros7-behaviour.md section 3, verbatim
    assert {"chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec"}.items() <= DEFCONF_FILTER[6].items()
    assert DEFCONF_FILTER[8]["action"] == "fasttrack-connection"
    assert DEFCONF_NAT[0]["ipsec-policy"] == "out,none" and DEFCONF_NAT[0]["out-interface-list"] == "WAN"
