"""Static lock-out analysis of input chains, and the commit-confirm revert script."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import placement as fpl
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import firewall as fp
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import lockout
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import rsc
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession

from test_firewall_layouts import ADDRESS_LIST, DEFCONF_FILTER, EXTRA_LISTS, FILTER, layout

TUNNELS = [{"peer_address": "203.0.113.2", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.20.0.0/24"]}]
LAN_ADMIN = {"address": "10.10.0.0/24", "interface_lists": ["LAN"]}
WAN_ADMIN = {"address": "192.0.2.10", "interface_lists": ["WAN"]}


def verdicts(rows, source, port=8728, state="new", lists=()):
    packet = lockout.Packet(lockout.parse_sources([source])[0], port, state)
    return set(v for v, _label in lockout.outcomes(rows, "input", packet, lockout.AddressLists(lists)))


def after(rows_by_path, plan, state="merged"):
    operations = fpl.plan_all(rows_by_path, plan.sections, plan.blocks, state)
    return fpl.final_rows(rows_by_path, operations)


# ----- evaluation -------------------------------------------------------------------------------

def test_empty_chain_accepts_implicitly():
    assert verdicts([], "192.0.2.1") == {"accept"}


def test_defconf_accepts_lan_drops_wan_and_is_unsure_without_interface():
    assert verdicts(DEFCONF_FILTER, LAN_ADMIN) == {"accept"}
    assert verdicts(DEFCONF_FILTER, WAN_ADMIN) == {"drop"}
    # unknown arrival interface: "drop all not coming from LAN" may or may not match
    assert verdicts(DEFCONF_FILTER, "192.0.2.10") == {"accept", "drop"}
    # the established session is accepted by the first defconf rule whatever the interface
    assert verdicts(DEFCONF_FILTER, "192.0.2.10", state="established") == {"accept"}


@pytest.mark.parametrize("rule, expected", [
    ({"chain": "input", "action": "drop", "protocol": "udp"}, {"accept"}),
    ({"chain": "input", "action": "drop", "protocol": "tcp", "dst-port": "22"}, {"accept"}),
    ({"chain": "input", "action": "drop", "protocol": "tcp", "dst-port": "8000-9000"}, {"drop"}),
    ({"chain": "input", "action": "drop", "protocol": "tcp", "dst-port": "!8728"}, {"accept"}),
    ({"chain": "input", "action": "drop", "src-address": "192.0.2.0/24"}, {"drop"}),
    ({"chain": "input", "action": "drop", "src-address": "!192.0.2.0/24"}, {"accept"}),
    ({"chain": "input", "action": "drop", "src-address": "192.0.2.5"}, {"accept", "drop"}),  # part of the /24
    ({"chain": "input", "action": "drop", "src-address": "192.0.2.0-192.0.2.255"}, {"drop"}),
    ({"chain": "input", "action": "drop", "disabled": "true"}, {"accept"}),
    ({"chain": "input", "action": "drop", "invalid": "true"}, {"accept"}),
    ({"chain": "forward", "action": "drop"}, {"accept"}),
    ({"chain": "input", "action": "reject", "connection-state": "new"}, {"drop"}),
    ({"chain": "input", "action": "tarpit", "connection-state": "established,related"}, {"accept"}),
    ({"chain": "input", "action": "drop", "limit": "10,5:packet"}, {"accept", "drop"}),
    ({"chain": "input", "action": "drop", "port": "8728"}, {"drop"}),
    ({"chain": "input", "action": "drop", "port": "22"}, {"accept", "drop"}),  # the source port is unknown
    ({"chain": "input", "action": "drop", "ipsec-policy": "in,ipsec"}, {"accept"}),
    ({"chain": "input", "action": "drop", "ipsec-policy": "in,none"}, {"drop"}),
    ({"chain": "input", "action": "drop", "connection-nat-state": "dstnat"}, {"accept"}),
    ({"chain": "input", "action": "drop", "in-interface": "ether1"}, {"accept", "drop"}),
    ({"chain": "input", "action": "log"}, {"accept"}),
    ({"chain": "input", "action": "drop", "src-address-list": "mgmt"}, {"drop"}),
    ({"chain": "input", "action": "drop", "src-address-list": "!mgmt"}, {"accept"}),
    ({"chain": "input", "action": "drop", "src-address-list": "other"}, {"accept"}),
])
def test_single_matchers(rule, expected):
    lists = [{".id": "*1", "list": "mgmt", "address": "192.0.2.0/24"}]
    assert verdicts([dict(rule, **{".id": "*1"})], {"address": "192.0.2.0/24"}, lists=lists) == expected


def test_address_lists_with_dns_or_dynamic_entries_are_unknown():
    rule = {".id": "*1", "chain": "input", "action": "drop", "src-address-list": "x"}
    assert verdicts([rule], "192.0.2.1", lists=[{"list": "x", "address": "host.example"}]) == {"accept", "drop"}
    assert verdicts([rule], "192.0.2.1", lists=[{"list": "x", "address": "198.51.100.1", "dynamic": "true"}]) \
        == {"accept", "drop"}
    assert verdicts([rule], "192.0.2.1", lists=[{"list": "x", "address": "192.0.2.1", "disabled": "true"}]) == {"accept"}


def test_jump_return_and_user_chains():
    rows = [
        {".id": "*1", "chain": "input", "action": "jump", "jump-target": "mgmt"},
        {".id": "*2", "chain": "input", "action": "drop"},
        {".id": "*3", "chain": "mgmt", "action": "return", "src-address": "10.0.0.0/8"},
        {".id": "*4", "chain": "mgmt", "action": "accept", "protocol": "tcp", "dst-port": "8728"},
    ]
    assert verdicts(rows, "192.0.2.1") == {"accept"}
    assert verdicts(rows, "192.0.2.1", port=22) == {"drop"}            # falls off mgmt, back to the drop
    assert verdicts(rows, "10.1.1.1") == {"drop"}                      # returned early
    loop = [{".id": "*1", "chain": "input", "action": "jump", "jump-target": "input"}]
    assert verdicts(loop, "192.0.2.1") == {"accept", "drop"}           # a loop is not decided


# ----- before/after check ----------------------------------------------------------------------

def test_derived_rules_never_lock_out_on_defconf():
    rows = layout("defconf")
    final = after(rows, fp.derive(TUNNELS))
    report = lockout.check(rows[FILTER], final[FILTER], [], final[ADDRESS_LIST],
                           lockout.parse_sources([LAN_ADMIN, "192.0.2.10", WAN_ADMIN]))
    assert not report["refused"], report
    assert report["checked"] == 3 * 4 * 2
    # the WAN admin is already dropped by defconf: warned, not refused (this plan does not cause it)
    assert any("192.0.2.10/32 -> tcp/8728 (new)" in w for w in report["warnings"])


def test_override_with_input_drop_all_is_refused_and_names_the_rule():
    rows = layout("defconf-extra")
    plan = fp.build_plan(TUNNELS, overrides={"filter": [{"key": "in-drop-rest", "chain": "input", "action": "drop"}]})
    final = after(rows, plan)
    sources = lockout.parse_sources([{"address": "10.10.0.0/24", "interface_lists": ["LAN"]}])
    report = lockout.check(rows[FILTER], final[FILTER], rows[ADDRESS_LIST], final[ADDRESS_LIST], sources)
    assert report["refused"]
    assert "10.10.0.0/24 -> tcp/22 (new) would be dropped by managed rule fw-in-drop-rest" in report["problems"]
    # the management list source is accepted by the foreign rule *20 above our block: not refused
    mgmt = lockout.parse_sources(["192.0.2.0/24"])
    report = lockout.check(rows[FILTER], final[FILTER], EXTRA_LISTS, final[ADDRESS_LIST], mgmt)
    assert not report["refused"], report["problems"]


def test_removing_a_managed_accept_that_shielded_management_is_refused():
    rows = layout("defconf")
    plan = fp.build_plan(TUNNELS, overrides={"filter": [
        {"key": "in-mgmt", "chain": "input", "action": "accept", "src_address": "192.0.2.0/24", "protocol": "tcp"}]})
    current = after(rows, plan)
    source = lockout.parse_sources([{"address": "192.0.2.10", "interface_lists": ["WAN"]}])
    # running without the accept now (overridden removes it): defconf's WAN drop takes over
    final = after(current, fp.derive(TUNNELS), "overridden")
    report = lockout.check(current[FILTER], final[FILTER], current[ADDRESS_LIST], final[ADDRESS_LIST], source)
    assert report["refused"]
    assert any("rule *5 (defconf: drop all not coming from LAN)" in p for p in report["problems"])
    # keeping it is fine
    same = after(current, plan, "overridden")
    assert not lockout.check(current[FILTER], same[FILTER], [], [], source)["refused"]


def test_new_uncertainty_is_refused():
    before = [{".id": "*1", "chain": "input", "action": "accept"}]
    final = [{".id": "*2", "chain": "input", "action": "drop", "limit": "5,5:packet",
              "comment": "ipsecfleet:fw-in-flood"}] + before
    report = lockout.check(before, final, [], [], lockout.parse_sources(["192.0.2.1"]), ports=(22,))
    assert report["refused"] and report["problems"] == [
        "192.0.2.1/32 -> tcp/22 (new) would be dropped by managed rule fw-in-flood",
        "192.0.2.1/32 -> tcp/22 (established) would be dropped by managed rule fw-in-flood"]


def test_bad_source_is_an_error():
    with pytest.raises(lockout.LockoutError):
        lockout.parse_sources(["not-an-address"])
    with pytest.raises(lockout.LockoutError):
        lockout.parse_sources([{"in_interface": "ether1"}])


# ----- revert script ---------------------------------------------------------------------------

def test_revert_script_restores_owned_rules_in_place():
    rows = layout("defconf-extra")
    current = after(rows, fp.derive(TUNNELS))
    # give the simulated new rows ids, as the router would have
    for path, menu_rows in current.items():
        for n, row in enumerate(menu_rows):
            if not isinstance(row[".id"], str):
                row[".id"] = "*%X" % (0x100 + n)
    text = lockout.revert_script(current)
    lines = text.splitlines()
    assert lines[1] == "/ip firewall address-list"
    assert lines[2] == 'remove [find where comment~"^ipsecfleet:fw-"]'
    assert "/ip firewall filter" in lines and "/ip firewall nat" in lines
    add_ike = next(line for line in lines if "ipsecfleet:fw-in-ike-new" in line)
    # before the first foreign input rule that followed the block: *21 (the jump to blacklist)
    assert add_ike.startswith("add action=accept chain=input ")
    assert add_ike.endswith("place-before=*21")
    assert 'comment="ipsecfleet:fw-in-ike-new new IKE/NAT-T from the peers, rate limited"' in add_ike
    assert "limit=10,5:packet" in add_ike
    assert not any("*FFFFFFFF" in line for line in lines)  # never targets the dynamic rule
    assert not any("defconf" in line for line in lines)     # foreign rules are not in the script
    assert lines[-4:] == ['/system scheduler', 'remove [find where name="ipsecfleet-fw-revert"]',
                          '/system script', 'remove [find where name="ipsecfleet-fw-revert"]']
    assert next(line for line in lines if "fw-mss-out" in line).endswith("place-before=*41")
    # with no foreign rule after it (defconf has no mangle rules): a plain add (end of table)
    plain = lockout.revert_script(after(layout("defconf"), fp.derive(TUNNELS))).splitlines()
    assert any(line.startswith("add ") and "fw-mss-in" in line and "place-before" not in line for line in plain)


def test_revert_script_of_a_router_without_managed_rules_only_removes():
    text = lockout.revert_script(layout("defconf"))
    assert not any(line.startswith("add ") for line in text.splitlines())
    assert text.count("remove [find where comment~") == 5


@pytest.mark.parametrize("value, quoted", [
    ("accept", "accept"), ("10.0.0.0/24", "10.0.0.0/24"), ("!0-1360", '"!0-1360"'),
    ("a b", '"a b"'), ('say "hi" $x', '"say \\"hi\\" \\$x"'), ("", '""'), ("in,ipsec", "in,ipsec"),
])
def test_rsc_quote(value, quoted):
    assert rsc.quote(value) == quoted


def test_confirm_timeout_parsing():
    assert lockout.timeout_seconds("2m") == 120
    assert lockout.format_duration(150) == "2m30s"
    assert lockout.format_duration(3600) == "1h"
    with pytest.raises(lockout.LockoutError):
        lockout.timeout_seconds("3s")


@pytest.mark.parametrize("api_timeout, shortest", [(None, 10), (1, 10), (10, 40), (30, 120)])
def test_confirm_timeout_must_leave_the_confirm_time_to_arrive(api_timeout, shortest):
    # the confirm: a new connection, its login, the scheduler's print and removal, each up to the API timeout
    assert lockout.minimum_confirm_timeout(api_timeout) == shortest
    assert lockout.timeout_seconds("%ds" % shortest, api_timeout) == shortest
    if shortest > 10:
        with pytest.raises(lockout.LockoutError, match="at least %s" % lockout.format_duration(shortest)):
            lockout.timeout_seconds("%ds" % (shortest - 1), api_timeout)


class FakeMenu(object):
    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        return iter(list(self.rows))

    def add(self, **words):
        self.rows.append(dict(words, **{".id": "*%d" % (len(self.rows) + 1)}))
        return self.rows[-1][".id"]

    def remove(self, *ids):
        self.rows[:] = [row for row in self.rows if row[".id"] not in ids]


class FakeApi(object):
    def __init__(self):
        self.menus = {}

    def path(self, *parts):
        return FakeMenu(self.menus.setdefault("/" + "/".join(parts), []))


def test_arm_and_disarm():
    api = FakeApi()
    session = ApiSession(api)
    lockout.arm(session, "/system script remove x\n", 120)
    scheduler = api.menus["/system/scheduler"][0]
    assert scheduler["interval"] == "2m" and scheduler["on-event"] == "ipsecfleet-fw-revert"
    assert api.menus["/system/script"][0]["source"] == "/system script remove x\n"
    with pytest.raises(lockout.LockoutError, match="already armed"):
        lockout.arm(ApiSession(api), "x", 120)
    api.menus["/system/script"].append({".id": "*9", "name": "foreign"})
    lockout.disarm(ApiSession(api))
    assert api.menus["/system/scheduler"] == [] and api.menus["/system/script"] == [{".id": "*9", "name": "foreign"}]
