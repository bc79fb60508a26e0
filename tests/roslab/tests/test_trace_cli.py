"""``roslab trace`` against a lab daemon: routers configured through the API like a user would, the
trace asked through the control socket, printed as text or JSON."""

import json

import pytest

from labfixtures import lab_api
from test_lab_fabric import configure_tunnel
from test_lab_fabric_cli import DaemonLab, roslab, start

LAN_HOST, REMOTE_HOST = "10.10.0.50", "10.20.0.50"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    state, _out = start(tmp_path_factory, "--speed", "0")
    yield state
    roslab("down", state=state)


def trace(state, *extra):
    code, out, err = roslab("trace", "hub", LAN_HOST, REMOTE_HOST, "--port", "443", "--json", *extra, state=state)
    assert code == 0, err
    return json.loads(out)


def test_trace_shows_masquerade_breaking_the_tunnel_and_the_bypass_fixing_it(daemon):
    state = daemon
    lab = DaemonLab(state)
    configure_tunnel(lab)
    api = lab_api(lab, "hub")
    try:
        api.path("interface", "list").add(name="WAN")
        api.path("interface", "list", "member").add(list="WAN", interface="ether1")
        masquerade = api.path("ip", "firewall", "nat").add(chain="srcnat", action="masquerade",
                                                           **{"out-interface-list": "WAN"})
        roslab("clock", "advance", "5s", state=state)

        broken = trace(state)
        assert (broken["result"], broken["src_after_nat"], broken["nat"]) == ("clear", "198.51.100.1", "masquerade")
        assert broken["chains"][-1]["rule"] == masquerade

        bypass = api.path("ip", "firewall", "nat").add(chain="srcnat", action="accept",
                                                       **{"ipsec-policy": "out,ipsec", "place-before": masquerade})
        fixed = trace(state)
        assert (fixed["result"], fixed["src_after_nat"]) == ("encrypted", LAN_HOST)
        assert fixed["chains"][-1]["rule"] == bypass
        sa = fixed["ipsec"]["sa"]
        outbound = [row for row in api.path("ip", "ipsec", "installed-sa") if row["src-address"] == "198.51.100.1"]
        assert [row["spi"] for row in outbound] == [sa["spi"]] and sa["dst"] == "198.51.100.2"

        code, out, _ = roslab("trace", "hub", LAN_HOST, REMOTE_HOST, "--port", "443", "--state", "established",
                              state=state)
        lines = out.splitlines()
        assert code == 0
        assert lines[0] == "hub: tcp 10.10.0.50:49152 -> 10.20.0.50:443 (established), path forward, " \
                           "out ether1 (ipsec-policy)"
        assert lines[-1].startswith("encrypted: policy ")
        assert "  source after srcnat  10.10.0.50 (unchanged)" in lines
    finally:
        api.close()


def test_trace_errors(daemon):
    code, _out, err = roslab("trace", "nobody", LAN_HOST, REMOTE_HOST, state=daemon)
    assert code == 2 and "no router named 'nobody'" in err
    code, _out, err = roslab("trace", "hub", "not-an-address", REMOTE_HOST, state=daemon)
    assert code == 2 and "does not appear to be an IPv4 or IPv6 address" in err
