"""Conformance: UNMODIFIED librouteros 4.2.2 against lab routers (real ``roslab.menus`` routers).

What a real client does on the wire — login, print, add (``=ret=``), update, remove, queries via
``select().where()``, traps, ``!empty``, ``/quit``, api-ssl via ``ssl_wrapper``, the async client —
must work against the lab exactly as against a router, and lab faults must surface the way a
broken network would.
"""

import asyncio

import librouteros
import pytest
from librouteros.exceptions import ConnectionClosed, FatalError, TrapError
from librouteros.query import Key

ADDRESS_LIST = "/ip/firewall/address-list"


def test_login_and_print(api):
    profiles = tuple(api.path("/ip/ipsec/profile"))
    assert any(p.get("name") == "default" for p in profiles)
    # librouteros turns "true"/"false" into booleans and "*1" stays an opaque string
    assert all(isinstance(p[".id"], str) and p[".id"].startswith("*") for p in profiles)


def test_wrong_password_is_trap_error(lab):
    with pytest.raises(TrapError) as info:
        librouteros.connect(host="127.0.0.1", port=lab.ports["hub"]["api"],
                            username="admin", password="wrong", timeout=5)
    assert info.value.message == "invalid user name or password (6)"


def test_add_update_remove_cycle(api):
    path = api.path(ADDRESS_LIST)
    item = path.add(list="blocked", address="192.0.2.10", comment="first")
    assert item.startswith("*")
    path.update(**{".id": item, "comment": "second"})
    rows = [r for r in path if r[".id"] == item]
    assert len(rows) == 1
    assert rows[0]["comment"] == "second" and rows[0]["list"] == "blocked"
    path.remove(item)
    assert [r for r in path if r[".id"] == item] == []


def test_select_where_uses_queries(api):
    path = api.path(ADDRESS_LIST)
    ids = {path.add(list="q", address="192.0.2.%d" % i) for i in range(1, 4)}
    path.add(list="other", address="192.0.2.50")
    got = tuple(path.select(Key(".id"), Key("address")).where(Key("list") == "q"))
    assert {r[".id"] for r in got} == ids
    assert all(set(r) <= {".id", "address"} for r in got)  # .proplist honoured
    got = tuple(path.select(Key("address")).where(Key("list") == "q",
                                                  Key("address") == "192.0.2.2"))
    assert [r["address"] for r in got] == ["192.0.2.2"]
    # matches nothing: the router sends !empty (7.18+), librouteros yields nothing
    assert tuple(path.select(Key("address")).where(Key("list") == "none")) == ()


def test_trap_leaves_session_usable(api):
    path = api.path(ADDRESS_LIST)
    with pytest.raises(TrapError) as info:
        path.update(**{".id": "*FFFF", "comment": "x"})
    assert info.value.message
    with pytest.raises(TrapError) as info:
        path.add(list="x", address="192.0.2.1", **{"no-such-arg": "1"})
    assert "no-such-arg" in info.value.message
    # the next commands on the same connection work: an add and a print that finds it
    new_id = path.add(list="trap-then-add", address="192.0.2.77")
    assert [(r[".id"], r["address"]) for r in path if r["list"] == "trap-then-add"] == [(new_id, "192.0.2.77")]


def test_quit_is_fatal(api):
    with pytest.raises(FatalError) as info:
        tuple(api("/quit"))
    assert str(info.value) == "session terminated on request"


def test_api_ssl_with_ssl_wrapper(lab, connect):
    api = connect(lab, "spoke1", tls=True)
    try:
        item = api.path(ADDRESS_LIST).add(list="tls", address="192.0.2.77")
        assert item.startswith("*")
    finally:
        api.close()
    assert any(r.get("list") == "tls" for r in lab.router("spoke1").items(ADDRESS_LIST))


def test_async_client(lab):
    async def run():
        api = await librouteros.async_connect(host="127.0.0.1", port=lab.ports["hub"]["api"],
                                              username="admin", password="", timeout=10)
        try:
            return [r async for r in api.path("/ip/ipsec/proposal")]
        finally:
            await api.close()
    proposals = asyncio.run(run())
    assert any(p.get("name") == "default" for p in proposals)


def test_configuration_survives_reboot_and_connections_drop(lab, api, connect):
    item = api.path(ADDRESS_LIST).add(list="persist", address="192.0.2.99")
    lab.reboot("hub")
    with pytest.raises((ConnectionClosed, ConnectionError, OSError)):
        tuple(api.path(ADDRESS_LIST))
    again = connect(lab)
    try:
        rows = tuple(again.path(ADDRESS_LIST).select(Key(".id")).where(Key("list") == "persist"))
        assert [r[".id"] for r in rows] == [item]
    finally:
        again.close()


def test_reset_returns_to_factory_defaults(lab, api, connect):
    api.path(ADDRESS_LIST).add(list="gone", address="192.0.2.98")
    lab.reset("hub")
    again = connect(lab)
    try:
        assert [r for r in again.path(ADDRESS_LIST) if r.get("list") == "gone"] == []
    finally:
        again.close()


def test_fault_drop_after_surfaces_as_connection_closed(lab, api):
    path = api.path(ADDRESS_LIST)
    lab.fault_drop_after("hub", 1, when="after")
    with pytest.raises((ConnectionClosed, ConnectionError, OSError)):
        path.add(list="dropped", address="192.0.2.60")
    # executed before the drop: a retrying client must find it
    assert any(r.get("list") == "dropped" for r in lab.router("hub").items(ADDRESS_LIST))


def test_fault_drop_before_loses_the_command(lab, api):
    lab.fault_drop_after("hub", 1, when="before")
    with pytest.raises((ConnectionClosed, ConnectionError, OSError)):
        api.path(ADDRESS_LIST).add(list="lost", address="192.0.2.61")
    assert not any(r.get("list") == "lost" for r in lab.router("hub").items(ADDRESS_LIST))


def test_fault_delay_trips_client_timeout(lab, connect):
    lab.fault_delay("hub", 2)
    with pytest.raises(OSError):  # socket timeout: login itself is delayed too
        connect(lab, timeout=0.5)
    lab.clear_faults("hub")
    connect(lab).close()


def test_router_down_refuses_connections(lab, connect):
    lab.router_down("spoke1")
    with pytest.raises(OSError):
        connect(lab, "spoke1")
    lab.router_up("spoke1")
    connect(lab, "spoke1").close()


def test_empty_reply_only_from_7_18(make_lab, connect):
    from roslab.protocol import ApiClient

    lab = make_lab({"routers": {"old": {"version": "7.12.2"}, "new": {"version": "7.22.2"}}},
                   api_ssl=False)
    wire = {}
    for name in ("old", "new"):
        with ApiClient("127.0.0.1", lab.ports[name]["api"]) as raw:
            assert raw.login()
            wire[name] = raw.talk(ADDRESS_LIST + "/print", "?list=none")
        api = connect(lab, name)
        try:  # librouteros gives the same (empty) answer either way
            path = api.path(ADDRESS_LIST)
            assert tuple(path.select(Key("address")).where(Key("list") == "none")) == ()
        finally:
            api.close()
    assert wire == {"old": [["!done"]], "new": [["!empty"], ["!done"]]}



def test_real_configuration_survives_lab_restart(make_lab, connect, tmp_path):
    state = tmp_path / "restart"
    topology = {"routers": {"edge": {"version": "7.22.2"}}}
    lab = make_lab(topology, state_dir=state, api_ssl=False)
    api = connect(lab, "edge")
    item = api.path("/ip/ipsec/profile").add(name="strong", **{"enc-algorithm": "aes-256"})
    api.close()
    lab.stop()
    again = make_lab(topology, state_dir=state, api_ssl=False)
    api = connect(again, "edge")
    try:
        rows = tuple(api.path("/ip/ipsec/profile").select(Key(".id"), Key("enc-algorithm"))
                     .where(Key("name") == "strong"))
        assert rows == ({".id": item, "enc-algorithm": "aes-256"},)
    finally:
        api.close()


def test_many_real_routers_answer(make_lab, connect):
    lab = make_lab(routers=100, api_ssl=False)
    for name in ("r1", "r50", "r100"):
        api = connect(lab, name)
        try:
            assert [g["name"] for g in api.path("/ip/ipsec/policy/group")] == ["default"]
        finally:
            api.close()
