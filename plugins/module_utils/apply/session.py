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


def _as_routeros_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class ApiSession(object):
    """Menu reads and writes over one logged-in librouteros ``Api``."""

    def __init__(self, api):
        self.api = api
        self.writes = 0
        self.reads = 0
        self._rows = {}

    def _path(self, menu_path):
        return self.api.path(*menu_path.strip("/").split("/"))

    def read(self, menu_path):
        """All rows of ``menu_path`` in RouterOS order, values as strings; printed once per session."""
        if menu_path not in self._rows:
            self.reads += 1
            self._rows[menu_path] = [
                dict((name, _as_routeros_text(value)) for name, value in row.items())
                for row in self._path(menu_path)
            ]
        return [dict(row) for row in self._rows[menu_path]]

    def add(self, menu_path, args, place_before=None):
        """Add an item; returns its new id."""
        words = dict(args)
        if place_before is not None:
            words["place-before"] = place_before
        new_id = self._path(menu_path).add(**words)
        self.writes += 1  # counted once RouterOS accepted it: errors say how many writes took effect
        return new_id

    def set(self, menu_path, item_id, args):
        words = dict(args)
        words[".id"] = item_id
        self._path(menu_path).update(**words)
        self.writes += 1

    def remove(self, menu_path, item_id):
        self._path(menu_path).remove(item_id)
        self.writes += 1

    def move(self, menu_path, item_id, destination=None):
        """Move ``item_id`` before ``destination`` (to the end when None)."""
        words = {"numbers": item_id}
        if destination is not None:
            words["destination"] = destination
        tuple(self._path(menu_path)("move", **words))
        self.writes += 1

    def close(self):
        try:
            self.api.close()
        except Exception:  # the connection may already be gone; nothing left to release
            pass
