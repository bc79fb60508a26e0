"""The lab clock and RouterOS time values.

Lab time is seconds since the lab started; nothing in the fabric waits for real time. Tests call
``clock.advance(seconds)`` (or ``fabric.tick(seconds)``), which jumps from one due event to the next
and runs each one at its own time, so a 1d lifetime rekeys in microseconds of wall time.
"""

from __future__ import annotations

import datetime as _dt
import heapq
import itertools
import re

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
_COMPACT = re.compile(r"(\d+(?:\.\d+)?)(ms|us|w|d|h|m|s)")
_CLOCK_FORM = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d+))?$")


def parse_duration(text):
    """Seconds in a RouterOS time value: ``1d``, ``1h30m``, ``500ms``, ``00:30:00``, ``1d02:00:00``, ``30``.

    A bare number is seconds (RouterOS reads ``interval=30`` as 30s). Raises ValueError otherwise.
    """
    text = str(text).strip()
    if not text:
        raise ValueError("empty time value")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    match = _CLOCK_FORM.match(text)
    if match:
        weeks, days, hours, minutes, seconds, fraction = match.groups()
        total = int(weeks or 0) * 604800 + int(days or 0) * 86400 + int(hours) * 3600
        total += int(minutes) * 60 + int(seconds)
        return total + (float("0." + fraction) if fraction else 0.0)
    position, total = 0, 0.0
    for part in _COMPACT.finditer(text):
        if part.start() != position:
            raise ValueError("invalid time value %r" % text)
        total += float(part.group(1)) * _UNITS[part.group(2)]
        position = part.end()
    if position != len(text):
        raise ValueError("invalid time value %r" % text)
    return total


def format_duration(seconds):
    """RouterOS's compact form as print shows it: ``1w2d3h4m5s``, ``0s``, ``250ms``."""
    milliseconds = int(round(float(seconds) * 1000))
    whole, millis = divmod(milliseconds, 1000)
    out = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            out.append("%d%s" % (count, unit))
    if millis:
        out.append("%dms" % millis)
    return "".join(out) or "0s"


class LabClock:
    """Seconds since lab start, with a queue of timed callbacks run in time order by ``advance``.

    ``epoch`` maps lab time 0 to a wall-clock datetime (UTC, naive) for scheduler start times and
    log timestamps; the default is the real time when the lab clock was made, to the second.
    """

    def __init__(self, epoch=None):
        if epoch is None:
            epoch = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        self.epoch = epoch
        self.now = 0.0
        self._queue = []
        self._sequence = itertools.count()
        # callbacks asked "when is your next event?" (pollers such as the fabric's periodic work)
        self._pollers = []

    def __float__(self):
        return float(self.now)

    def __int__(self):
        return int(self.now)

    def __repr__(self):
        return "LabClock(now=%s)" % format_duration(self.now)

    def datetime(self, at=None):
        """The wall-clock datetime of lab time ``at`` (default: now)."""
        return self.epoch + _dt.timedelta(seconds=self.now if at is None else at)

    def lab_time(self, when):
        """Lab seconds of a wall-clock datetime (may be negative: before the lab started)."""
        return (when - self.epoch).total_seconds()

    def call_at(self, when, callback):
        """Run ``callback()`` when the clock reaches lab time ``when`` (at once on the next advance if past)."""
        heapq.heappush(self._queue, (float(when), next(self._sequence), callback))

    def call_later(self, delay, callback):
        self.call_at(self.now + float(delay), callback)

    def add_poller(self, next_due, run_due):
        """Register periodic work: ``next_due()`` -> lab time or None, ``run_due(now)`` runs what is due."""
        self._pollers.append((next_due, run_due))

    def _next_event(self):
        candidates = [self._queue[0][0]] if self._queue else []
        for next_due, _run in self._pollers:
            due = next_due()
            if due is not None:
                candidates.append(due)
        return min(candidates) if candidates else None

    def run_due(self):
        """Run every callback and poller due at the current time, without moving the clock."""
        for _guard in range(10000):
            ran = False
            while self._queue and self._queue[0][0] <= self.now:
                _when, _seq, callback = heapq.heappop(self._queue)
                callback()
                ran = True
            for next_due, run in self._pollers:
                due = next_due()
                if due is not None and due <= self.now:
                    run(self.now)
                    ran = True
            if not ran:
                return
        raise RuntimeError("lab clock: events keep rescheduling themselves at the same instant")

    def advance(self, seconds):
        """Move the clock forward ``seconds``, running every event at its own time on the way."""
        if seconds < 0:
            raise ValueError("the lab clock only moves forward")
        target = self.now + float(seconds)
        self.run_due()
        while True:
            due = self._next_event()
            if due is None or due > target:
                break
            self.now = max(self.now, due)
            self.run_due()
        self.now = target
        self.run_due()
        return self.now
