"""ipsec_firewall's runner against a roslab router that starts from the RouterOS v7 defconf firewall
plus hand-made rules: placement, idempotence, lock-out refusal, commit-confirm arm/disarm, and the
revert script run by the lab's RouterOS script interpreter."""
import copy

import librouteros
import pytest
from roslab import control, script

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import placement as fpl
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import firewall_engine as firewall_runner
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import lockout
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus

from test_firewall_layouts import ADDRESS_LIST, EXTRA_FILTER, EXTRA_LISTS, EXTRA_MANGLE, EXTRA_NAT, EXTRA_RAW, FILTER


TOPOLOGY = {"routers": {"hub": {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                                              {"address": "10.10.0.1/24", "interface": "ether2"}]}}}
TUNNELS = [
    {"peer_address": "198.51.100.11", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.11.0.0/24"]},
    {"peer_address": "198.51.100.12", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.12.0.0/24"],
     "enc_algorithms": ["aes-256-gcm"], "auth_algorithms": []},
]
FOREIGN = {FILTER: EXTRA_FILTER, "/ip/firewall/nat": EXTRA_NAT, "/ip/firewall/raw": EXTRA_RAW,
           "/ip/firewall/mangle": EXTRA_MANGLE, ADDRESS_LIST: EXTRA_LISTS}


# The lab admits API connections through the router's input chain, taking the client's address from
# the topology: the NOC host on the hub's LAN (ether2, interface list LAN).
MANAGEMENT_ADDRESS = "10.10.0.50"


def topology():
    topo = copy.deepcopy(TOPOLOGY)
    topo["management_address"] = MANAGEMENT_ADDRESS
    return topo


@pytest.fixture()
def lab(tmp_path):
    lab = control.Lab.from_topology(topology(), base_port=0, state_dir=str(tmp_path), save_delay=0.05)
    lab.start()
    api = connect(lab)
    try:
        # the interface lists the v7 defconf rules name
        for name, interface in (("LAN", "ether2"), ("WAN", "ether1")):
            api.path("interface", "list").add(name=name)
            api.path("interface", "list", "member").add(list=name, interface=interface)
        for path, rows in FOREIGN.items():
            menu = api.path(*path.strip("/").split("/"))
            for row in rows:
                if row.get("dynamic") == "true":
                    continue
                # hw-offload exists only on hardware with switch-chip offload, not on CHR (7.22.2 inspect)
                menu.add(**dict((k, v) for k, v in row.items() if k not in (".id", "hw-offload")))
    finally:
        api.close()
    yield lab
    lab.stop()


def connect(lab):
    return librouteros.connect(host="127.0.0.1", port=lab.ports["hub"]["api"], username="admin", password="",
                               timeout=5)


def params(**extra):
    base = {"tunnels": copy.deepcopy(TUNNELS), "options": {}, "overrides": {}, "state": "merged",
            "management_sources": [{"address": "10.10.0.0/24", "interface_lists": ["LAN"]}, "192.0.2.0/24"],
            "management_ports": [8728, 8729, 22, 8291], "lockout_check": True, "confirm": True,
            "confirm_timeout": "2m"}
    base.update(extra)
    return base


def rows(lab, path):
    return lab.router("hub").items(path)


RUNTIME = ("bytes", "packets")  # counters the lab's fabric moves; not configuration


def firewall(lab):
    return dict((path, [dict((k, v) for k, v in row.items() if k not in RUNTIME) for row in rows(lab, path)])
                for path in fpl.FIREWALL_PATHS)


def strip(snapshot):
    """Configuration without what re-creating an item changes (its id and creation time)."""
    return dict((path, [dict((k, v) for k, v in row.items() if k not in (".id", "creation-time")) for row in rs])
                for path, rs in snapshot.items())


def foreign(snapshot):
    return dict((path, [r for r in rs if menus.owner_key(menus.MENUS[path], r) is None])
                for path, rs in snapshot.items())


def test_converge_idempotent_and_confirmed(lab):
    before = firewall(lab)
    result = firewall_runner.run(params(), lambda: connect(lab), diff=True)
    assert result["changed"] and result["writes"] > 0 and result["confirmed"] is True
    assert result["lockout"]["refused"] is False
    after = firewall(lab)
    assert foreign(after) == foreign(before)
    assert after[FILTER][0]["comment"] == "special dummy rule to show fasttrack counters"
    plan_blocks = firewall_runner.plan(params()).blocks
    for path in fpl.FIREWALL_PATHS:
        assert fpl.violations(after[path], plan_blocks) == []
    # disarmed: neither scheduler nor script is left
    assert not [r for r in rows(lab, "/system/scheduler") if r.get("name") == lockout.REVERT_NAME]
    assert not [r for r in rows(lab, "/system/script") if r.get("name") == lockout.REVERT_NAME]
    assert len(result["diff"]["after"]["filter"]) > len(result["diff"]["before"]["filter"]) == 0
    again = firewall_runner.run(params(), lambda: connect(lab))
    assert again["changed"] is False and again["writes"] == 0 and again["commands"] == []
    assert firewall(lab) == after


def test_check_mode_writes_nothing(lab):
    before = firewall(lab)
    result = firewall_runner.run(params(), lambda: connect(lab), check_mode=True)
    assert result["changed"] and result["commands"] and result["writes"] == 0
    assert firewall(lab) == before


def test_lockout_is_refused_before_any_write(lab):
    before = firewall(lab)
    bad = params(overrides={"filter": [{"key": "in-drop-rest", "chain": "input", "action": "drop"}]},
                 management_sources=[{"address": "10.10.0.0/24", "interface_lists": ["LAN"]}])
    with pytest.raises(firewall_runner.FirewallError, match="fw-in-drop-rest"):
        firewall_runner.run(bad, lambda: connect(lab))
    assert firewall(lab) == before
    assert not rows(lab, "/system/scheduler")


def test_failed_reconnect_leaves_the_revert_armed_and_it_restores(lab):
    firewall_runner.run(params(), lambda: connect(lab))
    confirmed = firewall(lab)
    calls = []

    def flaky_connect():
        calls.append(1)
        if len(calls) > 1:
            raise OSError("connection refused")
        return connect(lab)

    changed = params(options={"nat_bypass": "prefixes", "mss": "1300"},
                     overrides={"filter": [{"key": "in-extra", "chain": "input", "action": "accept",
                                            "protocol": "tcp", "dst_port": "8080"}]})
    with pytest.raises(firewall_runner.FirewallError, match="will restore the previous managed firewall rules at"):
        firewall_runner.run(changed, flaky_connect)
    assert firewall(lab) != confirmed
    scheduler = [r for r in rows(lab, "/system/scheduler") if r.get("name") == lockout.REVERT_NAME]
    assert scheduler and scheduler[0]["interval"] in ("2m", "2m0s", "00:02:00")
    # the scheduler fires: the lab runs the script like RouterOS would
    lab.call(script.run_script, lab.router("hub"), "/system script run %s" % lockout.REVERT_NAME)
    restored = firewall(lab)
    assert strip(restored) == strip(confirmed)
    assert not [r for r in rows(lab, "/system/scheduler") if r.get("name") == lockout.REVERT_NAME]
    assert not [r for r in rows(lab, "/system/script") if r.get("name") == lockout.REVERT_NAME]


@pytest.mark.parametrize("confirm_timeout", ["5s", "39s"])
def test_a_confirm_timeout_too_short_for_the_confirm_is_refused_before_any_write(lab, confirm_timeout):
    # API timeout 10s (the default): the confirm may need 4 x 10s, a shorter revert could undo a working change
    before = firewall(lab)
    with pytest.raises(firewall_runner.FirewallError, match="confirm_timeout '%s'" % confirm_timeout) as failure:
        firewall_runner.run(params(confirm_timeout=confirm_timeout, timeout=10), lambda: connect(lab))
    assert failure.value.result["changed"] is False and failure.value.result["writes"] == 0
    assert firewall(lab) == before
    assert not rows(lab, "/system/scheduler") and not rows(lab, "/system/script")
    assert firewall_runner.run(params(confirm_timeout="40s", timeout=10), lambda: connect(lab))["confirmed"] is True


def test_pending_revert_blocks_a_new_change(lab):
    api = connect(lab)
    try:
        lockout.arm(ApiSession(api), "/system script remove [find where name=\"x\"]\n", 120)
    finally:
        api.close()
    with pytest.raises(lockout.LockoutError, match="already armed"):
        firewall_runner.run(params(), lambda: connect(lab))
    assert [r for r in rows(lab, FILTER) if r.get("comment", "").startswith("ipsecfleet:")] == []


def test_deleted_and_gathered(lab):
    before = firewall(lab)
    firewall_runner.run(params(), lambda: connect(lab))
    gathered = firewall_runner.run(params(state="gathered"), lambda: connect(lab))["gathered"]
    assert {item["comment"].split()[0] for item in gathered["address_lists"]} == {
        "ipsecfleet:fw-peer-198.51.100.11", "ipsecfleet:fw-peer-198.51.100.12"}
    firewall_runner.run(params(state="deleted", tunnels=None), lambda: connect(lab))
    assert firewall(lab) == before


def test_rendered_needs_no_router():
    result = firewall_runner.run(params(state="rendered"), lambda: pytest.fail("rendered must not connect"))
    lines = result["rendered"].splitlines()
    assert "/ip firewall filter" in lines and "/ip firewall nat" in lines
    assert any(line.startswith("add chain=input action=accept protocol=ipsec-esp") and "fw-in-esp " in line
               for line in lines)
    assert result["mss"] == 1382


def test_real_lockout_is_reverted_by_the_router(lab):
    """Without the static check, a rule that drops the NOC's API packets goes in: the new connection
    is refused, the task says when the router reverts, and the lab's scheduler does it."""
    firewall_runner.run(params(), lambda: connect(lab))
    confirmed = firewall(lab)
    locking = params(lockout_check=False, confirm_timeout="30s", overrides={"filter": [
        {"key": "in-block-noc", "chain": "input", "action": "drop", "protocol": "tcp", "dst_port": "8728",
         "src_address": "10.10.0.0/24"}]})
    with pytest.raises(firewall_runner.FirewallError) as failure:
        firewall_runner.run(locking, lambda: connect(lab))
    assert "a new API connection failed" in str(failure.value)
    # the router was changed: the failed task says so, with the writes (the revert's script and
    # scheduler and the new rule)
    assert failure.value.result["changed"] is True and failure.value.result["writes"] == 3, failure.value.result
    assert "changed (3 write(s))" in str(failure.value)
    assert "will restore the previous managed firewall rules at about" in str(failure.value)
    with pytest.raises(Exception):
        connect(lab).close()   # locked out for real
    lab.advance("31s")         # the scheduler fires on the lab clock
    api = connect(lab)
    api.close()
    assert strip(firewall(lab)) == strip(confirmed)
    assert not [r for r in rows(lab, "/system/scheduler") if r.get("name") == lockout.REVERT_NAME]
    assert not [r for r in rows(lab, "/system/script") if r.get("name") == lockout.REVERT_NAME]
    # and the static check would have refused it
    with pytest.raises(firewall_runner.FirewallError, match="fw-in-block-noc"):
        firewall_runner.run(dict(locking, lockout_check=True), lambda: connect(lab))


def run_module(tmp_path, args):
    """The module as Ansible runs it outside the action plugin: its own interpreter, JSON in and out."""
    import json
    import os
    import subprocess
    import sys
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=os.path.join(root, ".collections"))
    done = subprocess.run([sys.executable, os.path.join(root, "plugins", "modules", "ipsec_firewall.py"),
                           str(args_file)], env=env, capture_output=True, text=True, timeout=120, check=False)
    return json.loads(done.stdout)


def test_module_main_check_mode_and_warnings(lab, tmp_path):
    before = firewall(lab)
    result = run_module(tmp_path, {"tunnels": TUNNELS, "hostname": "127.0.0.1", "port": lab.ports["hub"]["api"],
                                   "username": "admin", "password": "", "_ansible_check_mode": True})
    assert result["changed"] is True and result["writes"] == 0 and result["mss"] == 1382, result
    assert "lock-out check was skipped" in str(result.get("warnings")), result  # 2.19: structured warnings
    assert firewall(lab) == before
    refused = run_module(tmp_path, {"tunnels": TUNNELS, "hostname": "127.0.0.1", "port": lab.ports["hub"]["api"],
                                    "username": "admin", "password": "",
                                    "management_sources": ["10.10.0.0/24"],
                                    "overrides": {"filter": [{"key": "x", "chain": "input", "action": "drop"}]}})
    assert refused["failed"] is True and "fw-x" in refused["msg"]
    assert firewall(lab) == before


def test_address_taken_by_a_foreign_entry_fails_before_any_write(lab):
    # RouterOS refuses a second list/address pair ("already have such entry"): the run must stop
    # before the commit-confirm is armed and before the first write, not half-way through
    api = connect(lab)
    try:
        by_hand = api.path("ip", "firewall", "address-list")
        by_hand.add(list="ipsecfleet-peers", address="198.51.100.11", comment="added by hand")
    finally:
        api.close()
    before = firewall(lab)
    with pytest.raises(firewall_runner.FirewallError, match="not manage"):
        firewall_runner.run(params(), lambda: connect(lab))
    assert firewall(lab) == before
    assert not rows(lab, "/system/scheduler")
    assert not rows(lab, "/system/script")
    # tagged with the entry's key, the hand-made entry is handed over and kept (docs/firewall.md)
    entry = [r for r in rows(lab, ADDRESS_LIST) if r.get("comment") == "added by hand"][0]
    api = connect(lab)
    try:
        api.path("ip", "firewall", "address-list").update(**{".id": entry[".id"],
                                                             "comment": "ipsecfleet:fw-peer-198.51.100.11"})
    finally:
        api.close()
    result = firewall_runner.run(params(), lambda: connect(lab))
    assert result["confirmed"] is True
    peers = [r for r in rows(lab, ADDRESS_LIST) if r.get("address") == "198.51.100.11"]
    assert [r[".id"] for r in peers] == [entry[".id"]]


def test_module_main_reports_a_lost_connection_as_a_task_failure(lab, tmp_path):
    # the connection drops on the first print after login: a failed task with the reason, not a traceback
    lab.fault_drop_after("hub", 2, when="before")
    try:
        result = run_module(tmp_path, {"tunnels": TUNNELS, "hostname": "127.0.0.1", "port": lab.ports["hub"]["api"],
                                       "username": "admin", "password": ""})
    finally:
        lab.clear_faults("hub")
    assert result["failed"] is True and "msg" in result and "exception" not in result, result


def owned_rows(lab):
    return dict((path, [r for r in rs if menus.owner_key(menus.MENUS[path], r) is not None])
                for path, rs in firewall(lab).items())


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_dropped_connection_reports_what_was_written(lab, when):
    """The lab drops the connection at every sentence of a run in turn: whenever the router was
    changed, the failed task says changed and never fewer writes than it confirmed; a write whose
    reply was lost is reported as possibly applied (writes_unconfirmed)."""
    start = copy.deepcopy(lab.router("hub").snapshot())
    total = firewall_runner.run(params(confirm=False), lambda: connect(lab))["writes"]
    assert total > 5
    seen_unconfirmed = False
    for n in range(3, total + 3):
        lab.router("hub").restore(copy.deepcopy(start))
        before = owned_rows(lab)
        lab.fault_drop_after("hub", n, when=when)
        with pytest.raises(firewall_runner.FirewallError) as failure:
            firewall_runner.run(params(confirm=False), lambda: connect(lab))
        lab.clear_faults("hub")
        result = failure.value.result
        after = owned_rows(lab)
        written = sum(len(after[p]) - len(before[p]) for p in after)  # a cold run only adds
        unconfirmed = result.get("writes_unconfirmed", 0)
        assert result["writes"] <= written <= result["writes"] + unconfirmed, (n, result, str(failure.value))
        assert result["changed"] is (written > 0 or unconfirmed > 0), (n, result)
        if unconfirmed:  # lost before or after RouterOS ran it: the client cannot tell which
            seen_unconfirmed = True
            assert "failed after %d write(s) (its reply never came" % result["writes"] in str(failure.value)
    assert seen_unconfirmed


def test_on_a_defconf_router_the_forward_state_rules_are_not_doubled(tmp_path):
    """A router in RouterOS's default configuration (the lab's defconf: true) already accepts
    established/related (and untracked) and drops invalid after FastTrack: the firewall says so and
    adds no second copy; the rest goes in as usual and a second run writes nothing."""
    topo = topology()
    topo["routers"]["hub"]["defconf"] = True
    lab = control.Lab.from_topology(topo, base_port=0, state_dir=str(tmp_path), save_delay=0.05)
    lab.start()
    try:
        before = firewall(lab)
        assert [r["comment"] for r in before[FILTER]][-3:] == [
            "defconf: accept established,related, untracked", "defconf: drop invalid",
            "defconf: drop all from WAN not DSTNATed"]
        result = firewall_runner.run(params(), lambda: connect(lab))
        assert result["confirmed"] is True
        covered = dict((note["key"], note) for note in result["covered_by_foreign"])
        assert sorted(covered) == ["fw-fwd-established", "fw-fwd-invalid"]
        assert "defconf: accept established,related, untracked" in covered["fw-fwd-established"]["note"]
        assert covered["fw-fwd-invalid"]["comment"] == "defconf: drop invalid"
        after = firewall(lab)
        keys = [menus.owner_key(menus.MENUS[FILTER], r) for r in after[FILTER]]
        assert "fw-fwd-established" not in keys and "fw-fwd-invalid" not in keys
        assert "fw-fwd-ipsec-in" in keys and "fw-in-esp" in keys
        assert foreign(after) == foreign(before)
        again = firewall_runner.run(params(), lambda: connect(lab))
        assert again["writes"] == 0 and len(again["covered_by_foreign"]) == 2
        # the operator disables the defconf accept: ours goes in after FastTrack, where it belongs
        api = connect(lab)
        try:
            accept = [r for r in rows(lab, FILTER) if r.get("comment") == "defconf: accept established,related, untracked"][0]
            api.path("ip", "firewall", "filter").update(**{".id": accept[".id"], "disabled": "yes"})
        finally:
            api.close()
        third = firewall_runner.run(params(), lambda: connect(lab))
        assert [n["key"] for n in third["covered_by_foreign"]] == ["fw-fwd-invalid"]
        order = [(r["chain"], r.get("comment", "")) for r in rows(lab, FILTER)]
        placed = [i for i, (_chain, c) in enumerate(order) if c.startswith("ipsecfleet:fw-fwd-established")]
        assert len(placed) == 1
        assert order.index(("forward", "defconf: fasttrack")) < placed[0] < order.index(("forward", "defconf: drop invalid"))
    finally:
        lab.stop()
