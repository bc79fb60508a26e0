"""API commands with their own reply shapes, over the wire: ``listen`` with ``/cancel`` (spec §1)
and ``/import`` of a ``/file`` script."""

import librouteros
import pytest
from librouteros.exceptions import TrapError

from roslab.protocol import ApiClient

ADDRESS_LIST = "/ip/firewall/address-list"


@pytest.fixture
def hub(make_lab):
    lab = make_lab({"routers": {"hub": {"interfaces": [{"name": "ether1"}],
                                        "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"}]}}},
                   api_ssl=False, fabric=False)
    return lab


def raw(lab):
    client = ApiClient("127.0.0.1", lab.ports["hub"]["api"])
    assert client.login()
    return client


def words_of(sentence):
    return dict(w[1:].split("=", 1) for w in sentence[1:] if w.startswith("="))


def test_listen_streams_adds_changes_and_removals_only(hub):
    client = raw(hub)
    try:
        before = client.talk(ADDRESS_LIST + "/add", "=list=old", "=address=192.0.2.1")[-1]
        client.send(ADDRESS_LIST + "/listen", "=.proplist=.id,address,comment", ".tag=L")
        # the listen does not hold the connection: other commands still answer
        added = client.talk(ADDRESS_LIST + "/add", "=list=new", "=address=192.0.2.2")
        assert added[0][0] == "!re" and added[0][-1] == ".tag=L"      # the change, streamed first
        new_id = added[-1][1].split("=", 2)[2]
        assert words_of(added[0]) == {".id": new_id, "address": "192.0.2.2"}
        changed = client.talk(ADDRESS_LIST + "/set", "=.id=" + new_id, "=comment=x")
        assert words_of(changed[0]) == {".id": new_id, "address": "192.0.2.2", "comment": "x"}
        # a write that changes no row sends nothing; a removal sends .dead
        assert client.talk(ADDRESS_LIST + "/set", "=.id=" + new_id, "=comment=x") == [["!done"]]
        removed = client.talk(ADDRESS_LIST + "/remove", "=.id=" + new_id)
        assert removed[0] == ["!re", "=.id=" + new_id, "=.dead=yes", ".tag=L"]
        # changes to other menus are not this listen's business
        assert client.talk("/ip/ipsec/peer/add", "=name=p", "=address=192.0.2.9")[0][0] == "!done"
        client.send("/cancel", ".tag=C")            # untagged cancel: every running command
        replies = [client.read_sentence() for _ in range(3)]
        assert replies == [["!trap", "=category=2", "=message=interrupted", ".tag=L"], ["!done", ".tag=L"],
                           ["!done", ".tag=C"]]
        assert before[0] == "!done"
    finally:
        client.close()


def test_listen_on_an_unknown_menu_traps_and_a_closed_connection_stops_listening(hub):
    router = hub.router("hub")
    client = raw(hub)
    try:
        replies = client.talk("/ip/firewall/no-such-menu/listen", ".tag=X")
        assert replies[0][0] == "!trap" and replies[-1] == ["!done", ".tag=X"]
        listeners = len(router._listeners)
        client.send(ADDRESS_LIST + "/listen", ".tag=L")
        client.talk("/system/identity/print")
        assert len(router._listeners) == listeners + 1
    finally:
        client.close()
    api = librouteros.connect(host="127.0.0.1", port=hub.ports["hub"]["api"], username="admin", password="")
    try:
        api.path(*ADDRESS_LIST.strip("/").split("/")).add(list="after", address="192.0.2.3")
    finally:
        api.close()
    assert len(router._listeners) == listeners


def test_import_over_the_api(hub):
    api = librouteros.connect(host="127.0.0.1", port=hub.ports["hub"]["api"], username="admin", password="")
    try:
        api.path("file").add(name="cfg.rsc", contents="/ip firewall address-list\nadd address=192.0.2.7 list=rsc\n")
        assert tuple(api("/import", **{"file-name": "cfg.rsc"})) == ()
        assert [r["address"] for r in api.path("ip", "firewall", "address-list") if r["list"] == "rsc"] == ["192.0.2.7"]
        with pytest.raises(TrapError):
            tuple(api("/import", **{"file-name": "missing.rsc"}))
    finally:
        api.close()


def test_api_usage_counts_logins_and_each_command_path(hub):
    """The economy gates of the collection's tests read these counters: they must count what the
    wire carried (a failed login is no login, every sentence of a command is counted once)."""
    hub.reset_api_usage()
    client = raw(hub)
    try:
        client.talk(ADDRESS_LIST + "/print")
        client.talk(ADDRESS_LIST + "/print")
        client.talk(ADDRESS_LIST + "/add", "=list=l", "=address=192.0.2.7")
    finally:
        client.close()
    bad = ApiClient("127.0.0.1", hub.ports["hub"]["api"])
    try:
        assert not bad.login("admin", "wrong")
    finally:
        bad.close()
    usage = hub.api_usage()["hub"]
    assert usage["logins"] == 1
    assert usage["commands"][ADDRESS_LIST + "/print"] == 2
    assert usage["commands"][ADDRESS_LIST + "/add"] == 1
    assert usage["commands"]["/login"] == 2
    hub.reset_api_usage()
    assert hub.api_usage()["hub"] == {"logins": 0, "commands": {}, "most_in_transit": 0}
