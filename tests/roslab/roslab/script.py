"""The RouterOS scripting subset the lab runs: scheduler events, netwatch up/down scripts, VRRP
on-master/on-backup scripts, ``/system script run`` and ``/import`` of an ``.rsc`` file (an
``/export``).

Supported:
  * menu commands with arguments, absolute (``/ip firewall filter add chain=input``, ``/ip/address/add``)
    or in a menu context set by a line of its own (``/ip ipsec peer`` then ``add name=x``);
    verbs add, set, remove, enable, disable, unset, reset, move, print, find, get, comment;
    items named by ``[find …]``, by name, by print number (``set 0 …``) or by id;
  * ``[find]``, ``[find where …]``/``[find …]`` with ``=``, ``!=``, ``~`` (regex), bare ``flag`` and
    ``!flag``, joined by ``and`` (and ``or``);
  * ``:log info|warning|error|debug "…"``, ``:delay 5s``, ``:local``/``:global``/``:set``, ``:put``,
    ``:if (…) do={…} else={…}``, ``:foreach x in=… do={…}``, ``:do {…} on-error={…}``, ``:len``,
    ``:tostr``, ``:error``;
  * ``/system script run <name>`` and ``/import file-name=<name>`` (from ``/file`` contents);
  * strings with escapes and ``$var`` interpolation, line continuation with a trailing ``\\``,
    ``#`` comment lines, ``;`` between commands.

Anything else raises ``ScriptError`` naming the line and the reason, so a test never passes because
a script silently did nothing. Commands go to ``router.execute(command, attributes, queries)``;
RouterOS's own errors (``RosTrap``) stop the script like they stop ``/import`` on a real router.

The interpreter is a generator: ``:delay`` yields the seconds to wait, so the fabric resumes the script
on the lab clock; ``run_script``/``import_rsc`` run to the end without waiting.
"""

from __future__ import annotations

import re

from roslab.clock import parse_duration
from roslab.errors import RosTrap
from roslab.schema import truthy

VERBS = frozenset({
    "add", "set", "remove", "enable", "disable", "unset", "reset", "move", "print", "find", "get",
    "comment", "run", "import", "export", "edit", "flush", "kill-connections", "monitor",
})
# verbs that take items (a [find], names, print numbers or ids) as their first, unnamed argument
ITEM_VERBS = frozenset({"set", "remove", "enable", "disable", "unset", "reset", "comment", "get", "move"})
LOG_LEVELS = ("info", "warning", "error", "debug")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.\-]+$")
_BARE_END = set(" \t\r\n;\"[]{}()$")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$", "?": "?", "_": " ",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


class ScriptError(Exception):
    """A script that cannot run: ``line N: reason`` (line numbers are 1-based in the source)."""

    def __init__(self, line, reason):
        super().__init__("line %s: %s" % (line, reason))
        self.line = line
        self.reason = reason


# --- lexer / parser -------------------------------------------------------------------------------
class Tok:
    __slots__ = ("kind", "value", "line", "extra")

    def __init__(self, kind, value, line, extra=None):
        self.kind = kind      # WORD STR VAR SUB EXPR BLOCK ARG
        self.value = value
        self.line = line
        self.extra = extra

    def __repr__(self):
        return "Tok(%s, %r)" % (self.kind, self.value)


class Statement:
    __slots__ = ("tokens", "line")

    def __init__(self, tokens, line):
        self.tokens = tokens
        self.line = line


class Parser:
    def __init__(self, text):
        self.text = text.replace("\r\n", "\n")
        self.pos = 0
        self.line = 1

    def parse(self):
        statements = self._statements(None)
        return statements

    def _error(self, reason):
        raise ScriptError(self.line, reason)

    def _skip_continuation(self):
        # "\" at the end of a line joins the next line; its indentation is dropped (exports wrap so)
        self.pos += 2
        self.line += 1
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _at_continuation(self):
        return self.text.startswith("\\\n", self.pos)

    def _statements(self, end):
        statements, current, start_line = [], [], self.line
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if self._at_continuation():
                self._skip_continuation()
            elif char in " \t\r":
                self.pos += 1
            elif char in "\n;":
                if current:
                    statements.append(Statement(current, start_line))
                current = []
                if char == "\n":
                    self.line += 1
                self.pos += 1
            elif char == "#" and not current:
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.pos += 1
            elif end is not None and char == end:
                self.pos += 1
                if current:
                    statements.append(Statement(current, start_line))
                return statements
            elif char in ")]}":
                self._error("unexpected %r" % char)
            else:
                if not current:
                    start_line = self.line
                current.append(self._token())
        if end is not None:
            self._error("missing %r" % end)
        if current:
            statements.append(Statement(current, start_line))
        return statements

    def _token(self):
        char, line = self.text[self.pos], self.line
        if char == '"':
            return Tok("STR", self._string(), line)
        if char == "[":
            self.pos += 1
            return Tok("SUB", self._statements("]"), line)
        if char == "{":
            start = self.pos + 1
            self.pos += 1
            body = self._statements("}")
            return Tok("BLOCK", body, line, extra=self.text[start:self.pos - 1])
        if char == "(":
            self.pos += 1
            body = self._statements(")")
            return Tok("EXPR", [tok for statement in body for tok in statement.tokens], line)
        if char == "$":
            self.pos += 1
            match = re.match(r"[A-Za-z0-9_]+", self.text[self.pos:])
            if not match:
                self._error("variable name expected after $")
            self.pos += match.end()
            return Tok("VAR", match.group(0), line)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _BARE_END:
            if self._at_continuation():
                break
            if self.text[self.pos] == "\\":
                self.pos += 1
            self.pos += 1
        word = self.text[start:self.pos]
        return self._maybe_argument(word, line)

    def _maybe_argument(self, word, line):
        """``key=value``, ``key~value``, ``key!=value`` (value possibly the next token: "…", […], {…})."""
        positions = [i for i in (word.find("="), word.find("~")) if i > 0]
        if not positions:
            return Tok("WORD", word, line)
        cut = min(positions)
        key, op, rest = word[:cut], word[cut], word[cut + 1:]
        if key.endswith("!") and op == "=":
            key, op = key[:-1], "!="
        if not _IDENTIFIER.match(key):
            return Tok("WORD", word, line)
        if rest == "" and self._at_continuation():
            self._skip_continuation()
        if rest == "" and self.pos < len(self.text) and self.text[self.pos] in '"[{($':
            value = self._token()
        else:
            value = Tok("WORD", rest, line)
        return Tok("ARG", key, line, extra=(op, value))

    def _string(self):
        """A quoted string: a list of parts, text or ("var", name) / ("sub", statements)."""
        self.pos += 1
        parts, buffer, text = [], [], self.text
        while True:
            if self.pos >= len(text):
                self._error("unterminated string")
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                break
            if self._at_continuation():
                self._skip_continuation()
                continue
            if char == "\\":
                nxt = text[self.pos + 1:self.pos + 2]
                if nxt in _ESCAPES:
                    buffer.append(_ESCAPES[nxt])
                    self.pos += 2
                    continue
                hexpair = text[self.pos + 1:self.pos + 3]
                if re.fullmatch(r"[0-9A-Fa-f]{2}", hexpair):
                    buffer.append(chr(int(hexpair, 16)))
                    self.pos += 3
                    continue
                self._error("unknown escape \\%s in string" % nxt)
            if char == "$" and re.match(r"[A-Za-z0-9_]", text[self.pos + 1:self.pos + 2] or " "):
                match = re.match(r"[A-Za-z0-9_]+", text[self.pos + 1:])
                parts.append("".join(buffer))
                buffer = []
                parts.append(("var", match.group(0)))
                self.pos += 1 + match.end()
                continue
            if char == "$" and text[self.pos + 1:self.pos + 2] == "[":
                parts.append("".join(buffer))
                buffer = []
                self.pos += 2
                parts.append(("sub", self._statements("]")))
                continue
            if char == "\n":
                self.line += 1
            buffer.append(char)
            self.pos += 1
        parts.append("".join(buffer))
        return [part for part in parts if part != ""]


def parse(text):
    """Parse script text into statements (raises ScriptError on a syntax error)."""
    return Parser(text).parse()


# --- values ---------------------------------------------------------------------------------------
def to_text(value):
    """A script value as the string an argument carries."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(to_text(v) for v in value)
    return str(value)


def _same(stored, wanted):
    truth = {"true": True, "yes": True, "false": False, "no": False}
    if stored == wanted:
        return True
    if stored in truth and wanted in truth:
        return truth[stored] == truth[wanted]
    return False


def _truthy(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (list, tuple)):
        return bool(value)
    return truthy(value)


def _literal(word):
    if re.fullmatch(r"-?\d+", word):
        return int(word)
    if word in ("true", "yes"):
        return True
    if word in ("false", "no"):
        return False
    return word


# --- interpreter ----------------------------------------------------------------------------------
class Interpreter:
    """Runs parsed statements against one router.

    ``globals_``: the router's global variables (shared by every script on it, kept by the fabric).
    ``read_file(name)``: contents of a ``/file`` entry for ``/import`` (default: ``/file`` rows'
    ``contents``).
    """

    def __init__(self, router, globals_=None, read_file=None, max_depth=8):
        self.router = router
        self.globals = globals_ if globals_ is not None else {}
        self.read_file = read_file
        self.output = []
        self.max_depth = max_depth

    # generator protocol: every `yield` is a :delay in seconds
    def run(self, source, context=(), depth=0):
        statements = parse(source) if isinstance(source, str) else source
        scope = {"locals": [{}], "context": list(context), "depth": depth}
        yield from self._block(statements, scope)

    def _block(self, statements, scope, new_scope=True):
        if new_scope:
            scope["locals"].append({})
        try:
            for statement in statements:
                yield from self._statement(statement, scope)
        finally:
            if new_scope:
                scope["locals"].pop()

    def _statement(self, statement, scope):
        tokens, line = statement.tokens, statement.line
        head = tokens[0]
        if head.kind == "WORD" and head.value.startswith(":"):
            result = yield from self._builtin(head.value[1:], tokens[1:], line, scope)
            return result
        if head.kind == "WORD" and head.value.startswith("/") or head.kind == "WORD" and \
                (head.value in VERBS or head.value == ".."):
            result = yield from self._command(tokens, line, scope, substitution=False)
            return result
        if head.kind == "WORD" and _IDENTIFIER.match(head.value):
            # a relative submenu (`ipsec peer add …` inside `/ip`)
            result = yield from self._command(tokens, line, scope, substitution=False)
            return result
        raise ScriptError(line, "bad command name %s (not in the emulated scripting subset)" % _show(head))

    # -- values -----------------------------------------------------------------------------------
    def _lookup(self, name, line, scope):
        for frame in reversed(scope["locals"]):
            if name in frame:
                return frame[name]
        if name in self.globals:
            return self.globals[name]
        raise ScriptError(line, "unknown variable $%s (declare it with :local or :global)" % name)

    def _assign(self, name, value, line, scope):
        for frame in reversed(scope["locals"]):
            if name in frame:
                frame[name] = value
                return
        if name in self.globals:
            self.globals[name] = value
            return
        raise ScriptError(line, "unknown variable %s (declare it with :local or :global)" % name)

    def _value(self, tok, scope, context=None):
        """Evaluate a token to a value (no delays allowed inside)."""
        if tok.kind == "WORD":
            return _literal(tok.value)
        if tok.kind == "STR":
            out = []
            for part in tok.value:
                if isinstance(part, str):
                    out.append(part)
                elif part[0] == "var":
                    out.append(to_text(self._lookup(part[1], tok.line, scope)))
                else:
                    out.append(to_text(self._substitute(part[1], tok.line, scope)))
            return "".join(out)
        if tok.kind == "VAR":
            return self._lookup(tok.value, tok.line, scope)
        if tok.kind == "SUB":
            return self._substitute(tok.value, tok.line, scope)
        if tok.kind == "EXPR":
            return self._expression(tok.value, tok.line, scope)
        if tok.kind == "BLOCK":
            return tok.extra.strip()
        raise ScriptError(tok.line, "unexpected %s" % _show(tok))

    def _substitute(self, statements, line, scope):
        result = None
        for statement in statements:
            runner = self._statement(statement, scope)
            try:
                while True:
                    next(runner)
                    raise ScriptError(line, ":delay inside [ ] is not emulated")
            except StopIteration as stop:
                result = stop.value
        return result

    # -- builtins (:log, :local …) ----------------------------------------------------------------
    def _builtin(self, name, args, line, scope):
        if name == "log":
            if len(args) != 2 or args[0].kind != "WORD" or args[0].value not in LOG_LEVELS:
                raise ScriptError(line, ":log needs a level (%s) and a message" % "|".join(LOG_LEVELS))
            self.router.log("script," + args[0].value, to_text(self._value(args[1], scope)))
        elif name == "put":
            self.output.append(to_text(self._value(args[0], scope)) if args else "")
        elif name == "delay":
            if len(args) != 1:
                raise ScriptError(line, ":delay needs one time value")
            text = to_text(self._value(args[0], scope))
            try:
                seconds = parse_duration(text)
            except ValueError:
                raise ScriptError(line, "invalid time value for :delay: %s" % text)
            yield seconds
        elif name in ("local", "global"):
            if not args or args[0].kind != "WORD" or not re.fullmatch(r"[A-Za-z0-9_]+", args[0].value):
                raise ScriptError(line, ":%s needs a variable name" % name)
            if len(args) > 2:
                raise ScriptError(line, ":%s takes a name and one value" % name)
            variable = args[0].value
            if name == "local":
                scope["locals"][-1][variable] = self._value(args[1], scope) if len(args) > 1 else None
            else:
                if len(args) > 1:
                    self.globals[variable] = self._value(args[1], scope)
                else:
                    self.globals.setdefault(variable, None)
        elif name == "set":
            if len(args) != 2 or args[0].kind != "WORD":
                raise ScriptError(line, ":set needs a variable name and a value")
            self._assign(args[0].value, self._value(args[1], scope), line, scope)
        elif name == "if":
            condition, branches = None, {}
            for arg in args:
                if arg.kind == "ARG" and arg.value in ("do", "else") and arg.extra[1].kind == "BLOCK":
                    branches[arg.value] = arg.extra[1].value
                elif condition is None and arg.kind in ("EXPR", "SUB", "VAR"):
                    condition = arg
                else:
                    raise ScriptError(line, ":if expects (condition) do={…} [else={…}], got %s" % _show(arg))
            if condition is None or "do" not in branches:
                raise ScriptError(line, ":if expects (condition) do={…} [else={…}]")
            if _truthy(self._value(condition, scope)):
                yield from self._block(branches["do"], scope)
            elif "else" in branches:
                yield from self._block(branches["else"], scope)
        elif name == "foreach":
            # :foreach i in=<list> do={…}
            if len(args) != 3 or args[0].kind != "WORD" or args[1].kind != "ARG" or args[1].value != "in" \
                    or args[2].kind != "ARG" or args[2].value != "do" or args[2].extra[1].kind != "BLOCK":
                raise ScriptError(line, ":foreach expects a name, in=<list> and do={…}")
            values = self._value(args[1].extra[1], scope)
            if not isinstance(values, (list, tuple)):
                values = [] if values in (None, "") else [values]
            for value in values:
                scope["locals"].append({args[0].value: value})
                try:
                    yield from self._block(args[2].extra[1].value, scope)
                finally:
                    scope["locals"].pop()
        elif name == "do":
            # :do {…} on-error={…}
            if not args or args[0].kind != "BLOCK" or any(
                    a.kind != "ARG" or a.value != "on-error" or a.extra[1].kind != "BLOCK" for a in args[1:]):
                raise ScriptError(line, ":do expects {…} and optionally on-error={…}")
            try:
                yield from self._block(args[0].value, scope)
            except ScriptError:
                if len(args) == 1:
                    raise
                yield from self._block(args[1].extra[1].value, scope)
        elif name == "len":
            value = self._value(args[0], scope) if args else None
            return len(value) if isinstance(value, (list, tuple, str)) else (0 if value is None else 1)
        elif name == "tostr":
            return to_text(self._value(args[0], scope)) if args else ""
        elif name == "error":
            raise ScriptError(line, to_text(self._value(args[0], scope)) if args else "error")
        else:
            raise ScriptError(line, "bad command name :%s (not in the emulated scripting subset)" % name)
        return None

    # -- expressions -------------------------------------------------------------------------------
    def _expression(self, tokens, line, scope):
        flat = []
        for tok in tokens:
            if tok.kind == "WORD":
                for piece in re.findall(r"!=|<=|>=|&&|\|\||[=<>!~]|[^=<>!~&|]+|[&|]", tok.value):
                    flat.append(Tok("OP" if re.fullmatch(r"!=|<=|>=|&&|\|\||[=<>!~]", piece) else "WORD",
                                    piece, tok.line))
            elif tok.kind == "ARG":
                # `$x="a"` lexes as VAR + ARG-less word; `a=b` inside ( ) is a comparison
                op, value = tok.extra
                flat += [Tok("WORD", tok.value, tok.line), Tok("OP", op, tok.line), value]
            else:
                flat.append(tok)
        for tok in flat:
            if tok.kind == "WORD" and tok.value in ("and", "or", "not", "in", "+", "-", "*", "/", "."):
                tok.kind = "OP"
        evaluator = _ExprEvaluator(self, flat, line, scope)
        value = evaluator.parse(0)
        if evaluator.index != len(flat):
            raise ScriptError(line, "unexpected %s in expression" % _show(flat[evaluator.index]))
        return value

    # -- menu commands -----------------------------------------------------------------------------
    def _command(self, tokens, line, scope, substitution):
        path = list(scope["context"])
        index = 0
        first = tokens[0].value
        if first.startswith("/"):
            path = [part for part in first.split("/") if part]
            index = 1
        while index < len(tokens) and tokens[index].kind == "WORD" and tokens[index].value not in VERBS \
                and _IDENTIFIER.match(tokens[index].value):
            if tokens[index].value == "..":
                path = path[:-1]
            else:
                path.append(tokens[index].value)
            index += 1
        # "/ip/ipsec/peer/add" carries its verb in the path
        if index < len(tokens) and tokens[index].kind == "WORD" and tokens[index].value in VERBS:
            verb = tokens[index].value
            index += 1
        elif path and path[-1] in VERBS and (index == len(tokens) or tokens[index].kind != "WORD"
                                             or tokens[index].value not in VERBS):
            verb = path.pop()
        else:
            verb = None
        if verb is None:
            if not first.startswith("/"):
                raise ScriptError(line, "bad command name %s (not in the emulated scripting subset)" % first)
            if index != len(tokens):
                raise ScriptError(line, "expected a command after /%s, got %s" % ("/".join(path), _show(tokens[index])))
            scope["context"] = path        # a context line: `/ip ipsec peer`
            return None
        menu = "/" + "/".join(path)
        rest = tokens[index:]
        if menu == "/system/script" and verb == "run":
            yield from self._run_named_script(rest, line, scope)
            return None
        if menu == "/" and verb == "import":
            yield from self._import(rest, line, scope)
            return None
        # the command's own arguments ([find …] above all) run in the command's menu, as on
        # RouterOS: `/ip firewall filter remove [find …]` finds filter rules from any context
        saved, scope["context"] = scope["context"], path
        try:
            return self._menu_command(menu, verb, rest, line, scope)
        finally:
            scope["context"] = saved

    def _arguments(self, menu, verb, rest, line, scope):
        if verb in ("find", "print", "export"):
            # everything after the verb is a condition (an optional leading `where`); print's
            # display words (detail, terse, …) only change how rows look
            conditions = [tok for tok in rest if not (tok.kind == "WORD" and tok.value in
                                                       ("where", "detail", "terse", "brief", "verbose",
                                                        "compact", "without-paging", "as-value"))]
            return {}, [], conditions
        attributes, positional, where = {}, [], []
        for tok in rest:
            if tok.kind == "ARG":
                op, value_tok = tok.extra
                if op != "=":
                    raise ScriptError(line, "unexpected %s%s in command arguments" % (tok.value, op))
                # a bare value is passed as written (`passive=yes` stays "yes")
                attributes[tok.value] = value_tok.value if value_tok.kind == "WORD" else \
                    to_text(self._value(value_tok, scope))
            else:
                positional.append(self._value(tok, scope))
        return attributes, positional, where

    def _resolve_items(self, menu, value, line):
        """Ids for an unnamed item argument: a [find] list, a name, a print number or an id."""
        values = value if isinstance(value, (list, tuple)) else [v for v in to_text(value).split(",") if v]
        rows = self._rows(menu, line)
        ids = []
        for item in values:
            item = to_text(item)
            if item.startswith("*"):
                ids.append(item)
            elif item.isdigit():
                number = int(item)
                if number >= len(rows):
                    raise ScriptError(line, "no such item (%s in %s)" % (item, menu))
                ids.append(rows[number][".id"])
            else:
                named = [row[".id"] for row in rows if row.get("name") == item]
                if not named:
                    raise ScriptError(line, "no such item (%s in %s)" % (item, menu))
                ids.extend(named)
        return ids

    def _rows(self, menu, line):
        try:
            return list(self.router.items(menu))
        except RosTrap as trap:
            raise ScriptError(line, trap.message)
        except KeyError:
            raise ScriptError(line, "no such command prefix (%s)" % menu)

    def _find(self, menu, attributes, where, line, scope):
        conditions = [Tok("ARG", key, line, extra=("=", Tok("WORD", value, line))) for key, value in attributes.items()]
        conditions += list(where)
        rows = self._rows(menu, line)
        return [row[".id"] for row in rows if self._where(row, conditions, line, scope)]

    def _where(self, row, conditions, line, scope):
        result, joiner = None, "and"
        for tok in conditions:
            if tok.kind == "WORD" and tok.value in ("and", "or"):
                joiner = tok.value
                continue
            if tok.kind == "ARG":
                op, value_tok = tok.extra
                wanted = to_text(self._value(value_tok, scope))
                stored = row.get(tok.value)
                if op == "=":
                    ok = stored is not None and _same(stored, wanted)
                elif op == "!=":
                    ok = stored is None or not _same(stored, wanted)
                else:
                    try:
                        ok = stored is not None and re.search(wanted, stored) is not None
                    except re.error as exc:
                        raise ScriptError(line, "invalid regex %r: %s" % (wanted, exc))
            elif tok.kind == "WORD" and _IDENTIFIER.match(tok.value.lstrip("!")):
                negate = tok.value.startswith("!")
                ok = _truthy(row.get(tok.value.lstrip("!"), "false")) != negate
            elif tok.kind == "EXPR":
                ok = self._where(row, tok.value, line, scope)
            else:
                raise ScriptError(line, "unsupported condition %s in find" % _show(tok))
            result = ok if result is None else (result and ok if joiner == "and" else result or ok)
            joiner = "and"
        return True if result is None else result

    def _execute(self, command, attributes, line):
        try:
            return self.router.execute(command, attributes, [])
        except RosTrap as trap:
            raise ScriptError(line, "%s (%s)" % (trap.message, command))

    def _menu_command(self, menu, verb, rest, line, scope):
        attributes, positional, where = self._arguments(menu, verb, rest, line, scope)
        if verb == "find":
            return self._find(menu, attributes, where, line, scope)
        if verb == "print":
            ids = set(self._find(menu, {}, where, line, scope))
            return [row for row in self._rows(menu, line) if row[".id"] in ids]
        if verb == "export":
            raise ScriptError(line, "export inside a script is not emulated")
        if verb == "get":
            if len(positional) != 2 and not (len(positional) == 1 and "value-name" in attributes):
                raise ScriptError(line, "get needs an item and a property name")
            name = to_text(positional[1]) if len(positional) == 2 else attributes["value-name"]
            ids = self._resolve_items(menu, positional[0], line)
            if not ids:
                raise ScriptError(line, "no such item (%s)" % menu)
            row = next(r for r in self._rows(menu, line) if r[".id"] == ids[0])
            return _literal(row[name]) if name in row else None
        if verb in ITEM_VERBS and positional:
            if len(positional) > 1:
                raise ScriptError(line, "unexpected %s after the items" % to_text(positional[1]))
            ids = self._resolve_items(menu, positional[0], line)
            if not ids:
                return None          # `set [find …]` that finds nothing does nothing
            attributes[".id" if verb != "move" else "numbers"] = ",".join(ids)
            if verb == "move" and "destination" in attributes and not attributes["destination"].startswith("*"):
                attributes["destination"] = ",".join(self._resolve_items(menu, attributes["destination"], line))
        elif positional:
            raise ScriptError(line, "%s does not take %s" % (verb, to_text(positional[0])))
        result = self._execute(menu + "/" + verb, attributes, line)
        return result.done.get("ret") if verb == "add" else None

    def _run_named_script(self, rest, line, scope):
        if scope["depth"] >= self.max_depth:
            raise ScriptError(line, "scripts nested too deep")
        attributes, positional, _where = self._arguments("/system/script", "run", rest, line, scope)
        target = to_text(positional[0]) if positional else attributes.get("number", attributes.get(".id"))
        rows = self._rows("/system/script", line)
        row = next((r for r in rows if target in (r.get("name"), r.get(".id"))), None)
        if row is None:
            raise ScriptError(line, "no such item (script %s)" % target)
        count = int(row.get("run-count", "0") or 0) + 1
        self.router.set_runtime_props("/system/script", row[".id"], {"run-count": str(count)})
        try:
            yield from self.run(row.get("source", ""), depth=scope["depth"] + 1)
        except ScriptError as exc:
            raise ScriptError(line, "in script %s: %s" % (row.get("name"), exc))

    def _import(self, rest, line, scope):
        attributes, positional, _where = self._arguments("/", "import", rest, line, scope)
        name = attributes.get("file-name") or (to_text(positional[0]) if positional else None)
        if not name:
            raise ScriptError(line, "import needs file-name")
        if self.read_file is not None:
            text = self.read_file(name)
        else:
            row = next((r for r in self._rows("/file", line) if r.get("name") in (name, name + ".rsc")), None)
            text = row.get("contents") if row else None
        if text is None:
            raise ScriptError(line, "no such file %s" % name)
        try:
            yield from self.run(text, depth=scope["depth"] + 1)
        except ScriptError as exc:
            raise ScriptError(line, "in %s: %s" % (name, exc))


class _ExprEvaluator:
    BINARY = {"||": 1, "or": 1, "&&": 2, "and": 2, "=": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3,
              "~": 3, "in": 3, ".": 4, "+": 4, "-": 4, "*": 5, "/": 5}

    def __init__(self, interpreter, tokens, line, scope):
        self.interpreter, self.tokens, self.line, self.scope = interpreter, tokens, line, scope
        self.index = 0

    def _peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def parse(self, minimum):
        """Precedence climbing; every binary operator is left-associative."""
        left = self._unary()
        while True:
            tok = self._peek()
            if tok is None or tok.kind != "OP" or tok.value not in self.BINARY:
                return left
            precedence = self.BINARY[tok.value]
            if precedence <= minimum:
                return left
            self.index += 1
            right = self.parse(precedence)
            left = self._apply(tok.value, left, right)

    def _unary(self):
        tok = self._peek()
        if tok is None:
            raise ScriptError(self.line, "incomplete expression")
        if tok.kind == "OP" and tok.value in ("!", "not"):
            self.index += 1
            return not _truthy(self._unary())
        if tok.kind == "OP" and tok.value == "-":
            self.index += 1
            return -self._unary()
        if tok.kind == "OP":
            raise ScriptError(self.line, "unexpected %s in expression" % tok.value)
        self.index += 1
        return self.interpreter._value(tok, self.scope)

    def _apply(self, op, left, right):
        if op in ("&&", "and"):
            return _truthy(left) and _truthy(right)
        if op in ("||", "or"):
            return _truthy(left) or _truthy(right)
        if op == "=":
            return to_text(left) == to_text(right)
        if op == "!=":
            return to_text(left) != to_text(right)
        if op == "~":
            return re.search(to_text(right), to_text(left)) is not None
        if op == "in":
            return left in right if isinstance(right, (list, tuple)) else to_text(left) in to_text(right)
        if op == ".":
            return to_text(left) + to_text(right)
        if op in ("<", ">", "<=", ">="):
            if not (isinstance(left, int) and isinstance(right, int)):
                raise ScriptError(self.line, "cannot compare %r %s %r (numbers only)" % (left, op, right))
            return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
        if isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool):
            return {"+": left + right, "-": left - right, "*": left * right,
                    "/": left // right if right else 0}[op]
        raise ScriptError(self.line, "arithmetic %s needs numbers" % op)


def _show(tok):
    if tok.kind in ("WORD", "VAR"):
        return ("$" if tok.kind == "VAR" else "") + tok.value
    if tok.kind == "ARG":
        return tok.value + tok.extra[0] + "…"
    return {"STR": '"…"', "SUB": "[…]", "EXPR": "(…)", "BLOCK": "{…}"}.get(tok.kind, tok.kind)


def run_to_end(generator):
    """Drive an interpreter generator, ignoring :delay (for /import and tests); returns seconds skipped."""
    waited = 0.0
    for seconds in generator:
        waited += seconds
    return waited


def run_script(router, source, globals_=None):
    """Run ``source`` on ``router`` to the end (delays skipped); returns the :put output lines."""
    interpreter = Interpreter(router, globals_)
    run_to_end(interpreter.run(source))
    return interpreter.output


def import_rsc(router, text, globals_=None):
    """``/import`` of an .rsc text (such as ``/export`` output) on ``router``."""
    interpreter = Interpreter(router, globals_)
    run_to_end(interpreter.run(text))
    return interpreter.output
