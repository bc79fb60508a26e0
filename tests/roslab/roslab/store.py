"""Items, ids, ordering, queries and the generic RouterOS verbs, with RouterOS validation texts.

A ``Store`` holds one router's configuration: a table of items per menu. Ids are ``*`` plus uppercase
hex from one per-router counter, never reused (so an interface keeps one id in ``/interface`` and in
its type menu). Per-menu behaviour (built-in items, dynamic objects, references that refuse removal)
is added by ``roslab.menus.Router`` through the ``_hook_*`` methods.
"""

import copy

from roslab import schema
from roslab.errors import RosTrap
from roslab.schema import trap


class Result(object):
    """One reply: ``rows`` become ``!re``, ``done`` the ``!done`` attributes, ``empty`` a ``!empty``."""

    def __init__(self, rows=None, done=None, empty=False, listen=None):
        self.rows = rows or []
        self.done = done or {}
        self.empty = empty
        # a menu path: the command is `listen`, which the transport keeps open and streams
        self.listen = listen

    def __repr__(self):
        return "Result(rows=%r, done=%r, empty=%r)" % (self.rows, self.done, self.empty)


class Item(object):
    """One configuration item. ``builtin``: a default item RouterOS creates itself; ``owner``: the
    (menu, id) of the item that created this dynamic one (GRE ipsec-secret)."""

    def __init__(self, item_id, props, builtin=False, owner=None):
        self.id = item_id
        self.props = props
        self.builtin = builtin
        self.owner = owner

    @property
    def dynamic(self):
        return self.props.get("dynamic") == "true"

    def row(self):
        row = {".id": self.id}
        row.update(self.props)
        return row


class Table(object):
    def __init__(self, path):
        self.path = path
        self.items = []

    def find(self, item_id):
        for item in self.items:
            if item.id == item_id:
                return item
        return None


def _split(text):
    return [p for p in text.split(",") if p != ""] if text else []


# --- queries (spec §1: the `?` evaluation stack) --------------------------------------------------
def _as_number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _equal(stored, wanted):
    if stored is None:
        return False
    if stored == wanted:
        return True
    if stored in ("true", "false") and wanted in schema.BOOL_INPUT:
        return schema.BOOL_INPUT[wanted] == stored
    return False


def _compare(stored, wanted, less):
    if stored is None:
        return False
    a, b = _as_number(stored), _as_number(wanted)
    if a is None or b is None:
        a, b = stored, wanted
    return a < b if less else a > b


def compile_query(queries):
    """A predicate over rows for API query words (without the leading ``?``)."""
    if not queries:
        return lambda row: True
    simple = []
    for word in queries:
        if word[:1] in ("#", "-", "<", ">") or "=" not in word.lstrip("="):
            return lambda row: query_matches(row, queries)
        name, _, value = (word[1:] if word.startswith("=") else word).partition("=")
        simple.append((name, value))
    # only equalities: every pushed value must be true (the common case, kept fast)
    return lambda row: all(_equal(row.get(name), value) for name, value in simple)


def query_matches(row, queries):
    """Evaluate API query words (without the leading ``?``) against one row."""
    stack = []

    def pop():
        return stack.pop() if stack else True

    for word in queries:
        if word.startswith("#"):
            ops = word[1:]
            i = 0
            while i < len(ops):
                op = ops[i]
                # digits push a copy of the value at that index, 0 being the top (UNCONFIRMED which end)
                if op.isdigit():
                    j = i
                    while j < len(ops) and ops[j].isdigit():
                        j += 1
                    index = int(ops[i:j])
                    stack.append(stack[-1 - index] if index < len(stack) else True)
                    i = j
                    continue
                if op == "!":
                    stack.append(not pop())
                elif op == "&":
                    b, a = pop(), pop()
                    stack.append(a and b)
                elif op == "|":
                    b, a = pop(), pop()
                    stack.append(a or b)
                elif op == ".":
                    top = pop()
                    stack.extend((top, top))
                else:
                    raise trap("bad_query_operation", op)
                i += 1
            continue
        if word.startswith("-"):
            stack.append(word[1:] not in row)
        elif word.startswith("<") or word.startswith(">"):
            name, _, value = word[1:].partition("=")
            stack.append(_compare(row.get(name), value, word[0] == "<"))
        else:
            if word.startswith("="):
                word = word[1:]
            if "=" in word:
                name, _, value = word.partition("=")
                stack.append(_equal(row.get(name), value))
            else:
                stack.append(word in row)
    return all(stack)


class Store(object):
    """The generic behaviour of every menu. ``menus.Router`` specialises it."""

    def __init__(self, version=schema.DEFAULT_VERSION):
        self.version = version
        schema.tree_version(version)   # refuse versions outside the emulated range early
        self.tables = {}
        self.next_id = 1
        self._listeners = []

    # -- ids and lookup ------------------------------------------------------------------------
    def new_id(self):
        item_id = "*%X" % self.next_id
        self.next_id += 1
        return item_id

    def schema(self, path):
        return schema.menu_schema(path, self.version)

    def table(self, path):
        if path not in self.tables:
            self.tables[path] = Table(path)
        return self.tables[path]

    def all_items(self, path):
        """Items of a menu as print sees them (menus may make a menu a view over others)."""
        return self.table(path).items

    def _resolve_one(self, path, ref, sch):
        items = self.all_items(path)
        if ref.startswith("*"):
            for item in items:
                if item.id.upper() == ref.upper():
                    return item
        elif sch is not None and sch.key:
            for item in items:
                if item.props.get(sch.key) == ref:
                    return item
        raise trap("no_such_item")

    def resolve(self, path, refs):
        """``.id``/``numbers`` value (comma list of ids, or names where the menu has a name key)."""
        sch = self.schema(path)
        ids = _split(refs)
        if not ids:
            raise trap("no_such_item")
        found = []
        for ref in ids:
            item = self._resolve_one(path, ref, sch)
            if item not in found:
                found.append(item)
        return found

    def has_named(self, path, name):
        sch = self.schema(path)
        key = (sch.key if sch else None) or "name"
        return any(item.props.get(key) == name for item in self.all_items(path))

    # -- entry point -----------------------------------------------------------------------------
    def execute_menu(self, path, verb, attributes, queries):
        sch = self.schema(path)
        handler = getattr(self, "_cmd_" + verb.replace("-", "_"), None)
        if handler is None:
            raise RosTrap("roslab: %s/%s is not emulated" % (path, verb), 0)
        result = handler(path, sch, dict(attributes), list(queries))
        return result

    def _changed(self, path):
        for callback in list(self._listeners):
            callback(self, path)

    def off_change(self, callback):
        """Stop calling a callback given to ``on_change`` (an API ``listen`` that ended)."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- print / get ---------------------------------------------------------------------------
    def print_rows(self, path, sch):
        rows = []
        for item in self.all_items(path):
            row = item.row()
            for secret in sch.write_only:
                row.pop(secret, None)
            for name, (other, values) in sch.shown_when.items():
                if name in row and row.get(other) not in values:
                    del row[name]
            for name in sch.print_omits_default:
                if name in row and row[name] == sch.defaults.get(name):
                    del row[name]
            for name, (value, other, values) in sch.print_fills.items():
                if name not in row and item.props.get(other) in values:
                    row[name] = value
            if sch.singleton:
                row.pop(".id", None)
            rows.append(row)
        return rows

    def _cmd_print(self, path, sch, attrs, queries):
        proplist = attrs.pop(".proplist", None)
        if proplist is None:
            proplist = attrs.pop("proplist", None)
        count_only = "count-only" in attrs
        allowed = sch.command_args("print") | {"detail", "count-only", "without-paging", "as-value"}
        for name in attrs:
            if name.startswith("."):
                continue
            if name not in allowed:
                raise trap("unknown_parameter", name)
        matches = compile_query(queries)
        rows = [r for r in self.print_rows(path, sch) if matches(r)]
        if count_only:
            # spec §1: reply shape `=ret=N` is UNCONFIRMED
            return Result(done={"ret": str(len(rows))})
        if proplist is not None:
            wanted = _split(proplist)
            rows = [dict((k, r[k]) for k in wanted if k in r) for r in rows]
        empty = not rows and schema.has_feature(self.version, "empty_reply")
        return Result(rows=rows, empty=empty)

    def _cmd_getall(self, path, sch, attrs, queries):
        return self._cmd_print(path, sch, attrs, queries)

    def _cmd_get(self, path, sch, attrs, queries):
        value_name = attrs.pop("value-name", None)
        if sch.singleton:
            rows = self.print_rows(path, sch)
            row = rows[0] if rows else {}
        else:
            number = attrs.pop("number", None) or attrs.pop(".id", None) or attrs.pop("numbers", None)
            if number is None:
                raise trap("missing_args", "number")
            item = self.resolve(path, number)[0]
            row = dict((k, v) for k, v in item.row().items() if k not in sch.write_only)
        if value_name is None:
            raise trap("missing_args", "value-name")
        if value_name not in row:
            raise trap("no_match", "value-name")
        return Result(done={"ret": row[value_name]})

    # -- writes ----------------------------------------------------------------------------------
    def _lookup_ref(self, path, name):
        return self.has_named(path, name)

    def _convert(self, sch, verb, attrs):
        """Check every argument name and value of an add/set; returns (values, unset names)."""
        allowed = sch.command_args(verb)
        values, unset = {}, []
        # every name is checked before any value, so a bad name wins over a bad value
        for name in attrs:
            bare = name[1:] if name.startswith("!") else name
            if not name.startswith(".") and (bare not in allowed or bare == "numbers"):
                raise trap("unknown_parameter", bare)
        for name, raw in attrs.items():
            if name.startswith("."):
                continue
            if name.startswith("!"):
                prop = name[1:]
                if prop not in allowed or prop in ("numbers", "place-before", "copy-from"):
                    raise trap("unknown_parameter", prop)
                unset.append(prop)
                continue
            if name not in allowed or name in ("numbers",):
                raise trap("unknown_parameter", name)
            if name in ("place-before", "copy-from"):
                continue
            arg = sch.arg_specs.get(name)
            values[name] = schema.check_value(arg, raw, self._lookup_ref) if arg else raw
        return values, unset

    def _check_unique(self, path, sch, candidate, ignore=None):
        items = [i for i in self.all_items(path) if i is not ignore]
        if sch.key and sch.key in candidate.props:
            name = candidate.props[sch.key]
            if any(i.props.get(sch.key) == name for i in items):
                key = "duplicate_name_ipsec" if path.startswith("/ip/ipsec/") else "duplicate_name"
                raise trap(key)
        if sch.unique:
            fields, text = sch.unique
            if all(f in candidate.props for f in fields):
                wanted = tuple(candidate.props[f] for f in fields)
                if any(tuple(i.props.get(f) for f in fields) == wanted for i in items):
                    raise trap(text)

    def _auto_name(self, path, sch):
        n = 1
        while self.has_named(path, "%s%d" % (sch.auto_name, n)):
            n += 1
        return "%s%d" % (sch.auto_name, n)

    def _writable_menu(self, path, sch):
        """Runtime menus (active-peers, installed-sa, /log …) take no configuration; inspect still
        lists add/set on some (active-peers: comment only), so names are checked first."""

    def _cmd_add(self, path, sch, attrs, queries):
        self._writable_menu(path, sch)
        if sch.singleton or "add" not in sch.commands:
            raise trap("no_such_command")
        place_before = attrs.get("place-before")
        copy_from = attrs.get("copy-from")
        values, _ = self._convert(sch, "add", attrs)
        if sch.runtime:
            raise trap("cannot_add_runtime")
        props = dict(sch.defaults)
        if copy_from is not None:
            source = self.resolve(path, copy_from)[0]
            props.update(dict((k, v) for k, v in source.props.items() if k in sch.writable and k != sch.key))
        props.update(values)
        missing = [m for m in sch.mandatory if m not in props]
        if sch.key and sch.key not in props and sch.auto_name:
            props[sch.key] = self._auto_name(path, sch)
        if missing:
            raise trap("missing_args", ",".join(missing))
        for name, value in sch.readonly.items():
            props.setdefault(name, value)
        item = Item(None, self._order_props(sch, props))
        self._check_unique(path, sch, item)
        self._hook_validate(path, sch, item, None)
        index = len(self.table(path).items)
        if place_before is not None:
            if not sch.ordered:
                raise trap("unknown_parameter", "place-before")
            index = self._destination_index(path, place_before)
        item.id = self.new_id()
        self.table(path).items.insert(index, item)
        self._hook_added(path, sch, item)
        self._changed(path)
        return Result(done={"ret": item.id})

    def _order_props(self, sch, props):
        """Key first, then the rest as given; RouterOS API rows carry no defined order anyway."""
        ordered = {}
        if sch.key and sch.key in props:
            ordered[sch.key] = props[sch.key]
        for name, value in props.items():
            ordered.setdefault(name, value)
        return ordered

    def _destination_index(self, path, ref):
        items = self.table(path).items
        target = self._resolve_one(path, ref, self.schema(path))
        if target.builtin:
            raise trap("bad_destination")
        return items.index(target)

    def _targets(self, path, sch, attrs):
        if sch.singleton:
            rows = self.all_items(path)
            return rows[:1]
        ref = attrs.pop(".id", None)
        numbers = attrs.pop("numbers", None)
        if ref is None:
            ref = numbers
        if ref is None:
            raise trap("missing_args", "numbers")
        return self.resolve(path, ref)

    def _cmd_set(self, path, sch, attrs, queries):
        self._writable_menu(path, sch)
        targets = self._targets(path, sch, attrs)
        values, unset = self._convert(sch, "set", attrs)
        pending = []
        for item in targets:
            self._hook_check_write(path, sch, item)
            props = dict(item.props)
            for name in unset:
                if name in sch.defaults:
                    props[name] = sch.defaults[name]
                else:
                    props.pop(name, None)
            props.update(values)
            missing = [m for m in sch.mandatory if m not in props and m in item.props]
            if missing:
                raise trap("missing_args", ",".join(missing))
            candidate = Item(item.id, props, item.builtin, item.owner)
            self._check_unique(path, sch, candidate, ignore=item)
            self._hook_validate(path, sch, candidate, item)
            pending.append((item, props))
        for item, props in pending:
            old = dict(item.props)
            item.props.clear()
            item.props.update(self._order_props(sch, props))
            if sch.key and old.get(sch.key) != item.props.get(sch.key) and old.get(sch.key) is not None:
                self._rename_references(path, old[sch.key], item.props[sch.key])
            self._hook_updated(path, sch, item, old)
        self._changed(path)
        return Result()

    def _cmd_unset(self, path, sch, attrs, queries):
        self._writable_menu(path, sch)
        targets = self._targets(path, sch, attrs)
        names = _split(attrs.pop("value-name", ""))
        for name in attrs:
            if not name.startswith("."):
                raise trap("unknown_parameter", name)
        if not names:
            raise trap("missing_args", "value-name")
        allowed = sch.writable if sch.unsettable is None else sch.writable & sch.unsettable
        for name in names:
            if name not in allowed:
                raise trap("no_match", "value-name")
        return self._cmd_set(path, sch, dict([(".id", ",".join(i.id for i in targets))] +
                                             [("!" + n, "") for n in names]), [])

    def _cmd_reset(self, path, sch, attrs, queries):
        """IPsec-style reset: the named properties (all when none named) go back to their defaults."""
        self._writable_menu(path, sch)
        targets = self._targets(path, sch, attrs)
        allowed = sch.command_args("reset")
        names = [n for n in attrs if not n.startswith(".")]
        for name in names:
            if name not in allowed:
                raise trap("unknown_parameter", name)
        if not names:
            names = [n for n in sch.writable if n != sch.key and n not in ("comment", "disabled")]
        for item in targets:
            self._hook_check_write(path, sch, item)
            for name in names:
                if name in sch.defaults:
                    item.props[name] = sch.defaults[name]
                elif name != sch.key:
                    item.props.pop(name, None)
        self._changed(path)
        return Result()

    def _set_disabled(self, path, sch, attrs, value):
        self._writable_menu(path, sch)
        targets = self._targets(path, sch, attrs)
        for name in attrs:
            if not name.startswith("."):
                raise trap("unknown_parameter", name)
        for item in targets:
            self._hook_check_write(path, sch, item)
        for item in targets:
            old = dict(item.props)
            item.props["disabled"] = value
            self._hook_updated(path, sch, item, old)
        self._changed(path)
        return Result()

    def _cmd_enable(self, path, sch, attrs, queries):
        return self._set_disabled(path, sch, attrs, "false")

    def _cmd_disable(self, path, sch, attrs, queries):
        return self._set_disabled(path, sch, attrs, "true")

    def _cmd_remove(self, path, sch, attrs, queries):
        if sch.singleton:
            raise trap("no_such_command")
        targets = self._targets(path, sch, attrs)
        for name in attrs:
            if not name.startswith("."):
                raise trap("unknown_parameter", name)
        for item in targets:
            self._hook_check_remove(path, sch, item, targets)
        for item in targets:
            self.remove_item(path, item)
        self._changed(path)
        return Result()

    def remove_item(self, path, item):
        """Remove without checks (menus use it for dynamic objects)."""
        table = self.table(path)
        if item in table.items:
            table.items.remove(item)
            self._hook_removed(path, item)

    def _cmd_move(self, path, sch, attrs, queries):
        if not sch.ordered:
            raise trap("no_such_command")
        numbers = attrs.pop("numbers", None) or attrs.pop(".id", None)
        destination = attrs.pop("destination", None)
        for name in attrs:
            if not name.startswith("."):
                raise trap("unknown_parameter", name)
        if numbers is None:
            raise trap("missing_args", "numbers")
        moving = self.resolve(path, numbers)
        for item in moving:
            if item.builtin:
                raise trap("cannot_move_builtin")
        items = self.table(path).items
        if destination is not None:
            target = self._resolve_one(path, destination, sch)
            if target.builtin:
                raise trap("bad_destination")
        else:
            target = None
        remaining = [i for i in items if i not in moving]
        index = remaining.index(target) if target is not None and target in remaining else len(remaining)
        if target is not None and target in moving:
            # moving an item before itself: RouterOS keeps the order
            return Result()
        items[:] = remaining[:index] + moving + remaining[index:]
        self._changed(path)
        return Result()

    # -- references -----------------------------------------------------------------------------
    def referrers(self, path, name):
        """(menu, item, arg) of every item whose reference argument names ``name`` in ``path``."""
        found = []
        for other_path, table in self.tables.items():
            other = self.schema(other_path)
            if other is None:
                continue
            for arg in other.arg_specs.values():
                if arg.kind == "ref" and arg.ref == path:
                    for item in table.items:
                        if item.props.get(arg.name) == name:
                            found.append((other_path, item, arg.name))
        return found

    def _rename_references(self, path, old, new):
        for _, item, arg in self.referrers(path, old):
            item.props[arg] = new

    # -- hooks for menus -------------------------------------------------------------------------
    def _hook_validate(self, path, sch, candidate, existing):
        pass

    def _hook_check_write(self, path, sch, item):
        # items RouterOS derives from others (GRE ipsec-secret) or creates itself as dynamic
        if item.owner is not None or (item.builtin and item.dynamic):
            raise trap("cannot_change_dynamic")

    def _hook_check_remove(self, path, sch, item, batch):
        if item.builtin:
            raise trap("cannot_remove_default")
        if item.owner is not None:
            raise trap("cannot_remove_dynamic")
        if sch.key and item.props.get(sch.key) is not None:
            for other_path, other, _ in self.referrers(path, item.props[sch.key]):
                if other not in batch:
                    raise trap("item_in_use", path.rsplit("/", 1)[-1], other_path.rsplit("/", 1)[-1])

    def _hook_added(self, path, sch, item):
        pass

    def _hook_updated(self, path, sch, item, old):
        pass

    def _hook_removed(self, path, item):
        pass

    # -- persistence -----------------------------------------------------------------------------
    def snapshot_tables(self, skip=()):
        tables = {}
        for path, table in self.tables.items():
            if path in skip:
                continue
            sch = self.schema(path)
            runtime = (set(sch.readonly) - {"dynamic", "default", "builtin"}) | sch.runtime_props if sch else set()
            items = []
            for item in table.items:
                props = dict((k, v) for k, v in item.props.items() if k not in runtime)
                items.append({"id": item.id, "props": props, "builtin": item.builtin,
                              "owner": list(item.owner) if item.owner else None})
            tables[path] = items
        return {"next_id": self.next_id, "tables": tables}

    def load_tables(self, data):
        self.tables = {}
        self.next_id = data["next_id"]
        for path, items in data["tables"].items():
            sch = self.schema(path)
            table = self.table(path)
            for entry in items:
                props = copy.deepcopy(entry["props"])
                if sch is not None:
                    for name, value in sch.readonly.items():
                        props.setdefault(name, value)
                owner = tuple(entry["owner"]) if entry.get("owner") else None
                table.items.append(Item(entry["id"], props, entry.get("builtin", False), owner))
