"""The intent's one field checker: the schema table's kinds, choices and ranges are what is enforced, and
one run reports every problem of every tunnel (issue 14: validation stopped at the first problem)."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError, FleetIndex
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import check_field
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan

from test_intent_fixtures import groups, hostvars, tunnel


def errors_of(tunnels, hv=None):
    with pytest.raises(IntentError) as raised:
        FleetIndex(tunnels, hv if hv is not None else hostvars(), None, groups()).validate_all()
    return raised.value.errors


RANGED = [f for f in intent.TUNNEL_FIELDS if f.minimum is not None and f.kind in ("int", "duration")]
CHOICES = [f for f in intent.TUNNEL_FIELDS if f.choices]


def test_the_table_has_ranges_and_choices_to_enforce():
    assert set(f.name for f in RANGED) >= {"dpd_failures", "dpd_interval", "phase1_lifetime", "phase2_lifetime"}
    assert set(f.name for f in CHOICES) >= {"ike_version", "exchange_mode", "policy_level"}


@pytest.mark.parametrize("field", RANGED, ids=[f.name for f in RANGED])
def test_every_range_in_the_table_is_enforced_at_its_bounds(field):
    assert check_field("t", field, field.minimum) == field.minimum
    assert check_field("t", field, field.maximum) == field.maximum
    for outside in ([field.minimum - 1] if field.minimum > 0 else []) + [field.maximum + 1]:
        with pytest.raises(IntentError) as raised:
            check_field("t", field, outside)
        assert "field '%s'" % field.name in str(raised.value)
        assert "out of range %s" % field.range_text() in str(raised.value)


@pytest.mark.parametrize("field", CHOICES, ids=[f.name for f in CHOICES])
def test_every_choice_list_in_the_table_is_enforced(field):
    for choice in field.choices:
        assert check_field("t", field, choice) == choice
    wrong = 99 if field.kind == "int" else "not-a-choice"
    with pytest.raises(IntentError) as raised:
        check_field("t", field, wrong)
    assert all(str(c) in str(raised.value) for c in field.choices)


def test_durations_are_parsed_by_the_checker_and_words_stand_for_values():
    dpd = intent.schema.TUNNEL_BY_NAME["dpd_interval"]
    assert check_field("t", dpd, "disabled") is None
    assert check_field("t", dpd, None) == 120          # the table's default, parsed
    assert check_field("t", intent.schema.TUNNEL_BY_NAME["phase1_lifetime"], "8h") == 8 * 3600
    with pytest.raises(IntentError, match="not a duration"):
        check_field("t", dpd, "soon")


def test_a_changed_range_in_the_table_changes_what_is_enforced(monkeypatch):
    # the checker reads the table: no second copy of the range in the model
    field = intent.schema.TUNNEL_BY_NAME["dpd_failures"]
    monkeypatch.setattr(field, "maximum", 10)
    assert "field 'dpd_failures'" in errors_of([tunnel(dpd_failures=11)])[0]
    monkeypatch.setattr(field, "maximum", 100)
    FleetIndex([tunnel(dpd_failures=11)], hostvars(), None, groups()).validate_all()


def test_every_weak_choice_of_one_tunnel_is_reported_in_one_run():
    # before: 3des was reported, modp1536 only on the next run
    suite = {"profile": {"enc_algorithm": "3des", "hash_algorithm": "sha256", "dh_group": "modp1536"},
             "proposal": {"enc_algorithms": "aes-256-cbc", "auth_algorithms": "sha256", "pfs_group": "modp2048"}}
    errors = errors_of([tunnel(suite=suite)])
    assert any("3des is weak" in e for e in errors) and any("modp1536 is a weak" in e for e in errors)
    assert all(e.startswith("tunnel 'hq-br1'") for e in errors)


def test_a_misspelt_key_does_not_hide_another_problem_of_the_same_tunnel():
    errors = errors_of([tunnel(a={"host": "hq", "prefixes": ["10.0.0.1/16"], "pasive": True}, dpd_failures=0,
                               policy_level="always")])
    joined = "\n".join(errors)
    for fragment in ("field 'a.pasive'", "host bits set", "field 'dpd_failures'", "field 'policy_level'"):
        assert fragment in joined, (fragment, errors)
    assert len(errors) == 4


def test_every_problem_of_every_tunnel_of_a_host_is_reported_when_planning_one_host():
    with pytest.raises(IntentError) as raised:
        host_plan.intent_tunnels("hq", [tunnel(ike_version=3, nat_traversal="perhaps"),
                                        tunnel(name="hq-br2", b="br2", dpd_interval="2h")], hostvars())
    errors = raised.value.errors
    assert len(errors) == 3 and "3 problems" in str(raised.value)
    assert sum("tunnel 'hq-br1'" in e for e in errors) == 2 and "tunnel 'hq-br2'" in errors[2]


def test_a_wan_address_inside_its_own_lan_prefix_is_refused():
    hv = hostvars()
    hv["hq"]["ipsec_lan_prefixes"] = ["198.51.100.0/24"]     # holds hq's own WAN 198.51.100.1
    errors = errors_of([tunnel()], hv)
    assert any("field 'a.prefixes'" in e and "own WAN address 198.51.100.1" in e for e in errors), errors


def test_a_lan_prefix_covering_the_peers_wan_address_is_refused():
    hv = hostvars()
    hv["br1"]["ipsec_lan_prefixes"] = ["198.51.0.0/16"]      # the spoke's LAN holds the hub's WAN 198.51.100.1
    errors = errors_of([tunnel()], hv)
    assert any("field 'b.prefixes'" in e and "other end's WAN address 198.51.100.1" in e for e in errors), errors


def test_allow_weak_crypto_warns_naming_what_is_weak_on_every_plan():
    weak = {"profile": {"enc_algorithm": "3des", "hash_algorithm": "sha1", "dh_group": "modp1024"},
            "proposal": {"enc_algorithms": "aes-128-cbc", "auth_algorithms": "sha1", "pfs_group": "modp2048"}}
    tunnels = host_plan.intent_tunnels("hq", [tunnel(suite=weak, allow_weak_crypto=True)], hostvars())
    assert "3des is weak encryption" in tunnels[0].weak_crypto
    plan = host_plan.build_host_plan("hq", tunnels, features=("ipsec",))
    warning = [w for w in plan.warnings if "allow_weak_crypto" in w]
    assert len(warning) == 1 and "tunnel 'hq-br1'" in warning[0]
    for reason in ("3des", "sha1", "modp1024"):
        assert reason in warning[0]
    strong = host_plan.build_host_plan("hq", host_plan.intent_tunnels("hq", [tunnel()], hostvars()),
                                       features=("ipsec",))
    assert not [w for w in strong.warnings if "allow_weak_crypto" in w]
