"""HA intent, builder and scripts (plan/ha.py, the backup peer in plan/ipsec.py, ACCEPTS in the
reconciler): pure functions, no router."""
import copy
import ipaddress
import re

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import reconcile
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus, rsc
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ha, host_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan

PSK = "Kq7vLw2pZr9sTx4bNm8cYd3f"
HOSTVARS = {
    "hub1": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"]},
    "hub2": {"ipsec_wan_address": "198.51.100.2", "ipsec_lan_prefixes": ["10.10.0.0/24"]},
    "spoke": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24", "10.12.0.0/25"]},
    "r1": {"ipsec_wan_address": "198.51.100.21", "ipsec_lan_prefixes": ["10.20.0.0/24"],
           "ipsec_vrrp": {"group": "site", "interface": "ether2", "vrid": 7, "priority": 200}},
    "r2": {"ipsec_wan_address": "198.51.100.22", "ipsec_lan_prefixes": ["10.20.0.0/24"],
           "ipsec_vrrp": {"group": "site", "interface": "ether2", "vrid": 7, "priority": 100}},
}


def dual(**changes):
    t = {"name": "dual", "a": {"host": "hub1", "passive": True}, "b": "spoke", "auth": {"psk": PSK},
         "backup": {"end": "a", "host": "hub2"}, "failover": {"interval": "5s"}}
    t.update(changes)
    return t


def pair(**changes):
    t = {"name": "site", "a": "hub1", "b": "r1", "auth": {"psk": PSK}, "backup": {"end": "b", "host": "r2"}}
    t.update(changes)
    return t


def plan(host, tunnels, hostvars=None, **kw):
    return host_plan.plan_from_intent(host, tunnels, HOSTVARS if hostvars is None else hostvars, **kw)


def refused(tunnels, hostvars=None, host="spoke"):
    with pytest.raises(intent.IntentError) as info:
        host_plan.intent_tunnels(host, tunnels, HOSTVARS if hostvars is None else hostvars)
    return str(info.value)


def hv(host, **values):
    out = copy.deepcopy(HOSTVARS)
    out[host].update(values)
    return out


# --- intent ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tunnel, host, hostvars, words", [
    (dual(backup={"end": "a"}), "spoke", HOSTVARS, ["field 'backup'", "exactly one of host"]),
    (dual(backup={"end": "a", "host": "hub2", "address": "192.0.2.9"}), "spoke", HOSTVARS, ["exactly one"]),
    (dual(backup={"end": "c", "host": "hub2"}), "spoke", HOSTVARS, ["field 'backup.end'", "a or b"]),
    (dual(backup={"end": "a", "host": "nowhere"}), "spoke", HOSTVARS, ["field 'backup.host'", "unknown inventory"]),
    (dual(backup={"end": "a", "host": "spoke"}), "spoke", HOSTVARS, ["field 'backup.host'", "already an end"]),
    (dual(backup={"end": "a", "hots": "hub2"}), "spoke", HOSTVARS, ["backup.hots", "did you mean 'backup.host'"]),
    (dual(backup={"end": "a", "address": "198.51.100.11"}), "spoke", HOSTVARS, ["already an end's address"]),
    (dual(backup={"end": "a", "address": "2001:db8::1"}), "spoke", HOSTVARS, ["IPv6", "IPv4"]),
    (dual(backup={"end": "b", "host": "hub2"}), "spoke", HOSTVARS, ["field 'a.passive'", "cannot be passive"]),
    (dual(backup=None), "spoke", HOSTVARS, ["field 'failover'", "needs a backup"]),
    (dual(failover={"interval": "5s", "timeout": "5s"}), "spoke", HOSTVARS, ["failover.timeout", "less than"]),
    (dual(failover={"interval": "2h"}), "spoke", HOSTVARS, ["failover.interval", "1s..1h"]),
    (dual(failover={"detect": "magic"}), "spoke", HOSTVARS, ["failover.detect", "netwatch"]),
    (dual(failover={"detect": "dpd", "health_address": "10.10.0.1"}), "spoke", HOSTVARS,
     ["failover.health_address", "is for detect: netwatch"]),
    (dual(failover={"detect": "dpd"}, dpd_interval="disabled"), "spoke", HOSTVARS,
     ["failover.detect", "dpd_interval is disabled"]),
    (dual(failover={"preempt": "maybe"}), "spoke", HOSTVARS, ["failover.preempt", "boolean"]),
    (dual(failover={"health_address": "not-an-ip"}), "spoke", HOSTVARS, ["failover.health_address"]),
    (dual(), "spoke", hv("hub2", ipsec_wan_address=None), ["backup.host", "no ipsec_wan_address"]),
    # VRRP pairs
    (pair(backup=None), "hub1", HOSTVARS, ["field 'b'", "VRRP group site", "need a backup"]),
    (pair(), "hub1", hv("r2", ipsec_vrrp=None), ["backup.host", "has no ipsec_vrrp"]),
    (pair(), "hub1", hv("r2", ipsec_vrrp={"group": "other", "interface": "ether2", "vrid": 7, "priority": 100}),
     ["not one VRRP pair"]),
    (pair(), "hub1", hv("r2", ipsec_vrrp={"group": "site", "interface": "ether2", "vrid": 8, "priority": 100}),
     ["vrid 7 on r1 but 8 on r2"]),
    (pair(), "hub1", hv("r2", ipsec_vrrp={"group": "site", "interface": "ether2", "vrid": 7, "priority": 200}),
     ["both routers have priority 200"]),
    (pair(), "hub1", hv("r2", ipsec_vrrp={"group": "site", "interface": "ether2", "vrid": 7, "priority": 250}),
     ["the backup r2 has a higher priority"]),
    (pair(), "hub1", hv("r1", ipsec_vrrp={"group": "site", "interface": "ether2", "vrid": 7}),
     ["ipsec_vrrp (host var of r1).priority", "is required"]),
    (pair(), "hub1", hv("r1", ipsec_vrrp={"group": "site", "interface": "ether2", "vrid": 300, "priority": 200}),
     ["vrid", "out of range 1..255"]),
    (pair(), "hub1", hv("r1", ipsec_vrrp={"group": "Site!", "interface": "ether2", "priority": 200}),
     ["group", "may only contain"]),
    (pair(), "hub1", hv("r1", ipsec_vrrp={"group": "site", "interface": "ether2", "priority": 200, "vird": 7}),
     ["did you mean"]),
])
def test_bad_ha_input_is_refused_naming_tunnel_and_field(tunnel, host, hostvars, words):
    message = refused([tunnel], hostvars, host)
    assert message.startswith("tunnel '%s'" % tunnel["name"]), message
    for word in words:
        assert word in message, (word, message)


def test_failover_defaults():
    t = host_plan.intent_tunnels("spoke", [dual(failover=None)], HOSTVARS)[0]
    assert (t.failover.detect, str(t.failover.health_address), t.failover.interval, t.failover.timeout,
            t.failover.preempt) == ("netwatch", "198.51.100.1", 10, 1, True)
    assert t.hosts == ["hub1", "spoke", "hub2"]
    assert t.watcher().host == "spoke" and t.primary().host == "hub1"
    assert t.side("hub2")[0].prefixes == t.a.prefixes and str(t.side("hub2")[0].address) == "198.51.100.2"


def test_two_hubs_sharing_a_lan_are_refused_without_a_backup_and_accepted_with_one():
    both = [{"name": "to-hub1", "a": "hub1", "b": "spoke", "auth": {"psk": PSK}},
            {"name": "to-hub2", "a": "hub2", "b": "spoke", "auth": {"psk": PSK}}]
    message = refused(both)
    assert "duplicate selector" in message and "backup" in message and "docs/ha.md" in message
    assert len(host_plan.intent_tunnels("spoke", [dual()], HOSTVARS)) == 1


def test_dual_hub_from_a_topology_with_a_backup_hub():
    groups = {"spokes": ["spoke"]}
    topology = {"name": "dh", "type": "hub_and_spoke", "hub": "hub1", "spokes": "spokes", "auth": {"psk": PSK},
                "hub_endpoint": {"passive": True}, "backup": {"end": "a", "host": "hub2"}}
    for host in ("spoke", "hub1", "hub2"):
        tunnels = host_plan.intent_tunnels(host, [], HOSTVARS, [topology], groups)
        assert [t.name for t in tunnels] == ["dh-hub1-spoke"], host
    validated, plans = ipsec_plan.validate_fleet([], HOSTVARS, [topology], groups)
    assert sorted(plans) == ["hub1", "hub2", "spoke"]


# --- the IPsec items of a backup ------------------------------------------------------------------
def test_the_watcher_has_a_peer_to_each_and_policies_accepting_either():
    p = plan("spoke", [dual()], features=("ipsec",))
    peers = dict((x["name"], x) for x in p.sections["peers"])
    assert peers["ipsecfleet-dual"]["address"] == "198.51.100.1/32"
    assert peers["ipsecfleet-dual-backup"]["address"] == "198.51.100.2/32"
    assert peers["ipsecfleet-dual-backup"]["comment"].startswith("ipsecfleet:peer/dual/backup ")
    assert sorted(i["peer"] for i in p.sections["identities"]) == sorted(peers)
    assert all(i["secret"] == PSK for i in p.sections["identities"])
    assert len(p.sections["policies"]) == 2
    for policy in p.sections["policies"]:
        assert policy["peer"] == "ipsecfleet-dual"
        assert policy[menus.ACCEPTS] == {"peer": ["ipsecfleet-dual-backup"]}


def test_the_backup_hub_is_an_ordinary_end_of_the_same_tunnel():
    hub1 = plan("hub1", [dual()], features=("ipsec",)).sections
    hub2 = plan("hub2", [dual()], features=("ipsec",)).sections

    def strip(items):
        return [dict((k, v) for k, v in i.items() if k != "comment") for i in items]
    assert strip(hub1["policies"]) == strip(hub2["policies"])
    assert [p["address"] for p in hub2["peers"]] == ["198.51.100.11/32"]
    assert "(backup of hub1)" in hub2["peers"][0]["comment"]
    assert not any(menus.ACCEPTS in x for x in hub2["policies"] + hub2["peers"])


def test_the_watchers_firewall_admits_both_peers():
    lists = plan("spoke", [dual()], features=("firewall",)).sections["address_lists"]
    assert sorted(x["address"] for x in lists) == ["198.51.100.1", "198.51.100.2"]


# --- the HA items -----------------------------------------------------------------------------
def test_netwatch_probes_the_primary_and_runs_the_switch_scripts():
    p = plan("spoke", [dual()], features=("ha",)).sections
    assert [s["name"] for s in p["scripts"]] == ["ipsecfleet-ha-dual-backup", "ipsecfleet-ha-dual-primary"]
    assert all(s["policy"] == "read,write,test" for s in p["scripts"])
    (probe,) = p["netwatch"]
    assert probe == {"host": "198.51.100.1", "type": "simple", "interval": "5s", "timeout": "1s",
                     "down_script": "/system script run ipsecfleet-ha-dual-backup",
                     "up_script": "/system script run ipsecfleet-ha-dual-primary",
                     "comment": "ipsecfleet:ha/dual/primary tunnel dual: health of the primary"}
    assert p["vrrp"] == [] and p["schedulers"] == []
    for host in ("hub1", "hub2"):
        assert all(items == [] for items in plan(host, [dual()], features=("ha",)).sections.values()), host


def test_the_switch_script_moves_the_policies_drops_the_old_sas_and_connections():
    source = plan("spoke", [dual()], features=("ha",)).sections["scripts"][0]["source"]
    lines = source.splitlines()
    assert lines[1] == (':if ([:len [/ip ipsec policy find where comment~"^ipsecfleet:policy/dual/" and '
                        'peer=ipsecfleet-dual]] > 0) do={')
    assert '  /ip ipsec policy set [find where comment~"^ipsecfleet:policy/dual/"] peer=ipsecfleet-dual-backup' in lines
    assert "  /ip ipsec active-peers remove [find where remote-address=198.51.100.1]" in lines
    assert "  /ip ipsec installed-sa flush" in lines
    removes = [line for line in lines if "firewall connection remove" in line]
    assert len(removes) == 4      # two selectors, both directions
    assert ('  /ip firewall connection remove [find where src-address~"^10\\\\.11\\\\.0\\\\." and '
            'dst-address~"^10\\\\.10\\\\.0\\\\."]') in removes
    back = plan("spoke", [dual()], features=("ha",)).sections["scripts"][1]["source"]
    assert "peer=ipsecfleet-dual-backup]] > 0" in back and "remote-address=198.51.100.2]" in back


def test_without_preempt_the_backup_is_probed_and_fails_back_only_when_the_primary_is_up():
    probes = plan("spoke", [dual(failover={"preempt": False})], features=("ha",)).sections["netwatch"]
    assert [n["host"] for n in probes] == ["198.51.100.1", "198.51.100.2"]
    assert probes[0]["up_script"] == ""
    assert probes[1]["down_script"] == (
        ':if ([/tool netwatch get [find where comment~"^ipsecfleet:ha/dual/primary( |\\$)"] status] = "up") '
        'do={ /system script run ipsecfleet-ha-dual-primary }')


def test_a_backup_address_of_the_same_router():
    t = dual(backup={"end": "a", "address": "203.0.113.7"}, failover={"health_address": "10.10.0.1"})
    p = plan("spoke", [t], features=("ipsec", "ha")).sections
    assert [x["address"] for x in p["peers"]] == ["198.51.100.1/32", "203.0.113.7/32"]
    assert p["netwatch"][0]["host"] == "10.10.0.1"
    assert "backup to 203.0.113.7" in p["peers"][1]["comment"]
    assert len(plan("hub1", [t], features=("ipsec",)).sections["peers"]) == 1


@pytest.mark.parametrize("network, inside, outside", [
    ("10.10.0.0/24", ["10.10.0.5:443", "10.10.0.255"], ["10.10.1.5:443", "110.10.0.5", "10.100.0.1"]),
    ("10.12.0.0/25", ["10.12.0.0:1", "10.12.0.127", "10.12.0.99:53"], ["10.12.0.128:80", "10.12.0.200"]),
    ("10.0.0.0/8", ["10.200.1.1:22"], ["11.0.0.1"]),
    ("172.16.0.0/12", ["172.16.0.1", "172.31.255.255:9"], ["172.32.0.1", "172.15.0.1"]),
    ("192.0.2.7/32", ["192.0.2.7:5060", "192.0.2.7"], ["192.0.2.70", "192.0.2.71:1"]),
    ("0.0.0.0/0", ["8.8.8.8:53"], []),
])
def test_the_connection_regex_matches_exactly_the_prefix(network, inside, outside):
    pattern = re.compile(ha.address_regex(ipaddress.ip_network(network)))
    for address in inside:
        assert pattern.search(address), (network, address)
    for address in outside:
        assert not pattern.search(address), (network, address)


def test_vrrp_pair_members_get_vrrp_sync_script_scheduler_and_lan_only_firewall():
    for host, priority, start in (("r1", "200", "false"), ("r2", "100", "true")):
        p = plan(host, [pair()]).sections
        (vrrp,) = p["vrrp"]
        assert (vrrp["name"], vrrp["interface"], vrrp["vrid"], vrrp["priority"]) == (
            "ipsecfleet-vrrp7", "ether2", "7", priority)
        assert vrrp["on_master"] == vrrp["on_backup"] == "/system script run ipsecfleet-ha-vrrp-sync"
        (script,) = p["scripts"]
        assert script["name"] == "ipsecfleet-ha-vrrp-sync"
        assert ':if ([/interface vrrp get [find where name=ipsecfleet-vrrp7] master]) do={' in script["source"]
        assert '/ip ipsec peer enable [find where comment~"^ipsecfleet:peer/(site)( |\\$)" and disabled]' \
            in script["source"]
        (scheduler,) = p["schedulers"]
        assert (scheduler["on_event"], scheduler["interval"]) == ("ipsecfleet-ha-vrrp-sync", "10s")
        for item in p["peers"] + p["policies"]:
            assert item["disabled"] == start and item[menus.ACCEPTS] == {"disabled": ["true", "false"]}, host
        vrrp_rules = [r for r in p["filter"] if r.get("protocol") == "vrrp"]
        assert [(r["action"], r.get("in_interface")) for r in vrrp_rules] == [("accept", "ether2"), ("drop", None)]
    hub = plan("hub1", [pair()]).sections
    assert not [r for r in hub["filter"] if r.get("protocol") == "vrrp"] and hub["vrrp"] == []
    assert [n["host"] for n in hub["netwatch"]] == ["198.51.100.21"]


# --- the engine accepts what the scripts switch ----------------------------------------------------
POLICIES = menus.MENUS["/ip/ipsec/policy"]


def _row(peer, **extra):
    row = {".id": "*1", "peer": peer, "tunnel": "true", "src-address": "10.11.0.0/24", "dst-address": "10.10.0.0/24",
           "comment": "ipsecfleet:policy/dual/abc"}
    row.update(extra)
    return row


def _item(**extra):
    item = {"peer": "ipsecfleet-dual", "tunnel": "true", "src_address": "10.11.0.0/24", "dst_address": "10.10.0.0/24",
            "comment": "ipsecfleet:policy/dual/abc", menus.ACCEPTS: {"peer": ["ipsecfleet-dual-backup"]}}
    item.update(extra)
    return item


@pytest.mark.parametrize("state", ["merged", "replaced", "overridden"])
def test_an_accepted_value_is_left_alone_and_anything_else_set_back(state):
    assert reconcile.plan_changes(POLICIES, [_row("ipsecfleet-dual-backup")], [_item()], state).operations == []
    assert reconcile.plan_changes(POLICIES, [_row("ipsecfleet-dual")], [_item()], state).operations == []
    (op,) = reconcile.plan_changes(POLICIES, [_row("by-hand")], [_item()], state).operations
    assert (op.action, op.args) == ("set", {"peer": "ipsecfleet-dual"})
    (add,) = reconcile.plan_changes(POLICIES, [], [_item()], state).operations
    assert add.action == "add" and add.args["peer"] == "ipsecfleet-dual" and menus.ACCEPTS not in add.args


def test_accepts_must_name_an_argument_and_are_never_rendered():
    with pytest.raises(reconcile.ReconcileError, match="not an argument"):
        reconcile.plan_changes(POLICIES, [], [_item(**{menus.ACCEPTS: {"colour": ["red"]}})], "merged")
    text = reconcile.render_commands({"policies": [_item()]})
    assert "_accepts" not in text and "peer=ipsecfleet-dual " in text
    assert "accepts" not in rsc.render({"policies": [_item()]})


def test_fleet_consistency_covers_the_backup_router():
    validated, plans = ipsec_plan.validate_fleet([dual()], HOSTVARS)
    ipsec_plan.check_consistency(validated, plans)
    broken = copy.deepcopy(plans)
    broken["hub2"]["peers"][0]["address"] = "198.51.100.99/32"
    with pytest.raises(intent.IntentError, match="backup hub2 and spoke do not point at each other"):
        ipsec_plan.check_consistency(validated, broken)
    broken = copy.deepcopy(plans)
    broken["hub2"]["policies"][0]["dst_address"] = "10.99.0.0/24"
    with pytest.raises(intent.IntentError, match="not mirrored"):
        ipsec_plan.check_consistency(validated, broken)


def test_ha_menus_leave_the_firewall_commit_confirm_items_alone():
    """/system/script and /system/scheduler also hold the firewall's armed revert (ipsecfleet:fw-revert):
    the HA sections manage ha/ keys only, so overridden never removes an armed revert."""
    scripts = menus.MENUS["/system/script"]
    revert = {".id": "*9", "name": "ipsecfleet-fw-revert", "source": "", "comment": "ipsecfleet:fw-revert commit-confirm"}
    stale = {".id": "*8", "name": "ipsecfleet-ha-old-backup", "source": "", "comment": "ipsecfleet:ha/old/to-backup x"}
    result = reconcile.plan_changes(scripts, [revert, stale], [], "overridden")
    assert [op.target for op in result.removals] == ["*8"]
    with pytest.raises(reconcile.ReconcileError, match="must start with 'ha/'"):
        reconcile.plan_changes(scripts, [], [{"name": "x", "comment": "ipsecfleet:fw-x"}], "merged")
    # a desired name taken by the revert is a collision found before any write
    with pytest.raises(reconcile.ReconcileError, match="not managed"):
        reconcile.plan_changes(scripts, [revert], [{"name": "ipsecfleet-fw-revert", "comment": "ipsecfleet:ha/y"}],
                               "merged")


@pytest.mark.parametrize("preempt, fail_back", [
    (True, ":if ($onprimary = 0 && $primary > 0) do={ /system script run ipsecfleet-ha-dual-primary }"),
    (False, ":if ($onprimary = 0 && $primary > 0 && $backup = 0) do={ /system script run ipsecfleet-ha-dual-primary }"),
])
def test_detect_dpd_is_a_scheduler_following_the_primary_ike_sa(preempt, fail_back):
    p = plan("spoke", [dual(failover={"detect": "dpd", "interval": "5s", "preempt": preempt})],
             features=("ha",)).sections
    assert p["netwatch"] == []
    assert [s["name"] for s in p["scripts"]] == ["ipsecfleet-ha-dual-backup", "ipsecfleet-ha-dual-primary",
                                                 "ipsecfleet-ha-dual-check"]
    (scheduler,) = p["schedulers"]
    assert (scheduler["name"], scheduler["on_event"], scheduler["interval"]) == (
        "ipsecfleet-ha-dual-check", "ipsecfleet-ha-dual-check", "5s")
    lines = p["scripts"][2]["source"].splitlines()
    assert lines[1] == (":local primary [:len [/ip ipsec active-peers find where remote-address=198.51.100.1 "
                        "and state=established]]")
    assert lines[4] == ":if ($onprimary > 0 && $primary = 0) do={ /system script run ipsecfleet-ha-dual-backup }"
    assert lines[5] == fail_back
