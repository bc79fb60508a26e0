"""ApiSession.prefetch against the lab over a real librouteros connection: every menu printed in
one round trip (the prints travel together), the same rows as reading menu by menu, and a print
that traps fails only the read of its own menu."""
import pytest
from librouteros.exceptions import TrapError

from engine_lab_helpers import connect
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.session import ApiSession
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus

PATHS = list(menus.APPLY_ORDER)


def test_prefetch_sends_every_print_at_once_and_reads_what_sequential_reads_read(lab):
    sequential = ApiSession(connect(lab, "hub"))
    try:
        expected = dict((path, sequential.read(path)) for path in PATHS)
    finally:
        sequential.close()
    lab.reset_api_usage()
    lab.fault_latency("hub", 0.2)
    try:
        session = ApiSession(connect(lab, "hub"))
        try:
            session.prefetch(PATHS)
            got = dict((path, session.read(path)) for path in PATHS)
        finally:
            session.close()
    finally:
        lab.clear_faults("hub")
    assert got == expected
    assert session.reads == len(PATHS)
    usage = lab.api_usage()["hub"]
    assert usage["most_in_transit"] == len(PATHS), usage    # all prints on the wire together
    assert all(usage["commands"][path + "/print"] == 1 for path in PATHS), usage


def test_a_trapped_print_fails_only_its_own_read(lab):
    session = ApiSession(connect(lab, "hub"))
    try:
        session.prefetch(["/ip/ipsec/peer", "/ip/ipsec/no-such-menu", "/ip/firewall/filter"])
        assert isinstance(session.read("/ip/firewall/filter"), list)
        with pytest.raises(TrapError):
            session.read("/ip/ipsec/no-such-menu")
        assert isinstance(session.read("/ip/ipsec/peer"), list)
    finally:
        session.close()
