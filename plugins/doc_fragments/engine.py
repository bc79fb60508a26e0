# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options and behaviour shared by every module built on the ipsecfleet apply engine."""

    DOCUMENTATION = r"""
options:
  state:
    description:
      - V(merged) adds missing items and sets the given arguments of existing owned items.
      - V(replaced) is V(merged), and arguments an item does not give go back to the RouterOS default.
      - V(overridden) is V(replaced), and owned items of the module's menus that O(config) does not list are removed.
      - V(deleted) removes the owned items O(config) lists (matched by ownership key); without items it removes
        every owned item of the module's menus.
      - V(gathered) reads the owned items back in the format of O(config) (secrets masked); nothing is written.
      - V(rendered) returns the RouterOS commands that would create O(config) on an empty router, without
        contacting it (secrets masked).
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: merged
  secret_update:
    description:
      - What to do with a secret (an identity's C(secret)) when RouterOS does not print it,
        for example for a user without the C(sensitive) policy. Readable secrets are always compared.
      - V(on_change) writes the secret whenever another argument of the same item changes.
      - V(always) writes it on every run (the task then always reports a change).
      - V(on_create) writes it only when the item is added.
    type: str
    choices: [on_change, always, on_create]
    default: on_change
notes:
  - Only items the collection owns are changed. An item is owned when its comment starts with C(ipsecfleet:)
    (the word after it is the item's key) or, in the IPsec profile (no comment) and policy group menus, when
    its name starts with C(ipsecfleet-). Foreign and dynamic items are never changed, moved or removed.
  - A desired item whose name is already used by a foreign item fails the task before anything is written.
  - Each run prints every managed menu once and writes only differences (arguments compared after
    normalising booleans, durations, enum lists and prefixes). Creation follows dependencies (profile before
    peer before identity and policy); removals happen last, in reverse order.
  - Secrets never appear in results, diffs, commands or error messages.
  - The action plugin of the same name runs the engine inside the Ansible worker on the controller; the
    module runs the same engine when executed elsewhere.
"""
