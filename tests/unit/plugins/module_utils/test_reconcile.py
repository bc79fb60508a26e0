"""The reconciler's pure core and its apply loop, against an in-memory session."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import apply
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.reconcile import (
    MASK,
    Operation,
    SECRET_CHANGED,
    ReconcileError,
    plan_changes,
    selector,
)

from reconcile_fakes import FakeSession

PEER = "/ip/ipsec/peer"
IDENTITY = "/ip/ipsec/identity"
PROFILE = "/ip/ipsec/profile"
POLICY = "/ip/ipsec/policy"
PSK = "s3cret-Psk-value"


def router():
    return FakeSession({
        PROFILE: [{".id": "*1", "name": "default", "default": "true", "lifetime": "1d"}],
        PEER: [
            {".id": "*2", "name": "manual", "address": "192.0.2.9/32", "comment": "by hand"},
            {".id": "*3", "name": "gre-dyn", "address": "192.0.2.8/32", "dynamic": "true",
             "comment": "ipsecfleet:dyn"},
        ],
        IDENTITY: [{".id": "*4", "peer": "manual", "secret": "foreign-secret", "dynamic": "false"}],
        POLICY: [{".id": "*5", "template": "true", "default": "true", "group": "default",
                  "src-address": "::/0", "dst-address": "::/0", "dynamic": "false"}],
    })


def desired(secret=PSK, lifetime="8h"):
    return {
        "profiles": [{"name": "ipsecfleet-p1", "enc_algorithm": ["aes-256"], "lifetime": lifetime}],
        "peers": [{"name": "ipsecfleet-spoke1", "address": "198.51.100.2", "profile": "ipsecfleet-p1",
                   "exchange_mode": "ike2", "comment": "ipsecfleet:peer-spoke1"}],
        "identities": [{"peer": "ipsecfleet-spoke1", "secret": secret,
                        "comment": "ipsecfleet:id-spoke1"}],
    }


def test_merged_converges_and_second_run_writes_nothing():
    session = router()
    first = apply(session, desired(), "merged")
    assert first["changed"] and first["writes"] == 3
    # create before reference: profile, then peer, then identity
    assert [entry[1] for entry in session.log] == [PROFILE, PEER, IDENTITY]
    second = apply(FakeSession(session.menus), desired(), "merged")
    assert second == dict(second, changed=False, writes=0, commands=[])


def test_a_changed_psk_shows_a_masked_diff_line():
    session = router()
    apply(session, desired(), "merged")
    rotated = "rotated-" + PSK
    for check_mode in (True, False):
        result = apply(FakeSession(session.menus), desired(secret=rotated), "merged", check_mode=check_mode)
        before, after = result["diff"]["before"]["identities"], result["diff"]["after"]["identities"]
        assert [i["secret"] for i in before] == [MASK] and [i["secret"] for i in after] == [SECRET_CHANGED]
        assert before != after
        assert PSK not in repr(result) and rotated not in repr(result)
    # an unchanged secret stays a plain mask on both sides
    same = apply(FakeSession(session.menus), desired(), "merged")
    assert same["diff"]["before"] == same["diff"]["after"]


def test_foreign_and_dynamic_rows_are_never_touched():
    session = router()
    apply(session, desired(), "overridden")
    rows = dict((row[".id"], row) for path in (PEER, IDENTITY) for row in session.menus[path])
    assert rows["*2"] == {".id": "*2", "name": "manual", "address": "192.0.2.9/32", "comment": "by hand"}
    assert rows["*3"]["dynamic"] == "true"          # tagged but dynamic: left alone
    assert rows["*4"]["secret"] == "foreign-secret"


def test_set_only_differing_fields_after_normalisation():
    session = router()
    apply(session, desired(lifetime="8h"), "merged")
    again = FakeSession(session.menus)
    result = apply(again, desired(lifetime="08:00:00"), "merged")
    assert result["writes"] == 0
    result = apply(again, desired(lifetime="9h"), "merged")
    assert result["commands"] == ['/ip ipsec profile set [find name=ipsecfleet-p1] lifetime=9h']


def test_secret_change_is_set_in_place_and_masked_everywhere():
    session = router()
    apply(session, desired(), "merged")
    identities_before = len(session.menus[IDENTITY])
    result = apply(session.__class__(session.menus), desired(secret="n3w-Psk-value"), "merged")
    text = repr(result)
    assert result["writes"] == 1 and result["operations"][0]["action"] == "set"
    assert PSK not in text and "n3w-Psk-value" not in text and MASK in text
    assert identities_before == len(session.menus[IDENTITY])


def test_unreadable_secret_policy():
    menu = menus.MENUS[IDENTITY]
    row = {".id": "*9", "peer": "ipsecfleet-a", "comment": "ipsecfleet:id-a"}   # no "secret" printed
    item = [{"peer": "ipsecfleet-a", "secret": PSK, "comment": "ipsecfleet:id-a"}]
    assert plan_changes(menu, [row], item, "merged").operations == []
    assert plan_changes(menu, [row], item, "merged", secret_update="always").operations[0].args == {"secret": PSK}
    item[0]["disabled"] = True
    args = plan_changes(menu, [row], item, "merged").operations[0].args
    assert args == {"secret": PSK, "disabled": "yes"}       # on_change: rewritten with another change
    assert plan_changes(menu, [row], item, "merged", secret_update="on_create").operations[0].args == {
        "disabled": "yes"}


def test_collision_with_foreign_name_fails_before_any_write():
    session = router()
    wanted = desired()
    wanted["peers"][0]["name"] = "manual"
    wanted["identities"][0]["peer"] = "manual"
    with pytest.raises(ReconcileError) as error:
        apply(session, wanted, "merged")
    assert "manual" in str(error.value) and session.writes == 0


def test_untagged_desired_item_is_refused():
    with pytest.raises(ReconcileError):
        apply(router(), {"peers": [{"name": "x", "address": "192.0.2.1"}]}, "merged")


def test_check_mode_plans_without_writing():
    session = router()
    result = apply(session, desired(), "merged", check_mode=True)
    assert result["changed"] and len(result["commands"]) == 3 and session.writes == 0
    assert result["diff"]["before"]["peers"] == [] and result["diff"]["after"]["peers"][0]["name"] == "ipsecfleet-spoke1"
    assert PSK not in repr(result)


def test_overridden_removes_unwanted_owned_items_after_dereference():
    session = router()
    apply(session, desired(), "merged")
    session.log = []
    wanted = desired()
    wanted["peers"][0].update(name="ipsecfleet-spoke2", address="198.51.100.3", comment="ipsecfleet:peer-spoke2")
    wanted["identities"][0].update(peer="ipsecfleet-spoke2", comment="ipsecfleet:id-spoke2")
    apply(session, wanted, "overridden")
    actions = [(a, p) for a, p, _i in session.log]
    assert actions == [("add", PEER), ("add", IDENTITY), ("remove", IDENTITY), ("remove", PEER)]


def test_a_renamed_tunnel_frees_the_peer_address_first():
    """RouterOS refuses a second peer with the same address and exchange mode: the old one (and the
    identity using it) must go before the new one comes."""
    session = router()
    apply(session, desired(), "merged")
    session.log = []
    wanted = desired()
    wanted["peers"][0].update(name="ipsecfleet-renamed", comment="ipsecfleet:peer-renamed")
    wanted["identities"][0].update(peer="ipsecfleet-renamed", comment="ipsecfleet:id-renamed")
    apply(session, wanted, "overridden")
    actions = [(a, p) for a, p, _i in session.log]
    assert actions == [("remove", IDENTITY), ("remove", PEER), ("add", PEER), ("add", IDENTITY)]


def test_unique_values_chain_is_ordered_and_swap_or_foreign_use_fails_untouched():
    session = router()
    two = desired()
    two["peers"].append({"name": "ipsecfleet-b", "address": "198.51.100.3", "exchange_mode": "ike2", "comment": "ipsecfleet:peer-b"})
    apply(session, two, "merged")
    session.log = []
    chain = desired()
    chain["peers"][0]["address"] = "198.51.100.3"        # takes b's address ...
    chain["peers"].append({"name": "ipsecfleet-b", "address": "198.51.100.4", "exchange_mode": "ike2", "comment": "ipsecfleet:peer-b"})
    result = apply(FakeSession(session.menus), chain, "merged")
    assert [c.split()[4] for c in result["commands"]] == ["[find", "[find"]
    assert "peer-b" in result["commands"][0] and "peer-spoke1" in result["commands"][1]   # ... after b moved
    swap = desired()
    swap["peers"][0]["address"] = "198.51.100.3"
    swap["peers"].append({"name": "ipsecfleet-b", "address": "198.51.100.2", "exchange_mode": "ike2", "comment": "ipsecfleet:peer-b"})
    fresh = FakeSession(session.menus)
    with pytest.raises(ReconcileError, match="swap"):
        apply(fresh, swap, "merged")
    foreign = desired()
    foreign["peers"][0].update(address="192.0.2.9", exchange_mode="main")   # the hand-made peer's
    with pytest.raises(ReconcileError, match="does not manage"):
        apply(fresh, foreign, "merged")
    twice = desired()
    twice["peers"].append({"name": "ipsecfleet-c", "address": "198.51.100.2/32", "exchange_mode": "ike2", "comment": "ipsecfleet:peer-c"})
    with pytest.raises(ReconcileError, match="already used by owned item peer-spoke1"):
        apply(fresh, twice, "merged")
    assert fresh.writes == 0


def test_deleted_all_and_listed():
    session = router()
    apply(session, desired(), "merged")
    only_identity = {"identities": desired()["identities"]}
    apply(session, only_identity, "deleted")
    assert not [r for r in session.menus[IDENTITY] if r.get("comment", "").startswith("ipsecfleet:")]
    assert [r for r in session.menus[PEER] if r.get("comment") == "ipsecfleet:peer-spoke1"]
    apply(session, {}, "deleted", menu_paths=[PROFILE, PEER, IDENTITY])
    assert [r[".id"] for r in session.menus[PEER]] == ["*2", "*3"]
    assert [r["name"] for r in session.menus[PROFILE]] == ["default"]


def test_replaced_resets_unlisted_fields():
    session = router()
    wanted = desired()
    wanted["peers"][0]["passive"] = True
    apply(session, wanted, "merged")
    result = apply(session, desired(), "replaced")
    assert result["commands"] == ['/ip ipsec peer set [find comment=ipsecfleet:peer-spoke1] passive=no']


def test_duplicate_owned_rows_are_collapsed():
    menu = menus.MENUS[PEER]
    rows = [{".id": "*1", "name": "ipsecfleet-a", "comment": "ipsecfleet:a"},
            {".id": "*2", "name": "ipsecfleet-a2", "comment": "ipsecfleet:a"}]
    plan = plan_changes(menu, rows, [{"name": "ipsecfleet-a", "comment": "ipsecfleet:a"}], "merged")
    assert plan.operations == [] and [op.target for op in plan.removals] == ["*2"]


def test_rendered_needs_no_router():
    result = apply(None, desired(), "rendered")
    lines = result["rendered"].splitlines()
    assert "/ip ipsec profile" in lines and "/ip ipsec identity" in lines
    assert lines.index("/ip ipsec profile") < lines.index("/ip ipsec peer") < lines.index("/ip ipsec identity")
    assert PSK not in result["rendered"] and MASK in result["rendered"]


def test_replaced_never_resets_a_secret_that_is_not_given():
    menu = menus.MENUS[IDENTITY]
    row = {".id": "*9", "peer": "ipsecfleet-a", "secret": PSK, "comment": "ipsecfleet:id-a"}
    for item in ({"peer": "ipsecfleet-a", "comment": "ipsecfleet:id-a"},
                 {"peer": "ipsecfleet-a", "secret": MASK, "comment": "ipsecfleet:id-a"}):
        plan = plan_changes(menu, [row], [item], "replaced")
        assert plan.operations == [], item


def test_two_new_items_wanting_one_unique_value_fail_untouched():
    session = router()
    wanted = desired()
    wanted["peers"].append({"name": "ipsecfleet-c", "address": "198.51.100.2", "exchange_mode": "ike2",
                            "comment": "ipsecfleet:peer-c"})
    with pytest.raises(ReconcileError, match="two desired items"):
        apply(session, wanted, "merged")
    assert session.writes == 0


def test_owned_items_of_other_menus_using_a_removed_item_go_first():
    session = router()
    apply(session, desired(), "merged")
    session.menus[POLICY].append({".id": "*50", "peer": "ipsecfleet-spoke1", "comment": "ipsecfleet:pol-spoke1",
                                  "src-address": "10.1.0.0/24", "dst-address": "10.2.0.0/24"})
    session.log = []
    result = apply(session, {}, "deleted", menu_paths=[PROFILE, PEER, IDENTITY])
    assert [(a, p) for a, p, _i in session.log] == [
        ("remove", POLICY), ("remove", IDENTITY), ("remove", PEER), ("remove", PROFILE)]
    assert result["diff"]["before"]["policies"] and result["diff"]["after"]["policies"] == []


def test_a_foreign_item_using_a_removed_item_stops_the_run_untouched():
    session = router()
    apply(session, desired(), "merged")
    session.menus[POLICY].append({".id": "*51", "peer": "ipsecfleet-spoke1", "src-address": "10.1.0.0/24"})
    fresh = FakeSession(session.menus)
    with pytest.raises(ReconcileError, match="not managed by ipsecfleet"):
        apply(fresh, {}, "deleted", menu_paths=[PROFILE, PEER, IDENTITY])
    assert fresh.writes == 0


def test_command_text_quotes_values_as_routeros_export_does():
    # "?" opens the CLI's help and a newline ends the command unless escaped (rsc.quote, /export's rules)
    menu = menus.MENUS[PEER]
    comment = "ipsecfleet:peer/x is it up?\nyes"
    row = {".id": "*9", "comment": comment}
    op = Operation("set", menu, "peer/x", target="*9", args={"comment": comment, "ppk-secret": "k"},
                   selector=selector(menu, row))
    assert op.command() == ('/ip ipsec peer set [find comment="ipsecfleet:peer/x is it up\\?\\nyes"] '
                            'comment="ipsecfleet:peer/x is it up\\?\\nyes" ppk-secret=' + MASK)
