"""RouterOS API transport: the word/sentence codec, one session per connection, TCP/TLS listeners.

Facts (``/work/shared/reference/routeros7-behaviour.md`` section 1):

* a word is a big-endian length prefix (1, 2, 3, 4 bytes, or ``0xF0`` + 4 bytes) and its bytes;
  first bytes ``>= 0xF8`` are reserved control bytes;
* a sentence is words ending in a zero-length word; empty sentences are ignored;
* replies ``!re`` / ``!done`` / ``!trap`` (always followed by ``!done``) / ``!fatal`` (then close) and,
  from 7.18, ``!empty`` before ``!done`` when a print matched nothing;
* ``.tag`` is echoed on every reply sentence, only when the client sent one;
* ``!trap`` carries only ``message`` and ``category`` (librouteros builds ``TrapError(**words)``).

Words are decoded as latin-1 so a value's bytes survive unchanged (RouterOS stores bytes, not text)
and lengths the lower layers check are byte lengths like on a router.

This module knows nothing of menus: it talks to a ``Router`` (see ``tests/roslab/README.md``)
through ``router.login`` and ``router.execute``.
"""

import asyncio
import collections
import logging
import socket
import ssl
import struct
import time

from roslab.errors import RosFatal, RosTrap

LOG = logging.getLogger("roslab.protocol")

WORD_ENCODING = "latin-1"

# Lab-wide ceiling on one word: the codec itself handles lengths up to 2**32-1, but a lab does
# not need to buffer gigabytes because a client sent a broken prefix.
MAX_WORD_LENGTH = 16 * 1024 * 1024

# Replies where no RouterOS evidence was found (reference: "UNCONFIRMED"). Kept in one table so
# that a capture from a real router changes one line. Each entry: (reply kind, message, category).
# "fatal" means ``!fatal <message>`` and close; "trap" means ``!trap`` then ``!done``.
UNCONFIRMED_REPLIES = {
    # Mocks disagree between !trap and !fatal; we follow the ones that close the session.
    "command_before_login": ("fatal", "not logged in", None),
    # The pre-6.43 challenge login (``/login`` without ``=name=``): whether v7 still answers it is
    # UNCONFIRMED (reference "Login"; a claim that 6.45.1 removed it is refuted by 6.47.6); the lab
    # refuses it with the login failure.
    "login_without_name": ("trap", "invalid user name or password (6)", None),
    # ``/cancel`` naming a tag with no command in progress.
    "cancel_unknown_tag": ("trap", "unknown command tag", None),
    # A word that is neither ``=attribute``, ``.api-attribute`` nor ``?query``.
    "bare_word": ("trap", "unknown parameter", 0),
    # A first word that is not a ``/command``.
    "not_a_command": ("trap", "no such command", 0),
}

LOGIN_FAILED = ("trap", "invalid user name or password (6)", None)  # FIELD: 7.x clients
QUIT_MESSAGE = "session terminated on request"  # MANUAL
INTERRUPTED = ("interrupted", 2)  # MANUAL: /cancel makes the cancelled command trap, category 2


class ProtocolError(Exception):
    """The byte stream is not RouterOS API framing; a router closes such a connection."""


# --------------------------------------------------------------------------------------------
# codec


def encode_length(length):
    """Encode a word length with every RouterOS length form (including ``0xF0`` + 4 bytes)."""
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes((length,))
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    if length <= 0xFFFFFFFF:
        return b"\xf0" + length.to_bytes(4, "big")
    raise ValueError("word too long for the API: %d bytes" % length)


def length_prefix_size(first_byte):
    """Total size of a length prefix from its first byte; control bytes (>= 0xF8) are refused."""
    if first_byte < 0x80:
        return 1
    if first_byte < 0xC0:
        return 2
    if first_byte < 0xE0:
        return 3
    if first_byte < 0xF0:
        return 4
    if first_byte < 0xF8:
        # 0xF0 carries 4 length bytes; 0xF1..0xF7 are not defined length forms.
        if first_byte == 0xF0:
            return 5
        raise ProtocolError("undefined length prefix 0x%02X" % first_byte)
    raise ProtocolError("reserved control byte 0x%02X" % first_byte)


def decode_length(prefix):
    """Decode a complete length prefix (as sized by :func:`length_prefix_size`)."""
    size = length_prefix_size(prefix[0])
    if len(prefix) != size:
        raise ProtocolError("length prefix needs %d bytes, got %d" % (size, len(prefix)))
    if size == 1:
        return prefix[0]
    if size == 2:
        return int.from_bytes(prefix, "big") & 0x3FFF
    if size == 3:
        return int.from_bytes(prefix, "big") & 0x1FFFFF
    if size == 4:
        return int.from_bytes(prefix, "big") & 0x0FFFFFFF
    return int.from_bytes(prefix[1:], "big")


def encode_word(word):
    data = word.encode(WORD_ENCODING) if isinstance(word, str) else bytes(word)
    return encode_length(len(data)) + data


def encode_sentence(words):
    """Encode words (str or bytes) followed by the zero-length terminator."""
    out = bytearray()
    for word in words:
        data = word.encode(WORD_ENCODING) if isinstance(word, str) else bytes(word)
        size = len(data)
        # short words (nearly all of them) skip the general length encoder
        out += bytes((size,)) if size < 0x80 else encode_length(size)
        out += data
    out.append(0)
    return bytes(out)


class SentenceDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the complete sentences (lists of str words).

    Empty sentences are returned as empty lists; the session ignores them like a router does.
    Raises :class:`ProtocolError` on reserved control bytes or an oversized word.
    """

    def __init__(self, max_word_length=MAX_WORD_LENGTH):
        self._buf = bytearray()
        self._pos = 0
        self._words = []
        self.max_word_length = max_word_length

    def feed(self, data):
        self._buf += data
        buf = self._buf
        pos = self._pos
        end = len(buf)
        sentences = []
        while pos < end:
            size = length_prefix_size(buf[pos])
            if pos + size > end:
                break
            length = buf[pos] if size == 1 else decode_length(bytes(buf[pos:pos + size]))
            if length > self.max_word_length:
                raise ProtocolError("word of %d bytes exceeds the lab limit" % length)
            if pos + size + length > end:
                break
            start = pos + size
            pos = start + length
            if length == 0:
                sentences.append(self._words)
                self._words = []
            else:
                self._words.append(buf[start:pos].decode(WORD_ENCODING))
        # drop consumed bytes once in a while, not on every feed
        if pos > 65536 or pos == end:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return sentences

    @property
    def pending(self):
        """True while a sentence has started but not ended (bytes or words buffered)."""
        return bool(self._words) or self._pos < len(self._buf)


def decode_sentences(data):
    """Decode a complete byte string into sentences (test helper / one-shot use)."""
    decoder = SentenceDecoder()
    sentences = decoder.feed(data)
    if decoder.pending:
        raise ProtocolError("truncated sentence")
    return sentences


# --------------------------------------------------------------------------------------------
# request parsing


class Request:
    """One command sentence split the way ``Router.execute`` wants it."""

    __slots__ = ("command", "attributes", "queries", "tag", "bad_word")

    def __init__(self, command, attributes, queries, tag, bad_word):
        self.command = command
        self.attributes = attributes
        self.queries = queries
        self.tag = tag
        self.bad_word = bad_word


def parse_request(words):
    command = words[0]
    attributes = {}
    queries = []
    tag = None
    bad_word = None
    for word in words[1:]:
        first = word[0]
        if first == "=":
            key, sep, value = word[1:].partition("=")
            attributes[key] = value
        elif first == "?":
            queries.append(word[1:])
        elif first == ".":
            key, sep, value = word[1:].partition("=")
            if key == "tag":
                # an empty tag is not echoed (reference: "if a non-empty tag is sent")
                tag = value or None
            else:
                # API attributes (.id, .proplist) given without the leading "="
                attributes["." + key] = value
        elif bad_word is None:
            bad_word = word
    return Request(command, attributes, queries, tag, bad_word)


# --------------------------------------------------------------------------------------------
# faults and the per-router service


class Faults:
    """Transport faults of one router, set by ``roslab.control``.

    ``drop_at``: the n-th command sentence (counted from when the fault was set, every sentence
    including ``/login``) is executed (``drop_when="after"``) or not (``"before"``), then the
    connection is closed without a reply. One-shot: it clears itself when it fires.
    ``delay``: seconds to wait before executing each command (every reply is late); commands of
    one connection wait one after another, like a router busy with each.
    ``latency``: seconds each sentence travels before it reaches the router (a WAN link's round
    trip): sentences sent together arrive together and run in order at once, so a client that
    sends tagged commands without waiting (RouterOS runs them concurrently, API manual "Tags")
    pays one round trip for all of them.
    """

    __slots__ = ("drop_at", "drop_when", "seen", "delay", "latency")

    def __init__(self):
        self.clear()

    def clear(self):
        self.drop_at = None
        self.drop_when = "after"
        self.seen = 0
        self.delay = 0.0
        self.latency = 0.0

    def next_command(self):
        """Count one command sentence; return None, "before" or "after"."""
        if self.drop_at is None:
            return None
        self.seen += 1
        if self.seen < self.drop_at:
            return None
        when = self.drop_when
        self.drop_at = None
        self.seen = 0
        return when


class RouterService:
    """The API endpoints (api and optional api-ssl) of one emulated router.

    ``router`` may be replaced (a reboot restores into a fresh object); sessions look it up here
    on every command.
    """

    def __init__(self, router, host="127.0.0.1", api_port=0, tls_port=None, ssl_context=None, tls_contexts=None):
        self.router = router
        self.host = host
        self.api_port = api_port
        self.tls_port = tls_port
        # api-ssl: either one fixed context (test doubles) or tls.ServerContexts, which picks the
        # context from the router's /ip service api-ssl settings when a connection is accepted
        self.ssl_context = ssl_context
        self.tls_contexts = tls_contexts
        self.faults = Faults()
        self.sessions = set()
        self.commands = 0
        # API economy, as a router's own accounting would show it: successful logins, and how many
        # sentences each command path received (e.g. {"/ip/ipsec/peer/print": 1})
        self.logins = 0
        self.command_counts = collections.Counter()
        # most sentences of one connection on the wire at once (latency fault): a client that
        # pipelines shows its batch here, one that waits for each reply shows 1
        self.most_in_transit = 0
        self._servers = []
        # admission check set by roslab.control: admit(service, transport) -> bool; a refused
        # connection is reset before it is read (the router's firewall did not let it in)
        self.admit = None
        self.refused = 0

    @property
    def listening(self):
        return bool(self._servers)

    async def start(self):
        """Listen on the api (and api-ssl) port; port 0 picks a free one and records it."""
        if self._servers:
            return
        loop = asyncio.get_running_loop()
        servers = []
        try:
            server = await loop.create_server(
                lambda: ApiSession(self), self.host, self.api_port,
                reuse_address=True, backlog=64)
            servers.append(server)
            self.api_port = server.sockets[0].getsockname()[1]
            if (self.ssl_context is not None or self.tls_contexts is not None) and self.tls_port is not None:
                server = await loop.create_server(
                    lambda: TlsHandshake(self), self.host, self.tls_port, reuse_address=True, backlog=64)
                servers.append(server)
                self.tls_port = server.sockets[0].getsockname()[1]
        except BaseException:
            for server in servers:
                server.close()
            raise
        self._servers = servers

    async def stop(self):
        """Close the listeners and drop every connection (router down / lab stop)."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        self.drop_connections()
        for server in servers:
            await server.wait_closed()

    def drop_connections(self):
        for session in list(self.sessions):
            session.close()

    def server_tls_context(self):
        """The context a new api-ssl connection is served with, from the router's settings now."""
        if self.tls_contexts is None:
            return self.ssl_context
        return self.tls_contexts.for_settings(self.router.api_ssl())


class TlsHandshake(asyncio.Protocol):
    """An accepted api-ssl TCP connection until its TLS handshake is done, then the ApiSession's.

    The context is chosen here, per connection, because RouterOS applies ``/ip service set api-ssl
    certificate=`` to the next connection: one listening socket cannot switch between presenting a
    certificate and anonymous DH (which has no TLS 1.3) once a client's hello has been read.
    This object is the TLS layer's protocol during the handshake: data that arrives before the
    session is attached (a client sends ``/login`` the moment the handshake ends) is kept for it.
    """

    HANDSHAKE_TIMEOUT = 10

    def __init__(self, service):
        self.service = service
        self._session = None
        self._early = []
        self._lost = False

    def connection_made(self, transport):
        # nothing is read until the TLS layer takes over, so the client hello is not lost
        transport.pause_reading()
        asyncio.get_running_loop().create_task(self._upgrade(transport))

    async def _upgrade(self, transport):
        try:
            context = self.service.server_tls_context()
            secure = await asyncio.get_running_loop().start_tls(
                transport, self, context, server_side=True, ssl_handshake_timeout=self.HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError) as exc:
            LOG.debug("%s: api-ssl handshake failed: %s", self.service.router.name, exc)
            transport.abort()
            return
        if secure is None or self._lost:        # the peer went away during the handshake
            transport.abort()
            return
        session = ApiSession(self.service)
        session.connection_made(secure)
        self._session = session
        early, self._early = self._early, []
        if not session.closed:
            secure.set_protocol(session)
            for data in early:
                session.data_received(data)

    def data_received(self, data):
        if self._session is not None:
            self._session.data_received(data)
        else:
            self._early.append(data)

    def eof_received(self):
        if self._session is not None:
            return self._session.eof_received()
        return False

    def connection_lost(self, exc):
        self._lost = True
        if self._session is not None:
            self._session.connection_lost(exc)


class ApiSession(asyncio.Protocol):
    """One API connection: login, tags, framing, in-order execution, ``/cancel``, faults."""

    def __init__(self, service):
        self.service = service
        self.kind = "api"       # the /ip/service this session came in on (api or api-ssl)
        self.transport = None
        self.decoder = SentenceDecoder()
        self.user = None
        self.closed = False
        self._queue = []          # requests waiting behind a delayed one, in order
        self._delayed = None      # (request, TimerHandle) of the command waiting out a delay
        self._listens = []        # running `listen` commands (until /cancel or the connection ends)
        self._inbound = []        # (arrival time, words) of sentences still travelling (latency fault)
        self._inbound_timer = None

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        admit = self.service.admit
        if admit is not None and not admit(self.service, transport):
            self.service.refused += 1
            self._reset(sock)
            return
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.kind = "api-ssl" if transport.get_extra_info("ssl_object") is not None else "api"
        limit = self.service.router.max_sessions(self.kind)
        if limit is not None and sum(1 for s in self.service.sessions if s.kind == self.kind) >= limit:
            # /ip service max-sessions (manual "Services"): a session over the limit is not served.
            # UNCONFIRMED how RouterOS turns it away; the lab closes the connection unanswered.
            self.service.refused += 1
            self._reset(sock)
            return
        self.service.sessions.add(self)

    def connection_lost(self, exc):
        self.closed = True
        self.service.sessions.discard(self)
        for listen in self._listens:
            listen.stop()
        self._listens = []
        if self._delayed is not None:
            self._delayed[1].cancel()
            self._delayed = None
        self._queue = []
        if self._inbound_timer is not None:
            self._inbound_timer.cancel()
            self._inbound_timer = None
        self._inbound = []

    def data_received(self, data):
        if self.closed:
            return
        try:
            sentences = self.decoder.feed(data)
        except ProtocolError as exc:
            LOG.debug("%s: malformed stream, closing: %s", self.service.router.name, exc)
            self.close()
            return
        latency = self.service.faults.latency
        for words in sentences:
            if self.closed:
                return
            if not words:
                continue
            if latency > 0 or self._inbound:
                # still on the wire: arrives latency seconds after it was sent, behind earlier ones
                self._inbound.append((asyncio.get_running_loop().time() + latency, words))
                self.service.most_in_transit = max(self.service.most_in_transit, len(self._inbound))
                self._schedule_inbound()
            else:
                self._received(words)

    def _schedule_inbound(self):
        if self._inbound_timer is None and self._inbound:
            self._inbound_timer = asyncio.get_running_loop().call_at(self._inbound[0][0], self._arrive)

    def _arrive(self):
        self._inbound_timer = None
        now = asyncio.get_running_loop().time()
        while self._inbound and self._inbound[0][0] <= now and not self.closed:
            self._received(self._inbound.pop(0)[1])
        self._schedule_inbound()

    def eof_received(self):
        # a half-closed client is done; answering further would go nowhere
        return False

    # -- dispatch --------------------------------------------------------------------------------

    def _reset(self, sock):
        """Abort with a TCP RST (SO_LINGER 0): the client's next read or write fails."""
        self.closed = True
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()

    def close(self):
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def _received(self, words):
        request = parse_request(words)
        if request.command == "/cancel" and self.user is not None:
            self._cancel(request)
            return
        if self._delayed is not None or self._queue:
            self._queue.append(request)
            return
        self._start(request)

    def _start(self, request):
        delay = self.service.faults.delay
        if delay > 0:
            handle = asyncio.get_running_loop().call_later(delay, self._run_delayed)
            self._delayed = (request, handle)
        else:
            self._run(request)

    def _run_delayed(self):
        request, _ = self._delayed
        self._delayed = None
        self._run(request)
        self._drain_queue()

    def _drain_queue(self):
        while self._queue and self._delayed is None and not self.closed:
            self._start(self._queue.pop(0))

    def _cancel(self, request):
        """``/cancel [=tag=T]``: the cancelled command traps ``interrupted`` (category 2)."""
        target = request.attributes.get("tag")
        victims = []
        if self._delayed is not None and (target is None or self._delayed[0].tag == target):
            victims.append(self._delayed[0])
            self._delayed[1].cancel()
            self._delayed = None
        keep = []
        for queued in self._queue:
            if target is None or queued.tag == target:
                victims.append(queued)
            else:
                keep.append(queued)
        self._queue = keep
        for listen in list(self._listens):
            if target is None or listen.tag == target:
                listen.stop()
                self._listens.remove(listen)
                victims.append(listen)
        if target is not None and not victims:
            self._reply_unconfirmed("cancel_unknown_tag", request.tag)
            self._drain_queue()
            return
        for victim in victims:
            self._trap(INTERRUPTED[0], INTERRUPTED[1], victim.tag)
            self._send(["!done"], victim.tag)
        self._send(["!done"], request.tag)
        self._drain_queue()

    def _run(self, request):
        if self.closed:
            return
        service = self.service
        service.commands += 1
        service.command_counts[request.command] += 1
        drop = service.faults.next_command()
        if drop == "before":
            self.close()
            return
        if drop == "after":
            # executed, but the client never hears about it
            self._execute(request, send=False)
            self.close()
            return
        self._execute(request, send=True)

    def _execute(self, request, send):
        tag = request.tag if send else None
        reply = self._send if send else _discard
        command = request.command
        if self.user is None:
            if command != "/login":
                self._reply_unconfirmed("command_before_login", request.tag, send)
                return
            self._login(request, send)
            return
        if command == "/login":
            self._login(request, send)
            return
        if command == "/quit":
            reply(["!fatal", QUIT_MESSAGE], None)
            self.close()
            return
        if not command.startswith("/"):
            self._reply_unconfirmed("not_a_command", request.tag, send)
            return
        if request.bad_word is not None:
            kind, message, category = UNCONFIRMED_REPLIES["bare_word"]
            self._reply(kind, "%s %s" % (message, request.bad_word), category, request.tag, send)
            return
        router = self.service.router
        try:
            router.check_permission(self.user, command)
            result = router.execute(command, request.attributes, request.queries)
        except RosTrap as exc:
            if send:
                self._trap(exc.message, exc.category, tag)
                self._send(["!done"], tag)
            return
        except RosFatal as exc:
            reply(["!fatal", exc.message], None)
            self.close()
            return
        except Exception:  # a lab bug must not look like a RouterOS answer
            LOG.exception("%s: %s crashed", router.name, command)
            if send:
                self._trap("roslab internal error in %s" % command, 4, tag)
                self._send(["!done"], tag)
            return
        if not send:
            return
        if getattr(result, "listen", None):
            self._listens.append(_Listen(self, router, result.listen, request))
            return
        out = []
        for row in router.visible(self.user, command, result.rows):
            words = ["!re"]
            words.extend("=%s=%s" % (k, v) for k, v in row.items())
            if tag is not None:
                words.append(".tag=" + tag)
            out.append(encode_sentence(words))
        if result.empty:
            out.append(encode_sentence(["!empty"] if tag is None else ["!empty", ".tag=" + tag]))
        done = ["!done"]
        done.extend("=%s=%s" % (k, v) for k, v in result.done.items())
        if tag is not None:
            done.append(".tag=" + tag)
        out.append(encode_sentence(done))
        self.transport.write(b"".join(out))

    def _login(self, request, send):
        name = request.attributes.get("name")
        if name is None:
            self._reply_unconfirmed("login_without_name", request.tag, send)
            return
        if self.service.router.login(name, request.attributes.get("password", "")):
            self.user = name
            self.service.logins += 1
            if send:
                self._send(["!done"], request.tag)
            return
        kind, message, category = LOGIN_FAILED
        self._reply(kind, message, category, request.tag, send)

    # -- output ------------------------------------------------------------------------------------

    def _reply_unconfirmed(self, key, tag, send=True):
        kind, message, category = UNCONFIRMED_REPLIES[key]
        self._reply(kind, message, category, tag, send)

    def _reply(self, kind, message, category, tag, send=True):
        if kind == "fatal":
            if send:
                self._send(["!fatal", message], None)
            self.close()
            return
        if send:
            self._trap(message, category, tag)
            self._send(["!done"], tag)

    def _trap(self, message, category, tag):
        words = ["!trap"]
        if category is not None:
            words.append("=category=%s" % category)
        words.append("=message=%s" % message)
        self._send(words, tag)

    def _send(self, words, tag):
        if self.closed or self.transport is None:
            return
        if tag is not None:
            words = words + [".tag=" + tag]
        self.transport.write(encode_sentence(words))


def _discard(words, tag):
    return None


class _Listen:
    """One running ``listen`` (spec §1): after every change the router reports (``on_change``),
    the menu is printed again and each added or changed row is sent as ``!re``; a row that went is
    sent as ``!re =.id=*X =.dead=yes``. Nothing is sent for the rows that were already there. The
    command ends only by ``/cancel`` (``!trap`` interrupted, then ``!done``) or with the
    connection. Runtime values the fabric writes without a change notification (SA counters,
    policy ph2-state) are not streamed."""

    __slots__ = ("session", "router", "path", "tag", "queries", "proplist", "rows")

    def __init__(self, session, router, path, request):
        self.session = session
        self.router = router
        self.path = path
        self.tag = request.tag
        self.queries = list(request.queries)
        proplist = request.attributes.get(".proplist", request.attributes.get("proplist"))
        self.proplist = [p for p in proplist.split(",") if p] if proplist else None
        self.rows = self._print()
        router.on_change(self._changed)

    def _print(self):
        rows = {}
        for row in self.router.execute(self.path + "/print", {}, self.queries).rows:
            rows[row.get(".id", "")] = row
        return rows

    def stop(self):
        off = getattr(self.router, "off_change", None)
        if off is not None:
            off(self._changed)

    def _changed(self, router, path):
        if self.session.closed:
            self.stop()
            return
        try:
            now = self._print()
        except Exception:  # the menu went (reset to a version without it): nothing to stream
            LOG.debug("%s: listen on %s could not print", router.name, self.path, exc_info=True)
            return
        out = []
        for key, row in now.items():
            if self.rows.get(key) != row:
                if self.proplist is not None:
                    row = dict((k, v) for k, v in row.items() if k in self.proplist)
                out.append(["!re"] + ["=%s=%s" % (k, v) for k, v in row.items()])
        for key in self.rows:
            if key not in now:
                out.append(["!re", "=.id=%s" % key, "=.dead=yes"])
        self.rows = now
        for words in out:
            self.session._send(words, self.tag)


# --------------------------------------------------------------------------------------------
# a minimal blocking client (lab readiness checks, tests that need raw framing)


class ApiClient:
    """A tiny blocking API client speaking raw sentences; not a replacement for librouteros."""

    def __init__(self, host, port, timeout=5.0, ssl_context=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.decoder = SentenceDecoder()
        self._ready = []

    def send(self, *words):
        self.sock.sendall(encode_sentence(words))

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_sentence(self):
        """Next sentence; raises ConnectionError when the router closed the connection."""
        while not self._ready:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by the router")
            self._ready.extend(s for s in self.decoder.feed(data) if s)
        return self._ready.pop(0)

    def talk(self, *words):
        """Send one sentence and read until ``!done`` (or ``!fatal``); returns the sentences."""
        self.send(*words)
        replies = []
        while True:
            sentence = self.read_sentence()
            replies.append(sentence)
            if sentence[0] in ("!done", "!fatal"):
                return replies

    def login(self, name="admin", password=""):
        replies = self.talk("/login", "=name=" + name, "=password=" + password)
        return replies[-1][0] == "!done" and len(replies) == 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for_api(host, port, timeout=10.0, ssl_context=None):
    """Block until a router answers ``/login`` framing on port (any reply counts as alive)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with ApiClient(host, port, timeout=2.0, ssl_context=ssl_context) as client:
                client.talk("/login", "=name=", "=password=")
                return True
        except (OSError, ConnectionError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
