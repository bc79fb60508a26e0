"""The engine against roslab routers: converge, idempotence, foreign items, check mode, faults."""
import copy

import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import (
    PHASE1_SECTIONS,
    PHASE2_SECTIONS,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import ConvergeError, apply
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import run_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.reconcile import ReconcileError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import same_value

from engine_lab_helpers import connect

PSK = "Lab-Psk-4b1d-never-printed"
MANAGED = [menus.MENUS_BY_SECTION[s].path for s in PHASE1_SECTIONS + PHASE2_SECTIONS]


def desired(psk=PSK, spokes=("spoke1", "spoke2")):
    plan = {"profiles": [{"name": "ipsecfleet-aes256", "enc_algorithm": "aes-256", "hash_algorithm": "sha256",
                          "dh_group": "ecp256", "lifetime": "8h"}],
            "proposals": [{"name": "ipsecfleet-gcm", "enc_algorithms": "aes-256-gcm", "auth_algorithms": "",
                           "pfs_group": "ecp256", "lifetime": "1h", "comment": "ipsecfleet:proposal/gcm"}],
            "policy_groups": [{"name": "ipsecfleet-group"}],
            "peers": [], "identities": [], "policies": []}
    for n, spoke in enumerate(spokes, 1):
        plan["peers"].append({"name": "ipsecfleet-" + spoke, "address": "198.51.100.1%d" % n,
                              "profile": "ipsecfleet-aes256", "exchange_mode": "ike2",
                              "comment": "ipsecfleet:peer/%s hub to %s" % (spoke, spoke)})
        plan["identities"].append({"peer": "ipsecfleet-" + spoke, "secret": psk + spoke,
                                   "comment": "ipsecfleet:identity/" + spoke})
        plan["policies"].append({"peer": "ipsecfleet-" + spoke, "tunnel": True, "src_address": "10.10.0.0/24",
                                 "dst_address": "10.1%d.0.0/24" % n, "proposal": "ipsecfleet-gcm",
                                 "comment": "ipsecfleet:policy/" + spoke})
    return plan


def add_foreign(api):
    """Items an operator made by hand: the engine must leave them exactly as they are."""
    api.path("ip", "ipsec", "peer").add(name="manual", address="203.0.113.9/32", comment="by hand")
    api.path("ip", "ipsec", "identity").add(peer="manual", secret="foreign-secret")
    api.path("ip", "ipsec", "policy").add(
        peer="manual", **{"src-address": "10.10.0.0/24", "dst-address": "10.99.0.0/24", "tunnel": "yes"})


def config(lab, name):
    return dict((path, lab.router(name).items(path)) for path in MANAGED)


def configuration(snapshot):
    """Every row without its runtime (read-only) properties."""
    return dict((path, [dict((name, value) for name, value in row.items() if name not in menus.MENUS[path].readonly)
                        for row in rows]) for path, rows in snapshot.items())


def foreign_rows(snapshot):
    """Configuration of the items ipsecfleet does not own (runtime properties such as ph2-state may
    change under the lab's IKE fabric)."""
    def configuration(menu, row):
        return dict((name, value) for name, value in row.items() if name not in menu.readonly)
    return dict((path, [configuration(menus.MENUS[path], row) for row in rows
                        if menus.owner_key(menus.MENUS[path], row) is None])
                for path, rows in snapshot.items())


def converge(lab, name, plan, state="merged", check_mode=False):
    api = connect(lab, name)
    session = ApiSession(api)
    try:
        return apply(session, plan, state, check_mode=check_mode, menu_paths=MANAGED), session
    finally:
        session.close()


def assert_converged(lab, name, plan):
    """Every desired item exists once with every desired value; nothing else owned remains."""
    snapshot = config(lab, name)
    for section, items in plan.items():
        menu = menus.MENUS_BY_SECTION[section]
        owned = [row for row in snapshot[menu.path] if menus.owner_key(menu, row) and row.get("dynamic") != "true"]
        assert sorted(menus.owner_key(menu, row) for row in owned) == sorted(
            menus.owner_key(menu, dict((k.replace("_", "-"), v) for k, v in item.items())) for item in items)
        for item in items:
            key = menus.owner_key(menu, dict((k.replace("_", "-"), v) for k, v in item.items()))
            row = [r for r in owned if menus.owner_key(menu, r) == key][0]
            for field, value in item.items():
                assert same_value(menu.path, field.replace("_", "-"), value, row.get(field.replace("_", "-"))), \
                    (section, key, field)


@pytest.fixture
def hub(lab):
    lab.reset("hub")
    api = connect(lab, "hub")
    add_foreign(api)
    api.close()
    return "hub"


def test_converge_is_idempotent_and_leaves_foreign_items(lab, hub):
    before = foreign_rows(config(lab, hub))
    first, session = converge(lab, hub, desired())
    assert first["changed"] and first["writes"] == 9
    assert session.reads == len(MANAGED)
    assert_converged(lab, hub, desired())
    second, _session = converge(lab, hub, desired())
    assert (second["changed"], second["writes"], second["commands"]) == (False, 0, [])
    assert foreign_rows(config(lab, hub)) == before
    assert PSK not in repr(first) and PSK not in repr(second)


def test_check_mode_writes_nothing(lab, hub):
    before = configuration(config(lab, hub))
    result, _session = converge(lab, hub, desired(), check_mode=True)
    assert result["changed"] and len(result["commands"]) == 9 and result["writes"] == 0
    assert configuration(config(lab, hub)) == before


def test_psk_rotation_updates_identity_in_place(lab, hub):
    converge(lab, hub, desired())
    identities = [r[".id"] for r in lab.router(hub).items("/ip/ipsec/identity")]
    result, _session = converge(lab, hub, desired(psk="rotated-" + PSK))
    assert result["writes"] == 2 and all(c.startswith("/ip ipsec identity set") for c in result["commands"])
    assert [r[".id"] for r in lab.router(hub).items("/ip/ipsec/identity")] == identities
    assert "rotated-" + PSK not in repr(result)
    assert_converged(lab, hub, desired(psk="rotated-" + PSK))


def test_overridden_removes_a_spoke_after_dereference(lab, hub):
    converge(lab, hub, desired())
    foreign = foreign_rows(config(lab, hub))
    result, _session = converge(lab, hub, desired(spokes=("spoke1",)), state="overridden")
    assert [c.split(" remove")[0] for c in result["commands"]] == [
        "/ip ipsec policy", "/ip ipsec identity", "/ip ipsec peer"]
    assert_converged(lab, hub, desired(spokes=("spoke1",)))
    assert foreign_rows(config(lab, hub)) == foreign


def test_replaced_is_idempotent_on_the_lab(lab, hub):
    plan = desired()
    plan["peers"][0]["passive"] = True
    plan["peers"][0]["local_address"] = "198.51.100.1"
    converge(lab, hub, plan)
    result, _session = converge(lab, hub, desired(), state="replaced")
    assert result["writes"] == 1
    assert "passive" not in lab.router(hub).items("/ip/ipsec/peer")[-2] or \
        lab.router(hub).items("/ip/ipsec/peer")[-2].get("passive") in ("false", "no")
    again, _session = converge(lab, hub, desired(), state="replaced")
    assert again["writes"] == 0


def test_policy_order_is_restored_with_one_move(lab, hub):
    converge(lab, hub, desired())
    reordered = desired()
    reordered["policies"].reverse()
    result, _session = converge(lab, hub, reordered)
    assert [c.split()[3] for c in result["commands"]] == ["move"]
    order = [menus.owner_key(menus.MENUS["/ip/ipsec/policy"], r) for r in lab.router(hub).items("/ip/ipsec/policy")]
    assert [k for k in order if k] == ["policy/spoke2", "policy/spoke1"]
    assert lab.router(hub).items("/ip/ipsec/policy")[0].get("template") in ("true", "yes")


def test_name_collision_with_foreign_peer_fails_untouched(lab, hub):
    before = configuration(config(lab, hub))
    plan = desired()
    plan["peers"][0]["name"] = "manual"
    with pytest.raises(ReconcileError, match="manual"):
        converge(lab, hub, plan)
    assert configuration(config(lab, hub)) == before


def count_sentences(lab, name, plan):
    """Command sentences a converge from the current state sends (login + prints + writes)."""
    snapshot = copy.deepcopy(lab.router(name).snapshot())
    result, session = converge(lab, name, plan)
    lab.router(name).restore(snapshot)
    return 1 + session.reads + result["writes"]


@pytest.mark.parametrize("when", ["after", "before"])
def test_converge_survives_a_drop_after_every_sentence(lab, when):
    name = "spoke1"
    plan = desired(spokes=("spoke1",))
    lab.reset(name)
    api = connect(lab, name)
    add_foreign(api)
    api.close()
    start = copy.deepcopy(lab.router(name).snapshot())
    foreign = foreign_rows(config(lab, name))
    sentences = count_sentences(lab, name, plan)
    assert sentences > 8
    for n in range(1, sentences + 1):
        lab.router(name).restore(copy.deepcopy(start))
        lab.fault_drop_after(name, n, when=when)
        with pytest.raises(Exception):
            converge(lab, name, plan)
        lab.clear_faults(name)
        result, _session = converge(lab, name, plan)
        assert_converged(lab, name, plan)
        assert foreign_rows(config(lab, name)) == foreign, n
        again, _session = converge(lab, name, plan)
        assert again["writes"] == 0, (n, again["commands"])


@pytest.mark.parametrize("when", ["after", "before"])
def test_phase_task_failing_on_a_drop_reports_its_writes(lab, when):
    """What the phase roles run (run_engine): a drop at any sentence fails the task with changed
    whenever the router was changed, the confirmed writes, and a lost reply as possibly applied."""
    name = "spoke1"
    plan = desired(spokes=("spoke1", "spoke2"))
    params = {"config": dict((s, plan[s]) for s in PHASE1_SECTIONS), "state": "merged"}
    lab.reset(name)
    start = copy.deepcopy(lab.router(name).snapshot())
    total = run_engine(params, PHASE1_SECTIONS, lambda: connect(lab, name))["writes"]
    assert total == 5
    outcomes = set()
    for n in range(2, 100):  # login, the prints, the writes; past the last sentence the run succeeds
        lab.router(name).restore(copy.deepcopy(start))
        lab.fault_drop_after(name, n, when=when)
        failure = None
        try:
            run_engine(params, PHASE1_SECTIONS, lambda: connect(lab, name))
            break
        except ConvergeError as error:
            failure = error
        finally:
            lab.clear_faults(name)
        result = failure.result
        made = sum(len([r for r in rows if menus.owner_key(menus.MENUS[path], r)])
                   for path, rows in config(lab, name).items())
        lost = result.get("writes_unconfirmed", 0)
        assert result["writes"] <= made <= result["writes"] + lost, (n, result, str(failure))
        assert result["changed"] is (result["writes"] + lost > 0), (n, result)
        outcomes.add((result["writes"], lost))
    # every write in turn was the one whose reply was lost
    assert set((w, 1) for w in range(total)) <= outcomes


@pytest.mark.parametrize("when", ["after", "before"])
def test_overridden_with_sets_moves_and_removals_survives_drops(lab, when):
    """From a converged router: rotate a PSK, reverse the policies, drop a spoke (set, move, removes)."""
    name = "spoke1"
    lab.reset(name)
    api = connect(lab, name)
    add_foreign(api)
    api.close()
    converge(lab, name, desired(spokes=("spoke1", "spoke2", "spoke3")))
    start = copy.deepcopy(lab.router(name).snapshot())
    foreign = foreign_rows(config(lab, name))
    target = desired(psk="rotated-" + PSK, spokes=("spoke3", "spoke1"))
    snapshot = copy.deepcopy(lab.router(name).snapshot())
    result, session = converge(lab, name, target, state="overridden")
    actions = [c.split()[3] for c in result["commands"]]
    assert {"set", "move", "remove"} <= set(actions), result["commands"]
    sentences = 1 + session.reads + result["writes"]
    lab.router(name).restore(snapshot)
    for n in range(1, sentences + 1):
        lab.router(name).restore(copy.deepcopy(start))
        lab.fault_drop_after(name, n, when=when)
        with pytest.raises(Exception):
            converge(lab, name, target, state="overridden")
        lab.clear_faults(name)
        converge(lab, name, target, state="overridden")
        assert_converged(lab, name, target)
        order = [menus.owner_key(menus.MENUS["/ip/ipsec/policy"], r) for r in lab.router(name).items("/ip/ipsec/policy")]
        assert [k for k in order if k] == ["policy/spoke3", "policy/spoke1"], n
        assert foreign_rows(config(lab, name)) == foreign, n
        again, _session = converge(lab, name, target, state="overridden")
        assert again["writes"] == 0, (n, again["commands"])


def test_phase1_alone_removes_a_tunnel_its_policies_still_use(lab, hub):
    """RouterOS refuses to remove a peer a policy uses: the stale owned policy goes first, even though
    policies belong to the phase 2 menus; a foreign policy using an owned peer stops the run."""
    converge(lab, hub, desired())
    phase1 = [menus.MENUS_BY_SECTION[s].path for s in PHASE1_SECTIONS]
    remaining = dict((s, items) for s, items in desired(spokes=("spoke1",)).items() if s in PHASE1_SECTIONS)
    api = connect(lab, hub)
    session = ApiSession(api)
    result = apply(session, remaining, "overridden", menu_paths=phase1)
    api.close()
    assert [c.split(" [find")[0] for c in result["commands"]] == [
        "/ip ipsec policy remove", "/ip ipsec identity remove", "/ip ipsec peer remove"]
    owned_policies = [r for r in lab.router(hub).items("/ip/ipsec/policy") if r.get("comment", "").startswith("ipsecfleet:")]
    assert [r["comment"] for r in owned_policies] == ["ipsecfleet:policy/spoke1"]

    api = connect(lab, hub)
    api.path("ip", "ipsec", "policy").add(
        peer="ipsecfleet-spoke1", **{"src-address": "10.10.9.0/24", "dst-address": "10.99.9.0/24"})
    session = ApiSession(api)
    before = configuration(config(lab, hub))
    with pytest.raises(ReconcileError, match="not managed by ipsecfleet"):
        apply(session, {}, "deleted", menu_paths=phase1)
    api.close()
    assert configuration(config(lab, hub)) == before
