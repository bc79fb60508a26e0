"""Rendering a plan as a RouterOS .rsc script: quoting, secrets, order, and /import into the lab."""
import pytest
from hypothesis import given, settings, strategies as st
from roslab import menus as roslab_menus
from roslab import script as roslab_script

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import rsc
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan

from test_intent_fixtures import PSK, PSK2, hostvars, tunnel


IPSEC_MENUS = ("/ip/ipsec/profile", "/ip/ipsec/policy/group", "/ip/ipsec/proposal", "/ip/ipsec/peer",
               "/ip/ipsec/identity", "/ip/ipsec/policy")


def plans(**extra):
    tunnels = [tunnel(description='main "office" costs $5? yes; [really]'),
               tunnel(name="v6", a="v6a", b="v6b", ppk_secret=PSK2, **extra)]
    return ipsec_plan.plan_fleet(tunnels, hostvars())


@pytest.mark.parametrize("value,expected", [
    ("aes-256-gcm", "aes-256-gcm"),
    ("aes-256,aes-128", "aes-256,aes-128"),
    ("10.0.0.0/16", "10.0.0.0/16"),
    ("2001:db8::b/128", "2001:db8::b/128"),
    ("", '""'),
    (None, '""'),
    ("two words", '"two words"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("$var", '"\\$var"'),
    ("back\\slash", '"back\\\\slash"'),
    ("what?", '"what\\?"'),
    ("a;b", '"a;b"'),
    ("line\nbreak\ttab", '"line\\nbreak\\ttab"'),
    ("bell\x07", '"bell\\a"'),
    ("nul\x00", '"nul\\00"'),
    ("caf\u00e9", '"caf\\C3\\A9"'),
])
def test_quote(value, expected):
    assert rsc.quote(value) == expected


def test_menu_header():
    assert rsc.menu_header("/ip/ipsec/policy/group") == "/ip ipsec policy group"


def test_sections_follow_apply_order_with_name_first_and_comment_last():
    text = rsc.render(plans()["hq"], host="hq")
    lines = text.splitlines()
    assert lines[0] == "# ipsecfleet.routeros plan for hq"
    headers = [line for line in lines if line.startswith("/")]
    assert headers == ["/ip ipsec profile", "/ip ipsec proposal", "/ip ipsec peer", "/ip ipsec identity",
                       "/ip ipsec policy"]
    profile_line = lines[lines.index("/ip ipsec profile") + 1]
    assert profile_line.startswith("add name=ipsecfleet-")
    peer_line = lines[lines.index("/ip ipsec peer") + 1]
    assert peer_line.startswith("add name=ipsecfleet-hq-br1 ") and ' comment="ipsecfleet:peer/hq-br1 ' in peer_line
    assert text.endswith("\n")


def test_secrets_are_hidden_unless_revealed():
    plan = plans()["v6a"]
    hidden = rsc.render(plan)
    assert PSK not in hidden and PSK2 not in hidden
    assert "secret=%s" % rsc.SECRET_PLACEHOLDER in hidden
    assert "ppk-secret=%s" % rsc.SECRET_PLACEHOLDER in hidden
    assert "reveal_secrets" in hidden.splitlines()[1]
    shown = rsc.render(plan, reveal_secrets=True)
    assert "secret=%s" % PSK in shown and "ppk-secret=%s" % PSK2 in shown
    assert rsc.SECRET_PLACEHOLDER not in shown


def test_secret_arguments_come_from_the_menu_table():
    assert "secret" in menus.MENUS["/ip/ipsec/identity"].secrets
    assert "ppk-secret" in menus.MENUS["/ip/ipsec/peer"].secrets


def test_empty_plan_renders_only_the_header():
    assert rsc.render(dict((s, []) for s in ipsec_plan.PLAN_SECTIONS)) == "# ipsecfleet.routeros plan\n"


def test_unknown_section_and_argument_are_refused():
    with pytest.raises(rsc.RenderError, match="unknown plan section 'tunnels'"):
        rsc.render({"tunnels": []})
    with pytest.raises(rsc.RenderError, match="mtu is not an argument of /ip/ipsec/peer"):
        rsc.render({"peers": [{"name": "x", "mtu": "1400", "comment": "ipsecfleet:peer/x"}]})


def _router(name, version="7.22.2"):
    return roslab_menus.build_router(name, version=version, interfaces=[{"name": "ether1"}], addresses=[])


def _owned_rows(router, path):
    menu = menus.MENUS[path]
    return [row for row in router.items(path) if menus.owner_key(menu, row) is not None]


@pytest.mark.parametrize("host", ["hq", "br1", "v6a", "v6b"])
def test_revealed_script_imports_into_the_lab_and_reads_back_as_planned(host):
    plan = plans()[host]
    router = _router(host)
    roslab_script.import_rsc(router, rsc.render(plan, host=host, reveal_secrets=True))
    for path in IPSEC_MENUS:
        menu = menus.MENUS[path]
        rows = _owned_rows(router, path)
        wanted = plan[menu.section]
        assert len(rows) == len(wanted), path
        for item, row in zip(wanted, rows):
            for key, value in item.items():
                assert row.get(key.replace("_", "-")) == value, (path, key, row)


def test_hidden_script_imports_with_the_placeholder_as_secret():
    # what a reviewer would paste: it runs, and the secret is obviously not a real key
    router = _router("hq")
    roslab_script.import_rsc(router, rsc.render(plans()["hq"]))
    assert [row["secret"] for row in _owned_rows(router, "/ip/ipsec/identity")] == [rsc.SECRET_PLACEHOLDER]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=40))
def test_any_ascii_comment_survives_import(text):
    router = _router("x")
    roslab_script.import_rsc(router, "/ip ipsec proposal\nadd name=p comment=%s\n" % rsc.quote(text))
    row = [r for r in router.items("/ip/ipsec/proposal") if r["name"] == "p"][0]
    assert row.get("comment", "") == text
