# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a host plan as a RouterOS ``.rsc`` script (what state ``rendered`` returns).

The script creates the planned items on a router that has none of them, in dependency order
(menus.APPLY_ORDER): ``/ip ipsec profile`` then ``add ...`` lines. Values are quoted and escaped
the way RouterOS's own ``/export`` does. Secrets (menus' ``secrets`` of each menu) are replaced by
SECRET_PLACEHOLDER unless ``reveal_secrets=True``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus

SECRET_PLACEHOLDER = "********"

# characters RouterOS reads literally in an unquoted value
_BARE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/*@+!")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "?": "\\?", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


class RenderError(ValueError):
    """A plan that cannot be rendered (unknown section or argument)."""


def quote(value):
    """A RouterOS script value: bare when safe, else double-quoted with RouterOS escapes."""
    text = "" if value is None else str(value)
    # a leading "!" would read as the negation operator in a script expression
    if text and all(c in _BARE_CHARS for c in text) and not text.startswith("!"):
        return text
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append("\\%02X" % ord(char))
        elif ord(char) > 127:
            # RouterOS stores bytes; its export writes non-ASCII UTF-8 as \XX per byte
            out.extend("\\%02X" % b for b in bytearray(char.encode("utf-8")))
        else:
            out.append(char)
    return '"%s"' % "".join(out)


def menu_header(path):
    """``/ip/ipsec/policy/group`` -> ``/ip ipsec policy group``."""
    return "/" + " ".join(path.strip("/").split("/"))


def _ordered_args(menu, item):
    # a planned item's accepted alternatives (menus.ACCEPTS) are not arguments
    names = [k.replace("_", "-") for k in item if k != menus.ACCEPTS]
    order = dict((name, i) for i, name in enumerate(menu.fields))
    # name first (what a reader looks for), comment last (as RouterOS prints it)
    return sorted(names, key=lambda n: (n != "name", n == "comment", order.get(n, len(order)), n))


def render_line(menu, item, reveal_secrets=False):
    words = ["add"]
    for arg in _ordered_args(menu, item):
        if arg not in menu.fields:
            raise RenderError("%s: %s is not an argument of %s" % (menu.section, arg, menu.path))
        value = item[arg.replace("-", "_")] if arg.replace("-", "_") in item else item[arg]
        if value is None:
            continue
        if arg in menu.secrets and not reveal_secrets and value != "":
            value = SECRET_PLACEHOLDER
        words.append("%s=%s" % (arg, quote(value)))
    return " ".join(words)


def render(plan, host=None, reveal_secrets=False):
    """The .rsc script text for ``plan`` ({section: [items]})."""
    known = set(m.section for m in menus.MENUS.values())
    for section in plan:
        if section not in known:
            raise RenderError("unknown plan section %r (known: %s)" % (section, ", ".join(sorted(known))))
    lines = ["# ipsecfleet.routeros plan%s" % (" for " + host if host else "")]
    has_secrets = any(menus.MENUS_BY_SECTION[s].secrets and plan[s] for s in plan)
    if has_secrets and not reveal_secrets:
        lines.append("# secrets are shown as %s; render with reveal_secrets=True to include them"
                     % SECRET_PLACEHOLDER)
    for path in menus.APPLY_ORDER:
        menu = menus.MENUS[path]
        items = plan.get(menu.section) or []
        if not items:
            continue
        lines.append(menu_header(path))
        for item in items:
            lines.append(render_line(menu, item, reveal_secrets))
    return "\n".join(lines) + "\n"
