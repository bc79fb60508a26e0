# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RouterOS value normalisation, so that the engine compares meaning, not spelling.

RouterOS prints ``true``/``false`` but accepts ``yes``/``no``; prints durations compactly (``1h30m``)
but accepts ``5400`` or ``01:30:00``; prints enum lists in its own order; completes a host address to
``/32`` and zeroes host bits of a prefix. librouteros additionally turns ``"500"`` into ``500`` and
``"yes"`` into ``True`` when reading. ``normalize`` maps every spelling of a value to one canonical
string; ``to_api`` turns a module value into the string the engine writes.

Kept Python 3.8+ compatible: modules using it may run on a target host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.menus import MENUS, fields_of_kind

# Comparison kinds by argument name, from the one field table (device/menus.py); menus share
# argument names, and a name has the same kind wherever it appears.
DURATION_FIELDS = fields_of_kind("duration")
# sets of enum words: RouterOS prints them in its own order
UNORDERED_LIST_FIELDS = fields_of_kind("set")
# addresses or prefixes: RouterOS adds /32 or /128 and clears host bits
PREFIX_FIELDS = fields_of_kind("prefix")

BOOLEAN_WORDS = {"yes": "true", "true": "true", "no": "false", "false": "false"}

# Values RouterOS reports when an argument was never set (routeros7-behaviour.md, section 2), so that
# an item printed without the argument compares equal to one asking for the default explicitly.
DEFAULTS = dict((path, menu.defaults) for path, menu in MENUS.items())

# Argument groups RouterOS keeps unique within a menu (a write that would duplicate one is refused).
UNIQUE_TOGETHER = dict((path, menu.unique) for path, menu in MENUS.items() if menu.unique)

_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_CLOCK = re.compile(r"^(?:(\d+)d)?\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def to_text(value):
    """The RouterOS string for a value as librouteros or a module hands it over."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(to_text(v) for v in value)
    return str(value)


def parse_duration(text):
    """Seconds in a RouterOS time value (``1d2h``, ``30m``, ``00:30:00``, ``90``), or None."""
    text = str(text).strip()
    if not text:
        return None
    if re.match(r"^\d+(?:\.\d+)?$", text):
        return float(text)
    clock = _CLOCK.match(text)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    position = 0
    total = 0.0
    for part in _DURATION_PART.finditer(text):
        if part.start() != position:
            return None
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        position = part.end()
    if position != len(text):
        return None
    return total


def format_duration(seconds):
    """Whole seconds in RouterOS's compact print form: 1d, 30m, 1h30m, 0s."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append("%d%s" % (count, unit))
    return "".join(parts)


def _format_seconds(seconds):
    return ("%d" % seconds) if seconds == int(seconds) else ("%g" % seconds)


def _normalize_prefix(text):
    negated = text.startswith("!")
    body = text[1:] if negated else text
    try:
        if "/" in body:
            network = ipaddress.ip_network(body, strict=False)
        elif "-" in body:
            return text  # an address range stays as written
        else:
            network = ipaddress.ip_network(body)
    except ValueError:
        return text.lower()  # a DNS name (peer address, address-list entry)
    return ("!" if negated else "") + str(network)


def normalize(field, value):
    """Canonical comparison string of ``value`` for argument ``field`` (RouterOS name), or None."""
    text = to_text(value)
    if text is None:
        return None
    text = text.strip()
    if text in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[text]
    if field in DURATION_FIELDS:
        seconds = parse_duration(text)
        return text if seconds is None else _format_seconds(seconds)
    if field in UNORDERED_LIST_FIELDS:
        return ",".join(sorted(part.strip() for part in text.split(",") if part.strip()))
    if field in PREFIX_FIELDS:
        return ",".join(_normalize_prefix(part.strip()) for part in text.split(","))
    if field == "local-address":
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    return text


def default_of(menu_path, field):
    """What RouterOS reports for ``field`` of ``menu_path`` when it was never set, or None."""
    return DEFAULTS.get(menu_path, {}).get(field)


def same_value(menu_path, field, desired, current):
    """True when ``desired`` and the printed ``current`` (None when absent) mean the same."""
    if current is None:
        current = default_of(menu_path, field)
    if desired is None:
        desired = default_of(menu_path, field)
    return normalize(field, desired) == normalize(field, current)


def unique_values(menu_path, item):
    """The item's value tuple for each unique argument group of ``menu_path`` (None where unset)."""
    tuples = []
    for fields in UNIQUE_TOGETHER.get(menu_path, ()):
        values = []
        for field in fields:
            value = item.get(field)
            if value is None and field != fields[0]:
                value = default_of(menu_path, field)
            values.append(None if value is None else normalize(field, value))
        tuples.append((fields, None if values[0] is None else tuple(values)))
    return tuples
