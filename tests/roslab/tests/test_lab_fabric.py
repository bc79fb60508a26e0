"""A running lab has its fabric: tunnels configured over the API negotiate, the lab clock follows
real time (or moves with ``lab.advance``), the routers' own firewalls decide which new API
connections get in, and router power and links reach the fabric.

Routers are configured by hand through librouteros (not by the collection), like a user would.
"""

import time

import pytest
from librouteros.exceptions import ConnectionClosed

from labfixtures import TWO_ROUTERS, configure_tunnel, lab_api
from roslab.control import LabError

# a refused connection is reset: the client sees a reset or a closed stream on /login
REFUSED = (OSError, ConnectionClosed)


def peer_states(lab, name):
    """active-peers states as an API client reads them."""
    api = lab_api(lab, name)
    try:
        return [row.get("state") for row in api.path("ip", "ipsec", "active-peers")]
    finally:
        api.close()


def runtime_peers(lab, name):
    """active-peers read in-process (works when the router's API refuses us or it is down)."""
    return lab.call(lab.router(name).items, "/ip/ipsec/active-peers")


def manual_lab(make_lab, topology=TWO_ROUTERS, **options):
    """A lab whose clock moves only with lab.advance: deterministic timing."""
    return make_lab(topology, speed=0, **options)


def test_tunnel_negotiates_when_the_lab_clock_advances(make_lab):
    lab = manual_lab(make_lab)
    configure_tunnel(lab)
    # the clock stands still: nothing has negotiated yet
    assert peer_states(lab, "spoke1") == [] and lab.clock_info()["seconds"] == 0
    assert lab.advance(2) == 2
    assert peer_states(lab, "spoke1") == ["established"]
    assert peer_states(lab, "hub") == ["established"]
    api = lab_api(lab, "spoke1")
    try:
        policy = [p for p in api.path("ip", "ipsec", "policy") if p.get("peer") == "other"][0]
        sas = list(api.path("ip", "ipsec", "installed-sa"))
    finally:
        api.close()
    assert policy["ph2-state"] == "established" and len(sas) == 2
    assert [row["peers"] for row in lab.status()] == [1, 1]
    info = lab.clock_info()
    assert info["uptime"] == "2s" and info["datetime"] == "2026-01-01 00:00:02" and info["speed"] == 0


def test_realtime_lab_negotiates_without_anyone_advancing(make_lab):
    lab = make_lab(TWO_ROUTERS)       # default: the lab clock follows real time
    configure_tunnel(lab)
    deadline = time.monotonic() + 5
    while peer_states(lab, "spoke1") != ["established"]:
        assert time.monotonic() < deadline, "no tunnel within 5 real seconds"
        time.sleep(0.1)
    before = lab.clock_info()["seconds"]
    time.sleep(0.7)
    assert lab.clock_info()["seconds"] > before


def test_speed_scales_the_lab_clock(make_lab):
    lab = make_lab(TWO_ROUTERS, speed=50, fabric_period=0.05)
    start = time.monotonic()
    first = lab.clock_info()["seconds"]
    time.sleep(0.5)
    lab_seconds = lab.clock_info()["seconds"] - first
    real = time.monotonic() - start
    # 50 lab seconds per real second, give or take one step of 0.05 s
    assert 50 * (real - 0.2) <= lab_seconds <= 50 * (real + 0.1)


def test_a_dropping_filter_rule_refuses_new_api_connections_only(make_lab):
    lab = manual_lab(make_lab)
    existing = lab_api(lab, "hub")
    try:
        existing.path("ip", "firewall", "filter").add(
            chain="input", action="drop", protocol="tcp", comment="lockout",
            **{"src-address": "127.0.0.1", "dst-port": "8728"})
        with pytest.raises(REFUSED):
            lab_api(lab, "hub").close()
        # established connections stay up, as on a router
        assert list(existing.path("system", "identity")) == [{"name": "hub"}]
        # the rule names the api port only: api-ssl (8729) still gets in; spoke1 has no such rule
        lab_api(lab, "hub", tls=True).close()
        lab_api(lab, "spoke1").close()
        rule = [r for r in existing.path("ip", "firewall", "filter") if r.get("comment") == "lockout"][0]
        assert rule["packets"] == 1
        assert {row["router"]: row["refused"] for row in lab.status()} == {"hub": 1, "spoke1": 0}

        # commit-confirm: a scheduler two lab minutes from now removes the rule
        start = lab.clock_info()["datetime"].split(" ")[1]
        assert start == "00:00:00"
        existing.path("system", "scheduler").add(
            name="revert", **{"start-date": "2026-01-01", "start-time": "00:02:00",
                              "on-event": '/ip firewall filter\nremove [find where comment="lockout"]'})
        lab.advance("1m")
        with pytest.raises(REFUSED):
            lab_api(lab, "hub").close()
        lab.advance("90s")
        again = lab_api(lab, "hub")
        again.close()
        assert [r for r in existing.path("ip", "firewall", "filter") if r.get("comment") == "lockout"] == []
        assert lab.fabric.script_errors == []
    finally:
        existing.close()


def test_api_service_address_list_and_disable(make_lab):
    lab = manual_lab(make_lab)
    api = lab_api(lab, "hub")
    try:
        services = api.path("ip", "service")
        api_row = [s for s in services if s["name"] == "api"][0]
        services.update(**{".id": api_row[".id"], "address": "10.0.0.0/8"})
        with pytest.raises(REFUSED):
            lab_api(lab, "hub").close()
        services.update(**{".id": api_row[".id"], "address": "127.0.0.0/8"})
        lab_api(lab, "hub").close()
        services.update(**{".id": api_row[".id"], "disabled": "yes"})
        with pytest.raises(REFUSED):
            lab_api(lab, "hub").close()
        services.update(**{".id": api_row[".id"], "disabled": "no"})
        lab_api(lab, "hub").close()
    finally:
        api.close()


MANAGED = {
    "management_address": "192.0.2.10",       # every router: the lab's client pretends to be here
    "routers": {
        "hub": {"interfaces": [{"name": "ether1"}, {"name": "ether3"}],
                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                              {"address": "192.0.2.1/24", "interface": "ether3"}]},
        "spoke1": {"interfaces": [{"name": "ether1"}],
                   "addresses": [{"address": "198.51.100.2/24", "interface": "ether1"}],
                   "management_address": None},     # this one: the socket's 127.0.0.1
    },
    "links": [["hub:ether1", "spoke1:ether1"]],
}


def test_management_address_makes_management_rules_meaningful(make_lab):
    lab = manual_lab(make_lab, MANAGED)
    for name in ("hub", "spoke1"):
        api = lab_api(lab, name)
        try:
            rules = api.path("ip", "firewall", "filter")
            rules.add(chain="input", action="accept", protocol="tcp", comment="management",
                      **{"src-address": "192.0.2.0/24", "in-interface": "ether3", "dst-port": "8728,8729"})
            rules.add(chain="input", action="drop", comment="drop the rest")
            # the connection that wrote the rules stays up
            assert list(api.path("system", "identity")) == [{"name": name}]
        finally:
            api.close()
    # hub: 192.0.2.10 arrives on ether3 (its subnet) and is accepted
    lab_api(lab, "hub").close()
    lab_api(lab, "hub", tls=True).close()
    # spoke1: 127.0.0.1 matches no management rule and is dropped
    with pytest.raises(REFUSED):
        lab_api(lab, "spoke1").close()
    accepted = [r for r in lab.call(lab.router("hub").items, "/ip/firewall/filter") if r.get("comment") == "management"]
    assert accepted[0]["packets"] == "2"


def test_router_power_reaches_the_fabric(make_lab):
    lab = manual_lab(make_lab)
    configure_tunnel(lab)
    lab.advance(2)
    first_spi = runtime_peers(lab, "spoke1")[0]["spii"]

    lab.router_down("hub")
    with pytest.raises(OSError):
        lab_api(lab, "hub")
    assert runtime_peers(lab, "hub") == []
    # the spoke still believes in the tunnel until dead peer detection gives up on the hub
    assert [p["state"] for p in runtime_peers(lab, "spoke1")] == ["established"]
    lab.advance("2m")
    assert [p.get("state") for p in runtime_peers(lab, "spoke1")] != ["established"]
    assert lab.status()[0]["peers"] == 0

    lab.router_up("hub")
    lab.advance("1m")
    assert peer_states(lab, "hub") == ["established"] and peer_states(lab, "spoke1") == ["established"]
    assert runtime_peers(lab, "spoke1")[0]["spii"] != first_spi

    # a reboot loses the runtime state; an instant reboot (no lab time passes) lets the spoke
    # initiate again at once: only new SAs
    second_spi = runtime_peers(lab, "spoke1")[0]["spii"]
    lab.reboot("spoke1")
    assert second_spi not in [p["spii"] for p in runtime_peers(lab, "spoke1")]
    lab.advance("2m")
    assert [p["spii"] for p in runtime_peers(lab, "hub")] == [p["spii"] for p in runtime_peers(lab, "spoke1")]
    assert peer_states(lab, "spoke1") == ["established"] and peer_states(lab, "hub") == ["established"]


def test_link_down_and_up(make_lab):
    lab = manual_lab(make_lab)
    configure_tunnel(lab)
    lab.advance(2)
    lab.link_down("hub:ether1", "spoke1:ether1")
    lab.advance("2m")
    assert [row["peers"] for row in lab.status()] == [0, 0]
    with pytest.raises(KeyError):
        lab.link_down("hub:ether9")
    lab.link_up("hub:ether1")
    lab.advance("1m")
    assert [row["peers"] for row in lab.status()] == [1, 1]


def test_lab_without_fabric(make_lab):
    lab = make_lab(TWO_ROUTERS, fabric=False)
    assert lab.fabric is None
    with pytest.raises(LabError, match="without a fabric"):
        lab.advance(1)
    api = lab_api(lab, "hub")
    try:
        api.path("ip", "firewall", "filter").add(chain="input", action="drop")
    finally:
        api.close()
    # no fabric: nothing evaluates the firewall, connections get in
    lab_api(lab, "hub").close()
    assert [row["peers"] for row in lab.status()] == [None, None]


def test_restart_restores_a_lockout_rule(make_lab, tmp_path):
    """The firewall is configuration: a lab started again on the same state dir still refuses."""
    state = tmp_path / "persisted"
    lab = manual_lab(make_lab, state_dir=state)
    api = lab_api(lab, "hub")
    try:
        api.path("ip", "firewall", "filter").add(chain="input", action="drop", protocol="tcp",
                                                 **{"dst-port": "8728"})
    finally:
        api.close()
    lab.stop()
    again = manual_lab(make_lab, state_dir=state)
    with pytest.raises(REFUSED):
        lab_api(again, "hub").close()
