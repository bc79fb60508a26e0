# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A thin wrapper over a librouteros ``Api`` for the reconciler.

It reads each menu once per run (the engine plans on that snapshot), hands rows over as RouterOS
strings (librouteros turns ``"yes"`` into ``True`` and ``"500"`` into ``500`` when reading), writes
with add / set / remove / move, and counts the writes.

Kept Python 3.8+ compatible: the modules' ``main()`` may run it on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from librouteros.api import Api as _LibrouterosApi
    from librouteros.exceptions import MultiTrapError as _MultiTrapError
    from librouteros.exceptions import TrapError as _TrapError
    from librouteros.protocol import parse_word as _parse_word
except ImportError:  # community.routeros' check_has_library reports the missing library first
    _LibrouterosApi = _TrapError = _MultiTrapError = _parse_word = None

TAG_WORD = ".tag="
# RouterOS's answer to a command the API user's group has no policy for (manual "User")
PERMISSION_TRAP = "not enough permissions"


def explain_permissions(text, writing=None):
    """``text`` of a failed command, with what to fix when RouterOS refused it for a missing policy
    (``writing``: True for a write, False for a read, None when not known)."""
    if PERMISSION_TRAP not in text:
        return text
    policy = {True: "the write policy", False: "the read policy"}.get(writing, "the read or write policy")
    return ("%s: the API user's group (/user group) lacks %s; the collection needs the policies read, "
            "write and api (and sensitive to compare secrets, which RouterOS does not print without it)"
            % (text, policy))


class PipelineError(Exception):
    """A reply to pipelined prints that RouterOS would never send (no tag, an unknown tag)."""


def _as_routeros_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class ApiSession(object):
    """Menu reads and writes over one logged-in librouteros ``Api``."""

    def __init__(self, api):
        self.api = api
        self.writes = 0        # writes RouterOS confirmed (!done)
        self.unconfirmed = 0   # writes sent whose reply never came (lost connection): may have taken effect
        self.reads = 0
        self._rows = {}
        self._traps = {}   # menu path -> the TrapError its pipelined print got (raised on read)

    def _path(self, menu_path):
        return self.api.path(*menu_path.strip("/").split("/"))

    def prefetch(self, menu_paths):
        """Print every menu of ``menu_paths`` not read yet in ONE round trip.

        The prints go out tagged without waiting for each other (RouterOS runs tagged commands of one
        connection concurrently and echoes the tag on every reply, API manual "Tags"); the replies are
        sorted back by tag. A router 200 ms away then costs one round trip for all menus instead of
        one per menu. Values are converted exactly as librouteros converts them when reading.
        Only for a librouteros ``Api`` (test doubles read menu by menu).
        """
        wanted = [p for p in menu_paths if p not in self._rows and p not in self._traps]
        if len(wanted) < 2 or _LibrouterosApi is None or not isinstance(self.api, _LibrouterosApi):
            return
        protocol = self.api.protocol
        for tag, path in enumerate(wanted):
            protocol.writeSentence(path.rstrip("/") + "/print", TAG_WORD + str(tag))
        rows = dict((tag, []) for tag in range(len(wanted)))
        traps = {}
        pending = set(rows)
        while pending:
            reply, words = protocol.readSentence()  # a !fatal raises librouteros' FatalError
            tag, attributes = None, {}
            for word in words:
                if word.startswith(TAG_WORD):
                    tag = int(word[len(TAG_WORD):]) if word[len(TAG_WORD):].isdigit() else word
                else:
                    key, value = _parse_word(word)
                    attributes[key] = value
            if tag not in rows:
                raise PipelineError("reply %s %r to pipelined prints carries no known tag" % (reply, words))
            if reply == "!re":
                rows[tag].append(dict((k, _as_routeros_text(v)) for k, v in attributes.items()))
            elif reply == "!trap":
                traps.setdefault(tag, attributes)
            elif reply == "!done":
                pending.discard(tag)
        self.reads += len(wanted)
        for tag, path in enumerate(wanted):
            if tag in traps:
                self._traps[path] = _TrapError(message=str(traps[tag].get("message", "")),
                                               category=traps[tag].get("category"))
            else:
                self._rows[path] = rows[tag]

    def read(self, menu_path):
        """All rows of ``menu_path`` in RouterOS order, values as strings; printed once per session."""
        if menu_path in self._traps:
            raise self._traps[menu_path]
        if menu_path not in self._rows:
            self.reads += 1
            self._rows[menu_path] = [
                dict((name, _as_routeros_text(value)) for name, value in row.items())
                for row in self._path(menu_path)
            ]
        return [dict(row) for row in self._rows[menu_path]]

    def _write(self, call):
        """Run one write. ``writes`` counts those RouterOS confirmed; a trap is RouterOS refusing it
        (nothing changed); any other failure (the connection lost, a timeout) leaves the write
        ``unconfirmed``: it was sent and may have taken effect, so a failed task still says changed."""
        try:
            answer = call()
        except Exception as error:
            if _TrapError is None or not isinstance(error, (_TrapError, _MultiTrapError)):
                self.unconfirmed += 1
            raise
        self.writes += 1
        return answer

    def add(self, menu_path, args, place_before=None):
        """Add an item; returns its new id."""
        words = dict(args)
        if place_before is not None:
            words["place-before"] = place_before
        return self._write(lambda: self._path(menu_path).add(**words))

    def set(self, menu_path, item_id, args):
        words = dict(args)
        words[".id"] = item_id
        self._write(lambda: self._path(menu_path).update(**words))

    def remove(self, menu_path, item_id):
        self._write(lambda: self._path(menu_path).remove(item_id))

    def move(self, menu_path, item_id, destination=None):
        """Move ``item_id`` before ``destination`` (to the end when None)."""
        words = {"numbers": item_id}
        if destination is not None:
            words["destination"] = destination
        self._write(lambda: tuple(self._path(menu_path)("move", **words)))

    def command(self, menu_path, verb, args):
        """A menu command other than add/set/remove/move (``/certificate import``): one write."""
        return self._write(lambda: tuple(self._path(menu_path)(verb, **dict(args))))

    def fresh(self, menu_path):
        """Print ``menu_path`` again (not the session's cached read): after a command changed it."""
        self._rows.pop(menu_path, None)
        self._traps.pop(menu_path, None)
        return self.read(menu_path)

    def close(self):
        try:
            self.api.close()
        except Exception:  # the connection may already be gone; nothing left to release
            pass
