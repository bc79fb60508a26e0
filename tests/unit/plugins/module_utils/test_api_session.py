"""ApiSession over a stand-in for librouteros: one print per menu, string values, counted writes."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import apply
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.reconcile import ReconcileError

PSK = "never-in-an-error-4f1d"


class Trap(Exception):
    pass


class FakePath(object):
    def __init__(self, api, words):
        self.api = api
        self.words = words

    def __iter__(self):
        self.api.prints.append(self.words)
        return iter([dict(row) for row in self.api.rows.get(self.words, [])])

    def add(self, **words):
        if self.api.refuse:
            raise Trap("failure: %s refused (secret=%s)" % (self.api.refuse, words.get("secret")))
        self.api.rows.setdefault(self.words, []).append(dict(words, **{".id": "*A"}))
        return "*A"


class FakeApi(object):
    def __init__(self, rows=None, refuse=None):
        self.rows = rows or {}
        self.refuse = refuse
        self.prints = []

    def path(self, *words):
        return FakePath(self, words)

    def close(self):
        pass


def test_rows_are_printed_once_and_given_as_routeros_strings():
    api = FakeApi({("ip", "ipsec", "peer"): [{".id": "*1", "passive": True, "port": 500, "comment": "x"}]})
    session = ApiSession(api)
    first = session.read("/ip/ipsec/peer")
    first[0]["port"] = "changed by the caller"
    assert session.read("/ip/ipsec/peer") == [{".id": "*1", "passive": "true", "port": "500", "comment": "x"}]
    assert api.prints == [("ip", "ipsec", "peer")] and session.reads == 1


def test_a_refused_write_is_not_counted_and_its_error_is_masked():
    session = ApiSession(FakeApi(refuse="input does not match any value of peer"))
    desired = {"identities": [{"peer": "ipsecfleet-x", "secret": PSK, "comment": "ipsecfleet:identity/x"}]}
    with pytest.raises(ReconcileError) as error:
        apply(session, desired, "merged")
    assert "failed after 0 write(s)" in str(error.value)
    assert PSK not in str(error.value) and "secret=********" in str(error.value)
    assert session.writes == 0
