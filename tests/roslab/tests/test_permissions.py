"""The RouterOS permission model over the API (manual "User"): /user/group policies decide what a
logged-in user may read and write, and whether secrets are printed."""

import librouteros
import pytest
from librouteros.exceptions import TrapError

from labfixtures import lab_api
from roslab.menus import USER_GROUPS

PEER = ("ip", "ipsec", "peer")
IDENTITY = ("ip", "ipsec", "identity")
FILTER = ("ip", "firewall", "filter")


@pytest.fixture
def hub(make_lab):
    lab = make_lab({"routers": {"hub": {}}}, api_ssl=False, fabric=False)
    admin = lab_api(lab)
    admin.path(*PEER).add(name="p1", address="198.51.100.2")
    admin.path(*IDENTITY).add(peer="p1", secret="Sekret-0123456789")
    users = admin.path("user")
    groups = admin.path("user", "group")
    groups.add(name="noc-ro", policy="read,api")                    # no sensitive
    groups.add(name="no-api", policy="read,write,sensitive,ssh")    # no api
    for name, group in (("reader", "read"), ("writer", "write"), ("ro", "noc-ro"), ("ssh", "no-api")):
        users.add(name=name, group=group, password="pw-" + name)
    admin.close()
    return lab


def login(lab, name):
    return lab_api(lab, username=name, password="pw-" + name)


def test_builtin_groups_are_the_manuals():
    # manual "User", Default groups: even read includes sensitive; only full has policy and ftp
    groups = dict(USER_GROUPS)
    assert sorted(groups) == ["full", "read", "write"]
    assert "sensitive" in groups["read"].split(",") and "!write" in groups["read"].split(",")
    assert "!policy" in groups["write"].split(",") and "policy" in groups["full"].split(",")


def test_group_print(hub):
    admin = lab_api(hub)
    printed = dict((g["name"], g["policy"]) for g in admin.path("user", "group"))
    admin.close()
    assert printed["read"] == dict(USER_GROUPS)["read"] and printed["noc-ro"] == "read,api"


def test_a_read_user_reads_but_cannot_write(hub):
    api = login(hub, "reader")
    try:
        assert [p["name"] for p in api.path(*PEER)] == ["p1"]
        # the read group has sensitive (manual): the secret prints
        assert [i["secret"] for i in api.path(*IDENTITY)] == ["Sekret-0123456789"]
        for write in (lambda: api.path(*FILTER).add(chain="input", action="accept"),
                      lambda: api.path(*PEER).update(**{".id": "*1", "comment": "x"}),
                      lambda: api.path(*PEER).remove("*1")):
            with pytest.raises(TrapError, match=r"^not enough permissions \(9\)$"):
                write()
        # the session stays usable after the refusal
        assert len(list(api.path(*PEER))) == 1
    finally:
        api.close()
    admin = lab_api(hub)
    assert [r for r in admin.path(*FILTER) if r.get("chain") == "input"] == []
    admin.close()


def test_without_sensitive_secrets_are_not_printed(hub):
    api = login(hub, "ro")
    try:
        identities = list(api.path(*IDENTITY))
        assert identities and "secret" not in identities[0] and identities[0]["peer"] == "p1"
    finally:
        api.close()


def test_write_but_not_user_management(hub):
    api = login(hub, "writer")
    try:
        api.path(*FILTER).add(chain="input", action="accept", comment="by writer")
        with pytest.raises(TrapError, match=r"not enough permissions \(9\)"):
            api.path("user").add(name="evil", group="full", password="x")
        with pytest.raises(TrapError, match=r"not enough permissions \(9\)"):
            api.path("user", "group").add(name="evil", policy="read,write,policy,api")
    finally:
        api.close()


def test_a_group_without_api_cannot_log_in(hub):
    with pytest.raises(librouteros.exceptions.TrapError, match="invalid user name or password"):
        login(hub, "ssh")


def test_a_user_needs_an_existing_group(hub):
    admin = lab_api(hub)
    try:
        with pytest.raises(TrapError):
            admin.path("user").add(name="x", group="nonexistent", password="x")
    finally:
        admin.close()
