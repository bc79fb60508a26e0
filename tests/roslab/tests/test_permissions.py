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


def test_ip_service_has_the_manuals_properties(make_lab):
    lab = make_lab({"routers": {"new": {"version": "7.22.2"}, "old": {"version": "7.15.2"}}}, api_ssl=False,
                   fabric=False)
    api = lab_api(lab, "new")
    try:
        service = dict((r["name"], r) for r in api.path("ip", "service"))["api"]
        assert (str(service["max-sessions"]), service["certificate"], service["tls-version"], service["vrf"]) == (
            "20", "none", "any", "main")
        services = api.path("ip", "service")
        for bad in ({"max-sessions": "0"}, {"max-sessions": "1001"}, {"certificate": "nonexistent"},
                    {"tls-version": "only-1.3"}, {"vrf": "blue"}):
            with pytest.raises(TrapError):
                services.update(**dict(bad, **{".id": service[".id"]}))
        services.update(**{".id": service[".id"], "tls-version": "only-1.2"})
    finally:
        api.close()
    old = lab_api(lab, "old")
    try:
        # max-sessions came with 7.16 (inspect: the set command has it from the 7.16.1 tree)
        assert "max-sessions" not in dict((r["name"], r) for r in old.path("ip", "service"))["api"]
    finally:
        old.close()


def test_max_sessions_is_enforced(make_lab):
    lab = make_lab({"routers": {"hub": {}}}, api_ssl=False, fabric=False)
    admin = lab_api(lab)
    service = dict((r["name"], r) for r in admin.path("ip", "service"))["api"]
    admin.path("ip", "service").update(**{".id": service[".id"], "max-sessions": "2"})
    second = lab_api(lab)
    try:
        with pytest.raises(Exception):
            lab_api(lab, timeout=2).close()   # a third session is not served
    finally:
        second.close()
    import time
    deadline = time.monotonic() + 5
    while True:  # the closed session frees its place
        try:
            lab_api(lab, timeout=2).close()
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    admin.close()
