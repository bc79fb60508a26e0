"""roslab.schema: inspect-derived tables, hand facts, version differences as data."""

import pytest

from roslab import schema
from roslab.errors import RosTrap


@pytest.mark.parametrize("text,seconds", [
    ("1d", 86400), ("30m", 1800), ("1h30m", 5400), ("00:02:00", 120), ("120", 120), ("8s", 8),
    ("1w2d", 9 * 86400), ("1d02:00:00", 93600), ("500ms", 0.5),
])
def test_parse_time(text, seconds):
    assert schema.parse_time(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "1x", "m1", "1h 2m"])
def test_parse_time_refuses_garbage(bad):
    assert schema.parse_time(bad) is None


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (86400, "1d"), (1800, "30m"), (5400, "1h30m"), (120, "2m"),
    (35 * 604800 + 3 * 86400 + 13 * 3600 + 13 * 60 + 56, "35w3d13h13m56s"), (1.5, "1s500ms"),
])
def test_format_duration_compact(seconds, text):
    assert schema.format_duration(seconds) == text


def test_tree_version_picks_newest_tree_not_newer():
    assert schema.tree_version("7.22.2") == "7.22.2"
    assert schema.tree_version("7.19") == "7.18"
    assert schema.tree_version("7.20.8") == "7.20.8"
    assert schema.tree_version("7.24.1") == "7.24"
    with pytest.raises(ValueError):
        schema.tree_version("6.49")
    with pytest.raises(ValueError):
        schema.tree_version("7.30")


def test_ppk_exists_from_7_21():
    assert "ppk" not in schema.menu_schema("/ip/ipsec/profile", "7.20.8").writable
    assert "ppk" in schema.menu_schema("/ip/ipsec/profile", "7.21.5").writable
    assert "ppk-secret" not in schema.menu_schema("/ip/ipsec/peer", "7.18").writable
    assert "ppk-secret" in schema.menu_schema("/ip/ipsec/peer", "7.24").writable
    # defaults follow the arguments that exist
    assert "ppk" not in schema.menu_schema("/ip/ipsec/profile", "7.20.8").defaults
    assert schema.menu_schema("/ip/ipsec/profile", "7.22.2").defaults["ppk"] == "no"


def test_key_menus_by_version():
    assert schema.menu_schema("/ip/ipsec/key/rsa", "7.19.6") is None
    assert "print" in schema.menu_schema("/ip/ipsec/key", "7.19.6").commands
    assert "print" not in schema.menu_schema("/ip/ipsec/key", "7.20.8").commands
    assert schema.menu_schema("/ip/ipsec/key/rsa", "7.20.8") is not None
    assert schema.menu_schema("/ip/ipsec/key/psk", "7.20.8") is None
    assert schema.menu_schema("/ip/ipsec/key/qkd", "7.21.5") is not None
    assert schema.menu_schema("/ip/ipsec/key/qkd", "7.23.3") is not None
    assert schema.menu_schema("/ip/ipsec/key/qkd", "7.24") is None


def test_ddos_cookie_threshold_from_7_22():
    assert "ddos-cookie-threshold" not in schema.menu_schema("/ip/ipsec/settings", "7.21.5").writable
    settings = schema.menu_schema("/ip/ipsec/settings", "7.22.2")
    assert settings.defaults["ddos-cookie-threshold"] == "20"


def test_empty_reply_from_7_18():
    assert not schema.has_feature("7.16.1", "empty_reply")
    assert schema.has_feature("7.18", "empty_reply")
    assert schema.has_feature("7.22.2", "empty_reply")


def test_no_interface_ipsec_and_no_remote_peers():
    for version in schema.emulated_versions():
        assert not schema.routeros_has_path("/interface/ipsec", version)
        assert not schema.routeros_has_path("/ip/ipsec/remote-peers", version)
        assert schema.routeros_has_path("/ip/ipsec/active-peers", version)


def test_arg_kinds_from_tables():
    profile = schema.menu_schema("/ip/ipsec/profile")
    assert profile.arg_specs["enc-algorithm"].kind == "enum-list"
    assert "blowfish" not in profile.arg_specs["enc-algorithm"].values
    assert profile.arg_specs["dpd-interval"].extra == ("disable-dpd",)
    assert profile.arg_specs["nat-traversal"].kind == "bool"
    assert "comment" not in profile.writable   # spec §2: profile has no comment
    identity = schema.menu_schema("/ip/ipsec/identity")
    assert "name" not in identity.writable and "peer-address" not in identity.writable
    assert identity.arg_specs["peer"].ref == "/ip/ipsec/peer"
    assert identity.mandatory == ("peer",)
    proposal = schema.menu_schema("/ip/ipsec/proposal")
    assert "x25519" not in proposal.arg_specs["pfs-group"].values
    assert "camellia-256" in proposal.arg_specs["enc-algorithms"].values


def _no_refs(path, name):
    return False


@pytest.mark.parametrize("kind,raw,expected", [
    ("bool", "yes", "true"), ("bool", "no", "false"), ("bool", "true", "true"), ("bool", "false", "false"),
])
def test_bool_input(kind, raw, expected):
    assert schema.check_value(schema.Arg("x", kind), raw, _no_refs) == expected


def test_check_value_errors_carry_routeros_texts():
    with pytest.raises(RosTrap) as err:
        schema.check_value(schema.Arg("passive", "bool"), "maybe", _no_refs)
    assert err.value.message == "input does not match any value of passive" and err.value.category == 1
    with pytest.raises(RosTrap) as err:
        schema.check_value(schema.Arg("port", "num", lo=0, hi=65535), "70000", _no_refs)
    assert err.value.message == "invalid value for argument port"
    with pytest.raises(RosTrap) as err:
        schema.check_value(schema.Arg("local-address", "ip"), "1.2.3", _no_refs)
    assert err.value.message == "invalid value for argument local-address"
    with pytest.raises(RosTrap) as err:
        schema.check_value(schema.Arg("peer", "ref", ref="/ip/ipsec/peer"), "nope", _no_refs)
    assert err.value.message == "input does not match any value of peer"


def test_normalisations():
    assert schema.normalise_list_address("203.0.113.77/24") == "203.0.113.0/24"
    assert schema.normalise_list_address("203.0.113.77/32") == "203.0.113.77"
    assert schema.normalise_list_address("vpn.example.com") == "vpn.example.com"
    assert schema.normalise_prefix("10.1.1.1") == "10.1.1.1/32"
    assert schema.normalise_prefix("2001:db8::1") == "2001:db8::1/128"


def test_unconfirmed_texts_live_in_one_table():
    # every UNCONFIRMED text the lab can send is a key of UNCONFIRMED_TEXTS, none of TEXTS
    assert not set(schema.TEXTS) & set(schema.UNCONFIRMED_TEXTS)
    for key in ("duplicate_name_ipsec", "cannot_remove_default", "item_in_use", "duplicate_peer"):
        assert isinstance(schema.trap(key, "a", "b") if "%" in schema.UNCONFIRMED_TEXTS[key][0]
                          else schema.trap(key), RosTrap)


def test_unconfirmed_texts_can_be_corrected(monkeypatch):
    monkeypatch.setitem(schema.UNCONFIRMED_TEXTS, "duplicate_name_ipsec", schema.UNCONFIRMED_TEXTS["duplicate_name_ipsec"])
    schema.correct_texts({"duplicate_name_ipsec": ["failure: name already used", 4]})
    err = schema.trap("duplicate_name_ipsec")
    assert (err.message, err.category) == ("failure: name already used", 4)
    with pytest.raises(KeyError):
        schema.correct_texts({"no_such_item": ["x", None]})    # confirmed texts are not "corrected"
