"""Transport tests: codec, login, tags, trap/fatal framing, !empty, /cancel, malformed input, TLS.

The router behind the transport here is ``EchoRouter``, a TEST DOUBLE for the transport only: it
answers with what it was given so that the tests see exactly what the session passed through.
Menu behaviour is tested against real routers elsewhere.
"""

import asyncio
import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roslab import protocol, tls
from roslab.errors import RosFatal, RosTrap
from roslab.protocol import (
    ApiClient,
    ProtocolError,
    RouterService,
    SentenceDecoder,
    decode_length,
    decode_sentences,
    encode_length,
    encode_sentence,
    length_prefix_size,
)


class EchoResult:
    def __init__(self, rows=(), done=None, empty=False):
        self.rows = list(rows)
        self.done = dict(done or {})
        self.empty = empty


class EchoRouter:
    """Transport test double: records calls, echoes input, raises on demand."""

    name = "echo"
    version = "7.22.2"

    def __init__(self):
        self.calls = []

    def login(self, user, password):
        return user == "admin" and password == ""

    def check_permission(self, user, command):
        """The double's admin may do everything; ``/forbidden`` is refused like a missing policy."""
        if command == "/forbidden":
            raise RosTrap("not enough permissions (9)")

    def visible(self, user, command, rows):
        return rows

    def max_sessions(self, service):
        return None

    def api_ssl(self):
        return {"certificate": None, "tls_version": "any"}

    def execute(self, command, attributes, queries):
        self.calls.append((command, dict(attributes), list(queries)))
        if command == "/echo":
            row = dict(attributes)
            row.update({"q%d" % i: q for i, q in enumerate(queries)})
            return EchoResult(rows=[row])
        if command == "/many":
            return EchoResult(rows=[{".id": "*%X" % i} for i in range(1, int(attributes["n"]) + 1)])
        if command == "/add":
            return EchoResult(done={"ret": "*7F"})
        if command == "/empty":
            return EchoResult(empty=True)
        if command == "/trap":
            raise RosTrap(attributes.get("message", "failure"), attributes.get("category"))
        if command == "/fatal":
            raise RosFatal("out of luck")
        if command == "/crash":
            raise ValueError("lab bug")
        return EchoResult()


class LoopThread:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def call(self, fn, *args):
        async def wrapper():
            return fn(*args)
        return self.run(wrapper())

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def service(loop_thread, tmp_path):
    svc = RouterService(EchoRouter(), api_port=0, tls_port=0,
                        ssl_context=tls.server_context(str(tmp_path / "tls")))
    loop_thread.run(svc.start())
    yield svc
    loop_thread.run(svc.stop())


@pytest.fixture
def client(service):
    with ApiClient("127.0.0.1", service.api_port) as c:
        assert c.login()
        yield c


def closed_by_router(c):
    """True when the router closed the connection (EOF or reset)."""
    c.sock.settimeout(3)
    try:
        return c.sock.recv(1) == b""
    except ConnectionResetError:
        return True


# ---------------------------------------------------------------------------------- codec


@pytest.mark.parametrize("length, encoded", [
    (0, b"\x00"), (0x7F, b"\x7f"),
    (0x80, b"\x80\x80"), (0x3FFF, b"\xbf\xff"),
    (0x4000, b"\xc0\x40\x00"), (0x1FFFFF, b"\xdf\xff\xff"),
    (0x200000, b"\xe0\x20\x00\x00"), (0xFFFFFFF, b"\xef\xff\xff\xff"),
    (0x10000000, b"\xf0\x10\x00\x00\x00"), (0xFFFFFFFF, b"\xf0\xff\xff\xff\xff"),
])
def test_length_encodings_at_every_boundary(length, encoded):
    assert encode_length(length) == encoded
    assert length_prefix_size(encoded[0]) == len(encoded)
    assert decode_length(encoded) == length


def test_length_too_large_is_refused():
    with pytest.raises(ValueError):
        encode_length(0x100000000)


@pytest.mark.parametrize("byte", [0xF1, 0xF7, 0xF8, 0xFF])
def test_control_and_undefined_prefix_bytes_are_rejected(byte):
    with pytest.raises(ProtocolError):
        length_prefix_size(byte)
    with pytest.raises(ProtocolError):
        SentenceDecoder().feed(bytes([byte, 0, 0, 0, 0]))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_length_round_trip(length):
    assert decode_length(encode_length(length)) == length


words_strategy = st.lists(
    st.lists(st.text(alphabet=st.characters(max_codepoint=255), min_size=1, max_size=300),
             min_size=1, max_size=6),
    min_size=1, max_size=5)


@settings(max_examples=100, deadline=None)
@given(words_strategy, st.integers(min_value=1, max_value=17))
def test_sentence_round_trip_in_arbitrary_chunks(sentences, chunk):
    data = b"".join(encode_sentence(s) for s in sentences)
    assert decode_sentences(data) == sentences
    decoder = SentenceDecoder()
    got = []
    for i in range(0, len(data), chunk):
        got.extend(decoder.feed(data[i:i + chunk]))
    assert got == sentences
    assert not decoder.pending


def test_large_word_uses_four_byte_prefix_and_decodes():
    word = "=comment=" + "x" * 0x200000
    data = encode_sentence(["/echo", word])
    assert data[len(encode_sentence(["/echo"])) - 1] == 0xE0  # 4-byte form
    assert decode_sentences(data) == [["/echo", word]]


def test_oversized_word_is_refused_by_decoder():
    with pytest.raises(ProtocolError):
        SentenceDecoder(max_word_length=10).feed(encode_length(11))


def test_truncated_sentence_is_reported():
    with pytest.raises(ProtocolError):
        decode_sentences(encode_sentence(["/a", "=b=c"])[:-1])


def test_bytes_survive_as_latin1():
    raw = "=comment=é".encode("utf-8")
    sentence = decode_sentences(protocol.encode_word(raw) + b"\x00")[0]
    assert protocol.encode_word(sentence[0]) == protocol.encode_word(raw)


def test_parse_request_splits_attributes_queries_and_tag():
    req = protocol.parse_request(
        ["/x/print", "=a=b=c", "=empty=", "=.proplist=name,address", "?name=x", "?#|", ".tag=7",
         "?=k=v"])
    assert req.command == "/x/print"
    assert req.attributes == {"a": "b=c", "empty": "", ".proplist": "name,address"}
    assert req.queries == ["name=x", "#|", "=k=v"]
    assert req.tag == "7"


# ---------------------------------------------------------------------------------- session


def test_login_ok_then_command(client, service):
    assert client.talk("/echo", "=x=1") == [["!re", "=x=1"], ["!done"]]
    assert service.router.calls[-1] == ("/echo", {"x": "1"}, [])


def test_login_wrong_password_traps_and_keeps_session(service):
    with ApiClient("127.0.0.1", service.api_port) as c:
        replies = c.talk("/login", "=name=admin", "=password=nope")
        assert replies == [["!trap", "=message=invalid user name or password (6)"], ["!done"]]
        # still not logged in: the session refuses commands
        assert c.talk("/echo")[0][0] == "!fatal"


def test_command_before_login_uses_the_unconfirmed_table(service):
    kind, message, _ = protocol.UNCONFIRMED_REPLIES["command_before_login"]
    with ApiClient("127.0.0.1", service.api_port) as c:
        replies = c.talk("/echo", "=x=1")
        assert replies == [["!fatal", message]] if kind == "fatal" else replies[0][0] == "!trap"
        assert closed_by_router(c)
    assert service.router.calls == []


def test_attributes_with_equals_and_empty_values_pass_through(client, service):
    replies = client.talk("/echo", "=a=b=c", "=empty=", "=.proplist=name,x")
    assert replies[0] == ["!re", "=a=b=c", "=empty=", "=.proplist=name,x"]
    assert service.router.calls[-1][1] == {"a": "b=c", "empty": "", ".proplist": "name,x"}


def test_queries_lose_the_question_mark_and_keep_order(client, service):
    client.talk("/echo", "?name=x", "?-disabled", "?#|!")
    assert service.router.calls[-1][2] == ["name=x", "-disabled", "#|!"]


def test_tag_echoed_on_every_reply_only_when_sent(client):
    assert client.talk("/many", "=n=2", ".tag=t1") == [
        ["!re", "=.id=*1", ".tag=t1"], ["!re", "=.id=*2", ".tag=t1"], ["!done", ".tag=t1"]]
    assert client.talk("/many", "=n=1") == [["!re", "=.id=*1"], ["!done"]]
    assert client.talk("/add", ".tag=9") == [["!done", "=ret=*7F", ".tag=9"]]


def test_add_returns_ret_on_done(client):
    assert client.talk("/add") == [["!done", "=ret=*7F"]]


def test_trap_then_done_with_only_message_and_category(client):
    replies = client.talk("/trap", "=message=no such item (4)", ".tag=a")
    assert replies == [["!trap", "=message=no such item (4)", ".tag=a"], ["!done", ".tag=a"]]
    replies = client.talk("/trap", "=message=input does not match any value of peer",
                          "=category=1")
    assert replies[0][0] == "!trap"
    assert sorted(replies[0][1:]) == ["=category=1",
                                      "=message=input does not match any value of peer"]
    assert replies[1] == ["!done"]


def test_a_refused_permission_traps_before_the_command_runs(client, service):
    replies = client.talk("/forbidden", "=x=1", ".tag=p")
    assert replies == [["!trap", "=message=not enough permissions (9)", ".tag=p"], ["!done", ".tag=p"]]
    assert "/forbidden" not in [call[0] for call in service.router.calls]


def test_lab_bug_is_a_trap_not_a_crash(client):
    replies = client.talk("/crash")
    assert replies[0][0] == "!trap" and replies[-1] == ["!done"]
    assert client.talk("/echo", "=still=alive")[0] == ["!re", "=still=alive"]


def test_fatal_closes_connection(client):
    assert client.talk("/fatal") == [["!fatal", "out of luck"]]
    assert closed_by_router(client)


def test_quit(client):
    assert client.talk("/quit") == [["!fatal", "session terminated on request"]]
    assert closed_by_router(client)


def test_empty_reply(client):
    assert client.talk("/empty") == [["!empty"], ["!done"]]
    assert client.talk("/empty", ".tag=5") == [["!empty", ".tag=5"], ["!done", ".tag=5"]]


def test_empty_sentences_are_ignored(client):
    client.send_raw(b"\x00\x00")
    assert client.talk("/echo", "=a=1") == [["!re", "=a=1"], ["!done"]]


def test_pipelined_sentences_in_one_write_answer_in_order(client):
    client.send_raw(encode_sentence(["/echo", "=a=1", ".tag=1"]) +
                    encode_sentence(["/echo", "=a=2", ".tag=2"]))
    got = [client.read_sentence() for _ in range(4)]
    assert got == [["!re", "=a=1", ".tag=1"], ["!done", ".tag=1"],
                   ["!re", "=a=2", ".tag=2"], ["!done", ".tag=2"]]


@pytest.mark.parametrize("junk", [b"\xf8", b"\xff\x00", b"\xf3abcd"])
def test_malformed_stream_closes_connection(client, junk):
    client.send_raw(junk)
    assert closed_by_router(client)


def test_cancel_interrupts_a_delayed_command(loop_thread, service, client):
    service.faults.delay = 5
    client.send("/echo", "=a=1", ".tag=slow")
    time.sleep(0.1)
    client.send("/cancel", "=tag=slow", ".tag=c")
    got = [client.read_sentence() for _ in range(3)]
    assert got == [["!trap", "=category=2", "=message=interrupted", ".tag=slow"],
                   ["!done", ".tag=slow"], ["!done", ".tag=c"]]
    assert service.router.calls == []


def test_cancel_of_unknown_tag_traps(client):
    replies = client.talk("/cancel", "=tag=nothing")
    assert replies[0][0] == "!trap" and replies[-1] == ["!done"]


def test_tls_session(service, tmp_path):
    context = tls.client_context(str(tmp_path / "tls"))
    with ApiClient("127.0.0.1", service.tls_port, ssl_context=context) as c:
        assert c.login()
        assert c.talk("/echo", "=over=tls") == [["!re", "=over=tls"], ["!done"]]


def test_stop_closes_listener_and_connections(loop_thread, tmp_path):
    svc = RouterService(EchoRouter(), api_port=0)
    loop_thread.run(svc.start())
    port = svc.api_port
    c = ApiClient("127.0.0.1", port)
    assert c.login()
    loop_thread.run(svc.stop())
    assert closed_by_router(c)
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    loop_thread.run(svc.start())  # same port again (router up)
    assert svc.api_port == port
    with ApiClient("127.0.0.1", port) as c2:
        assert c2.login()
    loop_thread.run(svc.stop())


def test_client_leaving_during_a_delayed_command_is_harmless(loop_thread, service):
    service.faults.delay = 0.3
    c = ApiClient("127.0.0.1", service.api_port)
    c.send("/login", "=name=admin", "=password=")
    c.close()
    time.sleep(0.5)
    assert service.sessions == set() or all(s.closed for s in service.sessions)
    service.faults.delay = 0
    with ApiClient("127.0.0.1", service.api_port) as c2:
        assert c2.login()


def test_wait_for_api(service):
    assert protocol.wait_for_api("127.0.0.1", service.api_port, timeout=2)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
    probe.close()
    assert not protocol.wait_for_api("127.0.0.1", free_port, timeout=0.3)
