"""Independent fidelity audit: the lab against RouterOS FACTS (routeros7-behaviour.md §1).

Every test checks one claim of the reference (``shared/reference/routeros7-behaviour.md``)
through an UNMODIFIED ``librouteros`` client, or, where librouteros hides the wire (``!empty``,
``.tag``, booleans before conversion, ``!fatal``), through the minimal independent codec below.
Where the reference marks a text UNCONFIRMED only the error class (a trap) is asserted.

The helpers here (``VersionLab``, ``RawApi``, ``expect_trap``...) are shared by the sibling
``test_conformance_ref_*.py`` modules. One lab per module: one router per RouterOS version.
"""

import itertools
import re
import socket

import librouteros
import pytest
from librouteros.exceptions import FatalError, TrapError
from librouteros.query import Key

from roslab.control import Lab
from roslab.menus import build_router

VERSIONS = ("7.12.2", "7.16.1", "7.18", "7.20.8", "7.21.5", "7.22.2", "7.24")
CURRENT = "7.22.2"
ID_RE = re.compile(r"^\*[0-9A-F]+$")
ADDRESS_LIST = "/ip/firewall/address-list"
FILTER = "/ip/firewall/filter"
FASTTRACK_DUMMY_COMMENT = "special dummy rule to show fasttrack counters"

_names = itertools.count(1)


def unique(prefix="ref"):
    """A name no other test in the session uses (tests share one router per version)."""
    return "%s-%d" % (prefix, next(_names))


def router_name(version):
    return "v" + version.replace(".", "_")


# ------------------------------------------------------------------------------------------------
# one lab, one router per version


class VersionLab:
    """A started lab with one router per RouterOS version and cached librouteros connections."""

    def __init__(self, state_dir, versions=VERSIONS, api_ssl=False):
        topology = {"routers": {
            router_name(v): {"version": v,
                             "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                             "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"}]}
            for v in versions}}
        self.lab = Lab.from_topology(topology, base_port=0, state_dir=state_dir, api_ssl=api_ssl,
                                     save_delay=0.5, router_factory=build_router)
        self.lab.start()
        self._apis = {}

    def port(self, version=CURRENT, tls=False):
        return self.lab.ports[router_name(version)]["api_ssl" if tls else "api"]

    def connect(self, version=CURRENT, **kwargs):
        kwargs.setdefault("timeout", 10)
        return librouteros.connect(host="127.0.0.1", port=self.port(version), username="admin",
                                   password="", **kwargs)

    def api(self, version=CURRENT):
        if version not in self._apis:
            self._apis[version] = self.connect(version)
        return self._apis[version]

    def raw(self, version=CURRENT, login=True):
        client = RawApi(self.port(version))
        if login:
            assert client.talk("/login", "=name=admin", "=password=") == [["!done"]]
        return client

    def reboot(self, version):
        """Reboot one router (its saved configuration survives); cached connections are dropped."""
        stale = self._apis.pop(version, None)
        self.lab.reboot(router_name(version))
        if stale is not None:
            try:
                stale.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def close(self):
        for api in self._apis.values():
            try:
                api.close()
            except Exception:  # pylint: disable=broad-except
                pass
        self.lab.stop()


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    lab = VersionLab(tmp_path_factory.mktemp("reflab"), api_ssl=True)
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def api(versions):
    return versions.api(CURRENT)


# ------------------------------------------------------------------------------------------------
# an independent minimal API codec (MikroTik manual framing), for what librouteros hides


def encode_length(length):
    if length < 0x80:
        return bytes([length])
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    return b"\xf0" + length.to_bytes(4, "big")


def encode_sentence(words):
    out = bytearray()
    for word in words:
        data = word.encode("utf-8")
        out += encode_length(len(data)) + data
    return bytes(out + b"\x00")


class RawApi:
    """Blocking raw sentences: ``send`` words, ``read`` a sentence, ``talk`` until !done/!fatal."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def _take(self, count):
        while len(self.buffer) < count:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the router")
            self.buffer += data
        chunk, self.buffer = self.buffer[:count], self.buffer[count:]
        return chunk

    def _length(self):
        first = self._take(1)[0]
        if first < 0x80:
            return first
        if first < 0xC0:
            return ((first & 0x3F) << 8) | self._take(1)[0]
        if first < 0xE0:
            return ((first & 0x1F) << 16) | int.from_bytes(self._take(2), "big")
        if first < 0xF0:
            return ((first & 0x0F) << 24) | int.from_bytes(self._take(3), "big")
        if first == 0xF0:
            return int.from_bytes(self._take(4), "big")
        raise AssertionError("reserved control byte 0x%02X from the router" % first)

    def send(self, *words):
        self.sock.sendall(encode_sentence(words))

    def send_bytes(self, data):
        self.sock.sendall(data)

    def read(self):
        words = []
        while True:
            length = self._length()
            if length == 0:
                return words
            words.append(self._take(length).decode("utf-8"))

    def talk(self, *words):
        if words:
            self.send(*words)
        sentences = []
        while True:
            sentence = self.read()
            if not sentence:
                continue
            sentences.append(sentence)
            if sentence[0] in ("!done", "!fatal"):
                return sentences

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def attrs(sentence):
    """``=k=v`` words of one raw sentence as a dict (``.tag`` under '.tag')."""
    out = {}
    for word in sentence[1:]:
        if word.startswith("="):
            key, _, value = word[1:].partition("=")
            out[key] = value
        elif word.startswith(".tag="):
            out[".tag"] = word[5:]
    return out


# ------------------------------------------------------------------------------------------------
# librouteros helpers


def run(api, command, **kwargs):
    return tuple(api(command, **kwargs))


def raw(api, command, *words):
    return tuple(api.rawCmd(command, *words))


def expect_trap(api, command, *words, **kwargs):
    """The TrapError a command raises (raw words or keyword arguments)."""
    with pytest.raises(TrapError) as info:
        if words:
            raw(api, command, *words)
        else:
            run(api, command, **kwargs)
    return info.value


def rows(api, menu, *queries):
    return raw(api, menu + "/print", *queries)


def by_id(api, menu, item_id):
    found = [r for r in rows(api, menu, "?.id=" + item_id)]
    assert len(found) == 1, found
    return found[0]


def add(api, menu, **kwargs):
    return api.path(menu).add(**kwargs)


def new_list_entries(api, count=2, **extra):
    """Fresh address-list entries in one new list; returns (list name, [ids])."""
    name = unique("list")
    ids = [add(api, ADDRESS_LIST, list=name, address="192.0.2.%d" % (i + 1), **extra)
           for i in range(count)]
    return name, ids


def ids_of(found):
    return [r[".id"] for r in found if ".id" in r]


# ================================================================================================
# §1 framing


def test_two_byte_word_length_round_trips(api):
    comment = "c" * 0x90  # 0x80 <= length < 0x4000: 2-byte prefix both ways
    item = add(api, ADDRESS_LIST, list=unique(), address="192.0.2.1", comment=comment)
    assert by_id(api, ADDRESS_LIST, item)["comment"] == comment


def test_three_byte_word_length_is_decoded(api):
    # a long query word that matches nothing: the router must decode the 3-byte prefix
    assert rows(api, ADDRESS_LIST, "?comment=" + "q" * 0x4100) == ()


def test_four_byte_word_length_is_decoded(api):
    assert rows(api, ADDRESS_LIST, "?comment=" + "q" * 0x200100) == ()


def test_empty_sentences_are_ignored(versions):
    with versions.raw() as client:
        client.send_bytes(b"\x00\x00")
        replies = client.talk("/ip/ipsec/profile/print", "?name=default")
    assert [r[0] for r in replies] == ["!re", "!done"]


def test_attribute_value_may_contain_equals_signs(api):
    item = add(api, ADDRESS_LIST, list=unique(), address="192.0.2.2", comment="a=b==c=")
    assert by_id(api, ADDRESS_LIST, item)["comment"] == "a=b==c="


# §1 replies


def test_add_reply_is_done_with_ret_id(versions):
    with versions.raw() as client:
        replies = client.talk(ADDRESS_LIST + "/add", "=list=" + unique(), "=address=192.0.2.3")
    assert len(replies) == 1 and replies[0][0] == "!done"
    assert ID_RE.match(attrs(replies[0])["ret"])


def test_trap_carries_only_message_and_category_then_done(versions):
    with versions.raw() as client:
        replies = client.talk(ADDRESS_LIST + "/add", "=list=x", "=address=192.0.2.4",
                              "=no-such-arg=1")
    assert [r[0] for r in replies] == ["!trap", "!done"]
    assert set(attrs(replies[0])) <= {"message", "category"}
    assert attrs(replies[0])["message"] == "unknown parameter no-such-arg"
    assert replies[1] == ["!done"]


def test_quit_is_fatal_with_reason_then_closed(versions):
    with versions.raw() as client:
        replies = client.talk("/quit")
        assert replies == [["!fatal", "session terminated on request"]]
        with pytest.raises((ConnectionError, OSError)):
            client.read()


def test_quit_through_librouteros_is_fatal_error(versions):
    api = versions.connect()
    try:
        with pytest.raises(FatalError) as info:
            run(api, "/quit")
        assert str(info.value) == "session terminated on request"
    finally:
        api.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_print_matching_nothing_sends_empty_from_7_18(versions, version):
    with versions.raw(version) as client:
        replies = client.talk("/ip/ipsec/profile/print", "?name=no-such-profile")
    has_empty = tuple(int(p) for p in version.split(".")[:2]) >= (7, 18)
    assert replies == ([["!empty"], ["!done"]] if has_empty else [["!done"]])


def test_empty_echoes_the_tag(versions):
    with versions.raw("7.22.2") as client:
        replies = client.talk("/ip/ipsec/profile/print", "?name=no-such-profile", ".tag=5")
    assert replies == [["!empty", ".tag=5"], ["!done", ".tag=5"]]


def test_print_matching_something_sends_no_empty(versions):
    with versions.raw("7.22.2") as client:
        replies = client.talk("/ip/ipsec/profile/print", "?name=default")
    assert [r[0] for r in replies] == ["!re", "!done"]


def test_librouteros_ignores_empty(versions):
    api = versions.api("7.24")
    assert tuple(api.path("/ip/ipsec/profile").select(Key("name"))
                 .where(Key("name") == "nothing-here")) == ()


# §1 .tag


def test_tag_is_echoed_on_every_reply_sentence(versions):
    with versions.raw() as client:
        replies = client.talk("/ip/ipsec/proposal/print", ".tag=abc")
        assert all(attrs(r).get(".tag") == "abc" for r in replies)
        replies = client.talk("/ip/ipsec/proposal/set", "=.id=*FFFFF", "=comment=x", ".tag=t7")
    assert [r[0] for r in replies] == ["!trap", "!done"]
    assert all(attrs(r).get(".tag") == "t7" for r in replies)


def test_untagged_replies_carry_no_tag(versions):
    with versions.raw() as client:
        replies = client.talk("/ip/ipsec/proposal/print")
        replies += client.talk("/ip/ipsec/proposal/set", "=.id=*FFFFF", "=comment=x")
    assert not any(w.startswith(".tag") for r in replies for w in r)


def test_tagged_add_carries_ret_and_tag(versions):
    with versions.raw() as client:
        replies = client.talk(ADDRESS_LIST + "/add", "=list=" + unique(), "=address=192.0.2.5",
                              ".tag=9")
    assert len(replies) == 1 and replies[0][0] == "!done"
    assert attrs(replies[0])[".tag"] == "9" and ID_RE.match(attrs(replies[0])["ret"])


# §1 login


def test_login_with_plain_password_returns_bare_done(versions):
    with versions.raw(login=False) as client:
        assert client.talk("/login", "=name=admin", "=password=") == [["!done"]]


@pytest.mark.parametrize("user,password", [("admin", "wrong"), ("nobody", "")])
def test_login_failure_text(versions, user, password):
    with pytest.raises(TrapError) as info:
        librouteros.connect(host="127.0.0.1", port=versions.port(), username=user,
                            password=password, timeout=5)
    assert info.value.message == "invalid user name or password (6)"


def test_command_before_login_is_refused(versions):
    # UNCONFIRMED whether !trap or !fatal: assert only that it is refused and nothing is printed
    with versions.raw(login=False) as client:
        client.send("/ip/ipsec/profile/print")
        first = client.read()
    assert first[0] in ("!trap", "!fatal")


def test_api_ssl_port_serves_the_api(versions):
    context = versions.lab.client_ssl_context()
    api = librouteros.connect(
        host="127.0.0.1", port=versions.port(tls=True), username="admin", password="", timeout=10,
        ssl_wrapper=lambda sock: context.wrap_socket(sock, server_hostname="127.0.0.1"))
    try:
        assert [r["name"] for r in api.path("/ip/ipsec/profile")] == ["default"]
    finally:
        api.close()


# ================================================================================================
# §1 print


def test_proplist_returns_only_the_listed_properties(api):
    found = raw(api, "/ip/ipsec/profile/print", "=.proplist=name,hash-algorithm")
    assert found == ({"name": "default", "hash-algorithm": "sha1"},)


def test_proplist_missing_property_is_simply_absent(api):
    name, ids = new_list_entries(api, 1)
    found = raw(api, ADDRESS_LIST + "/print", "=.proplist=.id,comment,list", "?list=" + name)
    assert found == ({".id": ids[0], "list": name},)


def test_count_only_returns_no_item_rows(api):
    name, ids = new_list_entries(api, 3)
    found = raw(api, ADDRESS_LIST + "/print", "=count-only=", "?list=" + name)
    # reply shape UNCONFIRMED (=ret=N on !done); items themselves must not be listed
    assert not any(".id" in r for r in found)
    for row in found:
        if "ret" in row:
            assert int(row["ret"]) == len(ids)


def test_detail_flag_is_accepted(api):
    found = raw(api, "/ip/ipsec/proposal/print", "=detail=", "?name=default")
    assert [r["name"] for r in found] == ["default"]


# §1 queries: the evaluation stack


@pytest.fixture(scope="module")
def query_items(api):
    """Two lists: A (two entries, one commented) and B (one entry)."""
    list_a, list_b = unique("qa"), unique("qb")
    a1 = add(api, ADDRESS_LIST, list=list_a, address="192.0.2.11", comment="note")
    a2 = add(api, ADDRESS_LIST, list=list_a, address="192.0.2.12")
    b1 = add(api, ADDRESS_LIST, list=list_b, address="192.0.2.13")
    return {"A": list_a, "B": list_b, "a1": a1, "a2": a2, "b1": b1}


def mine(found, query_items):
    """Only the rows of the query fixture's items (the router holds other tests' items too)."""
    ours = {query_items["a1"], query_items["a2"], query_items["b1"]}
    return sorted(i for i in ids_of(found) if i in ours)


def test_query_equality(api, query_items):
    q = query_items
    assert mine(rows(api, ADDRESS_LIST, "?list=" + q["A"]), q) == sorted([q["a1"], q["a2"]])


def test_query_equality_with_leading_equals(api, query_items):
    q = query_items
    assert mine(rows(api, ADDRESS_LIST, "?=list=" + q["A"]), q) == sorted([q["a1"], q["a2"]])


def test_query_has_property(api, query_items):
    q = query_items
    found = rows(api, ADDRESS_LIST, "?comment", "?list=" + q["A"])
    assert mine(found, q) == [q["a1"]]


def test_query_lacks_property(api, query_items):
    q = query_items
    found = rows(api, ADDRESS_LIST, "?-comment", "?list=" + q["A"])
    assert mine(found, q) == [q["a2"]]


def test_query_or(api, query_items):
    q = query_items
    found = rows(api, ADDRESS_LIST, "?list=" + q["A"], "?list=" + q["B"], "?#|")
    assert mine(found, q) == sorted([q["a1"], q["a2"], q["b1"]])


def test_query_and(api, query_items):
    q = query_items
    found = rows(api, ADDRESS_LIST, "?list=" + q["A"], "?address=192.0.2.12", "?#&")
    assert mine(found, q) == [q["a2"]]


def test_query_not(api, query_items):
    q = query_items
    found = rows(api, ADDRESS_LIST, "?list=" + q["A"], "?#!")
    assert mine(found, q) == [q["b1"]]


def test_query_several_operations_in_one_word(api, query_items):
    # the manual's example form: ?type=ether ?type=vlan ?#|!  (neither)
    q = query_items
    found = rows(api, ADDRESS_LIST, "?list=" + q["A"], "?list=" + q["B"], "?#|!")
    assert mine(found, q) == []
    found = rows(api, ADDRESS_LIST, "?list=" + q["A"], "?address=192.0.2.13", "?#|!")
    assert mine(found, q) == []
    found = rows(api, ADDRESS_LIST, "?address=192.0.2.11", "?address=192.0.2.13", "?#|!")
    assert mine(found, q) == [q["a2"]]


def test_query_dot_pushes_a_copy_of_the_top(api, query_items):
    q = query_items
    # [A, copy A] then not the top: A and not A never holds
    assert mine(rows(api, ADDRESS_LIST, "?list=" + q["A"], "?#.!"), q) == []
    assert (mine(rows(api, ADDRESS_LIST, "?list=" + q["A"], "?#."), q)
            == sorted([q["a1"], q["a2"]]))


def test_query_digit_pushes_a_copy_of_a_stack_value(api, query_items):
    q = query_items
    # one value on the stack: index 0 is it, whichever end is counted from
    assert mine(rows(api, ADDRESS_LIST, "?list=" + q["A"], "?#0!"), q) == []
    assert (mine(rows(api, ADDRESS_LIST, "?list=" + q["A"], "?#0"), q)
            == sorted([q["a1"], q["a2"]]))


def test_query_initial_stack_is_all_true(api, query_items):
    q = query_items
    everything = sorted([q["a1"], q["a2"], q["b1"]])
    assert mine(rows(api, ADDRESS_LIST, "?#|"), q) == everything
    assert mine(rows(api, ADDRESS_LIST, "?#&"), q) == everything
    assert mine(rows(api, ADDRESS_LIST, "?#!"), q) == []


def test_query_any_false_value_left_fails_the_item(api, query_items):
    q = query_items
    assert mine(rows(api, ADDRESS_LIST, "?list=" + q["A"], "?list=" + q["B"]), q) == []


def test_query_less_and_greater_than(api):
    names = {}
    for failures in (3, 7, 20):
        name = unique("cmp")
        add(api, "/ip/ipsec/profile", name=name, **{"dpd-maximum-failures": failures})
        names[name] = failures
    above = {r["name"] for r in rows(api, "/ip/ipsec/profile", "?>dpd-maximum-failures=5")}
    below = {r["name"] for r in rows(api, "/ip/ipsec/profile", "?<dpd-maximum-failures=5")}
    assert {n for n in names if n in above} == {n for n, f in names.items() if f > 5}
    assert {n for n in names if n in below} == {n for n, f in names.items() if f < 5}


def test_librouteros_select_where_and_in(api, query_items):
    q = query_items
    path = api.path(ADDRESS_LIST)
    got = tuple(path.select(Key(".id"), Key("list")).where(Key("list").In(q["A"], q["B"])))
    assert mine(got, q) == sorted([q["a1"], q["a2"], q["b1"]])
    assert all(set(r) <= {".id", "list"} for r in got)
    got = tuple(path.select(Key(".id")).where(Key("list") != q["A"]))
    assert mine(got, q) == [q["b1"]]


# ================================================================================================
# §1 commands: add/set/remove/enable/disable, ids, move, place-before, unset, listen, cancel


def test_set_remove_enable_disable_take_id(api):
    name, (item, _) = new_list_entries(api)
    path = api.path(ADDRESS_LIST)
    path.update(**{".id": item, "comment": "via-id"})
    run(api, ADDRESS_LIST + "/disable", **{".id": item})
    assert by_id(api, ADDRESS_LIST, item)["disabled"] is True
    run(api, ADDRESS_LIST + "/enable", **{".id": item})
    row = by_id(api, ADDRESS_LIST, item)
    assert row["disabled"] is False and row["comment"] == "via-id"
    path.remove(item)
    assert rows(api, ADDRESS_LIST, "?.id=" + item) == ()


def test_set_remove_enable_disable_take_numbers(api):
    name, (item, _) = new_list_entries(api)
    run(api, ADDRESS_LIST + "/set", numbers=item, comment="via-numbers")
    run(api, ADDRESS_LIST + "/disable", numbers=item)
    row = by_id(api, ADDRESS_LIST, item)
    assert row["comment"] == "via-numbers" and row["disabled"] is True
    run(api, ADDRESS_LIST + "/enable", numbers=item)
    assert by_id(api, ADDRESS_LIST, item)["disabled"] is False
    run(api, ADDRESS_LIST + "/remove", numbers=item)
    assert rows(api, ADDRESS_LIST, "?.id=" + item) == ()


def test_id_may_be_a_comma_list(api):
    name, ids = new_list_entries(api, 3)
    run(api, ADDRESS_LIST + "/disable", **{".id": ",".join(ids[:2])})
    states = {r[".id"]: r["disabled"] for r in rows(api, ADDRESS_LIST, "?list=" + name)}
    assert states == {ids[0]: True, ids[1]: True, ids[2]: False}
    api.path(ADDRESS_LIST).remove(*ids)
    assert rows(api, ADDRESS_LIST, "?list=" + name) == ()


def own_filter_rules(api, chain):
    return ids_of(rows(api, FILTER, "?chain=" + chain))


def test_move_puts_item_before_destination(api):
    chain = unique("mv")
    first, second, third = (add(api, FILTER, chain=chain, action="accept", comment=str(i))
                            for i in range(3))
    run(api, FILTER + "/move", numbers=third, destination=first)
    assert own_filter_rules(api, chain) == [third, first, second]


def test_place_before_on_firewall_add(api):
    chain = unique("pb")
    first = add(api, FILTER, chain=chain, action="accept")
    second = add(api, FILTER, chain=chain, action="accept")
    placed = add(api, FILTER, chain=chain, action="drop", **{"place-before": second})
    assert own_filter_rules(api, chain) == [first, placed, second]


def test_place_before_needs_an_existing_id(api):
    chain = unique("pbx")
    expect_trap(api, FILTER + "/add", chain=chain, action="accept", **{"place-before": "*FFFFF"})
    assert own_filter_rules(api, chain) == []


def test_bang_prop_in_set_unsets_it(api):
    name, (item, _) = new_list_entries(api, comment="to-clear")
    raw(api, ADDRESS_LIST + "/set", "=.id=" + item, "=!comment=")
    assert "comment" not in by_id(api, ADDRESS_LIST, item)


def test_bang_prop_unsets_a_firewall_matcher(api):
    rule = add(api, FILTER, chain=unique("un"), action="accept", **{"src-address": "10.1.0.0/16"})
    raw(api, FILTER + "/set", "=.id=" + rule, "=!src-address=")
    assert "src-address" not in by_id(api, FILTER, rule)


def test_firewall_unset_command_with_value_name(api):
    rule = add(api, FILTER, chain=unique("un"), action="accept", **{"dst-address": "10.2.0.0/16"})
    run(api, FILTER + "/unset", numbers=rule, **{"value-name": "dst-address"})
    assert "dst-address" not in by_id(api, FILTER, rule)


@pytest.mark.parametrize("menu", ["/ip/ipsec/peer", "/ip/ipsec/profile", "/ip/ipsec/policy"])
def test_ipsec_menus_have_no_unset_command(api, menu):
    assert expect_trap(api, menu + "/unset", numbers="*1", **{"value-name": "comment"}).message \
        == "no such command"


# ================================================================================================
# §1 value conventions


def test_booleans_print_as_true_false_on_the_wire(versions):
    with versions.raw() as client:
        replies = client.talk("/ip/ipsec/profile/print", "?name=default")
    row = attrs(replies[0])
    assert row["nat-traversal"] == "true"
    assert row["default"] == "true"


@pytest.mark.parametrize("given,printed", [("yes", "true"), ("true", "true"),
                                           ("no", "false"), ("false", "false")])
def test_boolean_input_forms(versions, given, printed):
    with versions.raw() as client:
        done = client.talk(ADDRESS_LIST + "/add", "=list=" + unique(), "=address=192.0.2.30",
                           "=disabled=" + given)
        item = attrs(done[-1])["ret"]
        replies = client.talk(ADDRESS_LIST + "/print", "?.id=" + item)
    assert attrs(replies[0])["disabled"] == printed


def test_numbers_are_strings_on_the_wire(versions):
    with versions.raw() as client:
        replies = client.talk("/ip/ipsec/profile/print", "?name=default",
                              "=.proplist=dpd-maximum-failures,lifetime,lifebytes")
    # lifebytes=0 is the default, which a print leaves out (spec §1: a missing proplist
    # property is simply absent)
    assert attrs(replies[0]) == {"dpd-maximum-failures": "5", "lifetime": "1d"}


@pytest.mark.parametrize("given,printed", [("1h30m", "1h30m"), ("2m", "2m"), ("1d", "1d"),
                                           ("5400s", "1h30m"), ("90m", "1h30m")])
def test_durations_print_in_compact_form(api, given, printed):
    name = unique("dur")
    add(api, "/ip/ipsec/profile", name=name, lifetime=given)
    assert rows(api, "/ip/ipsec/profile", "?name=" + name)[0]["lifetime"] == printed


def test_ids_are_star_uppercase_hex(api):
    assert all(ID_RE.match(r[".id"]) for menu in ("/ip/ipsec/profile", FILTER, ADDRESS_LIST)
               for r in rows(api, menu))


def test_passive_peer_prints_no_address_port_or_local_address(api):
    name = unique("passive")
    add(api, "/ip/ipsec/peer", name=name, passive="yes")
    row = rows(api, "/ip/ipsec/peer", "?name=" + name)[0]
    assert not {"address", "port", "local-address"} & set(row)


def test_firewall_rule_prints_only_the_matchers_set(api):
    rule = add(api, FILTER, chain=unique("m"), action="accept", protocol="udp")
    row = by_id(api, FILTER, rule)
    for matcher in ("src-address", "dst-address", "dst-port", "src-port", "port",
                    "in-interface", "out-interface", "connection-state", "ipsec-policy",
                    "src-address-list", "dst-address-list", "limit", "tcp-flags"):
        assert matcher not in row
    assert row["protocol"] == "udp"


# ================================================================================================
# §1 error catalogue


def test_unknown_parameter_names_the_argument(api):
    trap = expect_trap(api, "/ip/ipsec/peer/add", name=unique(), **{"forced-external-ip": "1"})
    assert trap.message == "unknown parameter forced-external-ip"


def test_read_only_field_is_an_unknown_parameter(api):
    trap = expect_trap(api, "/ip/address/add", address="203.0.113.9/24", interface="ether2",
                       vrf="main")
    assert trap.message == "unknown parameter vrf"


def test_bad_enum_value(api):
    trap = expect_trap(api, "/ip/ipsec/profile/add", name=unique(), **{"hash-algorithm": "sha3"})
    assert (trap.message, trap.category) == ("input does not match any value of hash-algorithm", 1)


def test_reference_to_missing_interface(api):
    trap = expect_trap(api, "/ip/address/add", address="203.0.113.10/24", interface="nope0")
    assert (trap.message, trap.category) == ("input does not match any value of interface", 1)


def test_reference_to_missing_profile(api):
    trap = expect_trap(api, "/ip/ipsec/peer/add", name=unique(), profile="no-such-profile")
    assert (trap.message, trap.category) == ("input does not match any value of profile", 1)


@pytest.mark.parametrize("menu,args", [
    ("/ip/ipsec/peer", {"local-address": "not-an-ip"}),
    ("/ip/ipsec/profile", {"lifetime": "soon"}),
    ("/ip/ipsec/profile", {"dpd-maximum-failures": "many"}),
])
def test_malformed_scalar_is_refused(api, menu, args):
    # text "invalid value for argument X" is UNCONFIRMED over the API: assert the trap only
    expect_trap(api, menu + "/add", name=unique(), **args)


def test_missing_mandatory_argument_is_refused(api):
    expect_trap(api, ADDRESS_LIST + "/add", address="192.0.2.40")
    expect_trap(api, "/ip/ipsec/profile/add", **{"hash-algorithm": "sha256"})


@pytest.mark.parametrize("verb,kwargs", [("set", {"comment": "x"}), ("remove", {}),
                                         ("enable", {}), ("disable", {})])
def test_nonexistent_id(api, verb, kwargs):
    trap = expect_trap(api, ADDRESS_LIST + "/" + verb, **{".id": "*FFFFF"}, **kwargs)
    assert trap.message == "no such item (4)"


def test_duplicate_address_list_entry(api):
    name = unique()
    add(api, ADDRESS_LIST, list=name, address="192.0.2.50")
    trap = expect_trap(api, ADDRESS_LIST + "/add", list=name, address="192.0.2.50")
    assert trap.message == "failure: already have such entry"


def test_duplicate_script_name(api):
    name = unique("script")
    add(api, "/system/script", name=name, source=":log info x")
    trap = expect_trap(api, "/system/script/add", name=name, source=":log info y")
    assert trap.message == "failure: item with such name already exists"


def test_duplicate_ip_address(api):
    add(api, "/ip/address", address="203.0.113.1/24", interface="ether2")
    trap = expect_trap(api, "/ip/address/add", address="203.0.113.1/24", interface="ether2")
    assert trap.message == "failure: already have such address"


@pytest.mark.parametrize("menu,args", [
    ("/ip/ipsec/profile", {}), ("/ip/ipsec/proposal", {}), ("/ip/ipsec/peer", {}),
    ("/ip/ipsec/policy/group", {}),
])
def test_duplicate_name_in_ipsec_menus_is_refused(api, menu, args):
    name = unique("dup")
    add(api, menu, name=name, **args)
    expect_trap(api, menu + "/add", name=name, **args)  # text UNCONFIRMED
    assert len(rows(api, menu, "?name=" + name)) == 1


def dummy_rule(api):
    found = [r for r in rows(api, FILTER) if r.get("comment") == FASTTRACK_DUMMY_COMMENT]
    assert len(found) == 1, found
    return found[0]


def test_builtin_fasttrack_rule_cannot_be_removed(api):
    dummy = dummy_rule(api)
    trap = expect_trap(api, FILTER + "/remove", **{".id": dummy[".id"]})
    assert "cannot remove builtin" in trap.message  # exact prefix UNCONFIRMED
    assert dummy_rule(api)[".id"] == dummy[".id"]


def test_builtin_fasttrack_rule_cannot_be_moved(api):
    dummy = dummy_rule(api)
    rule = add(api, FILTER, chain=unique("mb"), action="accept")
    trap = expect_trap(api, FILTER + "/move", numbers=dummy[".id"], destination=rule)
    assert "cannot move builtin" in trap.message
    assert ids_of(rows(api, FILTER))[0] == dummy[".id"]


def test_nothing_can_be_moved_above_the_fasttrack_rule(api):
    dummy = dummy_rule(api)
    rule = add(api, FILTER, chain=unique("ma"), action="accept")
    expect_trap(api, FILTER + "/move", numbers=rule, destination=dummy[".id"])
    assert ids_of(rows(api, FILTER))[0] == dummy[".id"]


def test_nothing_can_be_placed_before_the_fasttrack_rule(api):
    dummy = dummy_rule(api)
    chain = unique("pd")
    expect_trap(api, FILTER + "/add", chain=chain, action="accept",
                **{"place-before": dummy[".id"]})
    assert ids_of(rows(api, FILTER))[0] == dummy[".id"]
    assert own_filter_rules(api, chain) == []


def test_unknown_menu_is_no_such_command_prefix(api):
    assert expect_trap(api, "/ip/no-such-menu/print").message == "no such command prefix"


def test_unknown_verb_is_no_such_command(api):
    assert expect_trap(api, "/ip/ipsec/peer/frobnicate").message == "no such command"


@pytest.mark.parametrize("verb", ["enable", "disable"])
def test_profile_has_no_enable_or_disable(api, verb):
    # inspect: profile commands are add, edit, export, find, get, print, remove, reset, set
    assert expect_trap(api, "/ip/ipsec/profile/" + verb, numbers="*1").message == "no such command"


# ================================================================================================
# §1 more: comma-list ids on set, input forms across menus, unset optional properties


def test_set_accepts_a_comma_list_of_ids(api):
    name, ids = new_list_entries(api, 3)
    run(api, ADDRESS_LIST + "/set", **{".id": ",".join(ids[:2]), "comment": "both"})
    comments = {r[".id"]: r.get("comment") for r in rows(api, ADDRESS_LIST, "?list=" + name)}
    assert comments == {ids[0]: "both", ids[1]: "both", ids[2]: None}


@pytest.mark.parametrize("menu,base,arg", [
    ("/ip/ipsec/peer", {"address": "100.66.0.1/32"}, "passive"),
    ("/ip/ipsec/profile", {}, "nat-traversal"),
    ("/ip/ipsec/proposal", {}, "disabled"),
    ("/interface/gre", {"remote-address": "100.66.0.2"}, "clamp-tcp-mss"),
])
@pytest.mark.parametrize("given,printed", [("true", "true"), ("no", "false")])
def test_boolean_input_forms_across_menus(versions, menu, base, arg, given, printed):
    name = unique("bool")
    words = ["=name=" + name, "=%s=%s" % (arg, given)]
    if menu == "/ip/ipsec/peer":  # address + exchange mode identify a peer
        words.append("=address=100.66.%d.%d/32" % (next(_names) % 250, next(_names) % 250 + 1))
    else:
        words.extend("=%s=%s" % kv for kv in base.items())
    with versions.raw() as client:
        done = client.talk(menu + "/add", *words)
        assert done[-1][0] == "!done", done
        replies = client.talk(menu + "/print", "?name=" + name)
    assert attrs(replies[0])[arg] == printed


@pytest.mark.parametrize("menu,base,arg,given,printed", [
    ("/ip/ipsec/proposal", {}, "lifetime", "1800s", "30m"),
    ("/ip/ipsec/proposal", {}, "lifetime", "8h", "8h"),
    ("/ip/ipsec/profile", {}, "dpd-interval", "120s", "2m"),
    ("/tool/netwatch", {"host": "10.9.9.9"}, "interval", "60s", "1m"),
])
def test_durations_normalise_across_menus(api, menu, base, arg, given, printed):
    item = add(api, menu, **({"name": unique("dur")} if menu != "/tool/netwatch" else {}),
               **base, **{arg: given})
    assert by_id(api, menu, item)[arg] == printed


def test_unset_optional_properties_are_absent_from_print(api):
    peer = unique("opt")
    add(api, "/ip/ipsec/peer", name=peer, address="100.67.0.1/32")
    peer_row = rows(api, "/ip/ipsec/peer", "?name=" + peer)[0]
    assert not {"local-address", "comment", "ppk-secret"} & set(peer_row)
    policy = add(api, "/ip/ipsec/policy", **{"src-address": "10.68.0.0/24",
                                             "dst-address": "10.69.0.0/24"})
    policy_row = by_id(api, "/ip/ipsec/policy", policy)
    assert not {"peer", "comment"} & set(policy_row)
    # except the legacy SA addresses: unset, they print as :: (spec §2, §6; terraform-provider-
    # routeros resource_ip_ipsec_policy.go recorded print)
    assert (policy_row["sa-src-address"], policy_row["sa-dst-address"]) == ("::", "::")
    entry = add(api, ADDRESS_LIST, list=unique(), address="192.0.2.120")
    assert not {"comment", "timeout"} & set(by_id(api, ADDRESS_LIST, entry))


@pytest.mark.parametrize("verb,kwargs", [("set", {"comment": "mine"}), ("disable", {})])
def test_builtin_fasttrack_rule_cannot_be_changed(api, verb, kwargs):
    dummy = dummy_rule(api)
    expect_trap(api, FILTER + "/" + verb, **{".id": dummy[".id"]}, **kwargs)
    assert dummy_rule(api) == dummy


# §1 .tag on login and on pipelined commands


def test_login_reply_echoes_the_tag(versions):
    with versions.raw(login=False) as client:
        assert client.talk("/login", "=name=admin", "=password=", ".tag=L1") == \
            [["!done", ".tag=L1"]]


def test_failed_login_trap_echoes_the_tag(versions):
    with versions.raw(login=False) as client:
        replies = client.talk("/login", "=name=admin", "=password=bad", ".tag=L2")
    assert [r[0] for r in replies] == ["!trap", "!done"]
    assert all(attrs(r).get(".tag") == "L2" for r in replies)
    assert attrs(replies[0])["message"] == "invalid user name or password (6)"


def test_pipelined_tagged_commands_each_complete_with_their_tag(versions):
    with versions.raw() as client:
        client.send("/ip/ipsec/profile/print", "?name=default", ".tag=a")
        client.send("/ip/ipsec/proposal/print", "?name=default", ".tag=b")
        client.send("/ip/ipsec/peer/set", "=.id=*FFFFF", "=comment=x", ".tag=c")
        done, seen = set(), {}
        while len(done) < 3:
            sentence = client.read()
            tag = attrs(sentence).get(".tag")
            seen.setdefault(tag, []).append(sentence[0])
            if sentence[0] == "!done":
                done.add(tag)
    assert done == {"a", "b", "c"}
    assert seen["a"] == ["!re", "!done"] and seen["b"] == ["!re", "!done"]
    assert seen["c"] == ["!trap", "!done"]


@pytest.mark.parametrize("menu,words,prop", [
    ("/ip/ipsec/profile", ("?name=default",), "ppk"),
    ("/interface/gre", None, "dont-fragment"),
    ("/ip/ipsec/identity", None, "generate-policy"),
])
def test_enum_value_no_is_printed_as_no_not_false(versions, api, menu, words, prop):
    # "no" is one of the enum's values (ppk no/psk/..., dont-fragment no/inherit,
    # generate-policy no/port-override/port-strict), not a boolean
    if menu == "/interface/gre":
        name = unique("gre")
        add(api, menu, name=name, **{"remote-address": "100.68.0.1"})
        words = ("?name=" + name,)
    elif menu == "/ip/ipsec/identity":
        peer = unique("enum")
        add(api, "/ip/ipsec/peer", name=peer, address="100.68.0.2/32")
        add(api, menu, peer=peer, secret="x")
        words = ("?peer=" + peer,)
    with versions.raw() as client:
        replies = client.talk(menu + "/print", *words)
    assert replies[0][0] == "!re" and attrs(replies[0])[prop] == "no"


def test_getall_is_print(api):
    assert raw(api, "/ip/ipsec/proposal/getall", "?name=default") == \
        rows(api, "/ip/ipsec/proposal", "?name=default")
    assert raw(api, "/ip/ipsec/proposal/getall", "?name=default")[0]["name"] == "default"


def test_listen_reports_removed_items_as_dead(versions, api):
    name = unique("listen")
    with versions.raw() as client:
        client.send(ADDRESS_LIST + "/listen", ".tag=L")
        item = add(api, ADDRESS_LIST, list=name, address="192.0.2.20")
        api.path(ADDRESS_LIST).remove(item)
        seen = []
        while True:
            sentence = client.read()
            seen.append(sentence)
            got = attrs(sentence)
            if got.get(".id") == item and got.get(".dead") == "yes":
                break
        assert all(s[0] == "!re" and attrs(s).get(".tag") == "L" for s in seen)
        client.send("/cancel", "=tag=L", ".tag=C")
        replies = [client.read() for _ in range(3)]
    trap = [r for r in replies if r[0] == "!trap"]
    assert len(trap) == 1 and attrs(trap[0]) == {"category": "2", "message": "interrupted",
                                                 ".tag": "L"}
    assert ["!done", ".tag=L"] in replies and ["!done", ".tag=C"] in replies
    assert replies.index(trap[0]) < replies.index(["!done", ".tag=L"])


def test_cancel_interrupts_a_running_listen(versions):
    # §1: /cancel =tag=T -> the cancelled command traps category 2 "interrupted", then !done;
    # the cancel's own tag gets !done. listen is the API's standing long-running command.
    with versions.raw() as client:
        client.send(ADDRESS_LIST + "/listen", ".tag=L")
        client.send("/cancel", "=tag=L", ".tag=C")
        replies = [client.read() for _ in range(3)]
    assert ["!trap", "=category=2", "=message=interrupted", ".tag=L"] in replies
    assert ["!done", ".tag=L"] in replies and ["!done", ".tag=C"] in replies
