"""An in-memory stand-in for ApiSession, for the pure reconcile tests (the lab tests use roslab)."""
import copy


class FakeSession(object):
    def __init__(self, menus):
        # menus: path -> list of rows (with ".id"), in RouterOS order
        self.menus = copy.deepcopy(menus)
        self.writes = 0
        self.unconfirmed = 0  # the fake never loses a reply
        self.log = []
        self._next = 0x1000  # above every id the tests build by hand

    def prefetch(self, paths):
        """ApiSession pipelines its prints; the fake's reads are already free (the write log stays writes)."""
        self.prefetched = tuple(paths)

    def read(self, path):
        return copy.deepcopy(self.menus.setdefault(path, []))

    def _index(self, path, item_id):
        for i, row in enumerate(self.menus[path]):
            if row[".id"] == item_id:
                return i
        raise KeyError("no such item (4)")

    def add(self, path, args, place_before=None):
        self.writes += 1
        self._next += 1
        row = dict(args, **{".id": "*%X" % self._next})
        rows = self.menus.setdefault(path, [])
        if place_before is None:
            rows.append(row)
        else:
            rows.insert(self._index(path, place_before), row)
        self.log.append(("add", path, row[".id"]))
        return row[".id"]

    def set(self, path, item_id, args):
        self.writes += 1
        row = self.menus[path][self._index(path, item_id)]
        for name, value in args.items():
            if name.startswith("!"):
                row.pop(name[1:], None)
            else:
                row[name] = value
        self.log.append(("set", path, item_id))

    def remove(self, path, item_id):
        self.writes += 1
        del self.menus[path][self._index(path, item_id)]
        self.log.append(("remove", path, item_id))

    def move(self, path, item_id, destination=None):
        self.writes += 1
        rows = self.menus[path]
        row = rows.pop(self._index(path, item_id))
        if destination is None:
            rows.append(row)
        else:
            rows.insert(self._index(path, destination), row)
        self.log.append(("move", path, item_id))
