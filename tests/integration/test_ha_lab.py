"""HA shown by failure, in-process against lab routers whose fabric negotiates IKE, runs netwatch,
VRRP and the generated scripts on the lab clock (roslab.fabric_services, roslab.script).

Dual hub: a spoke with a tunnel to hub1 and a backup on hub2 (sharing the LAN). hub1 goes down:
netwatch on the spoke sees it within one probe interval, the generated script moves the policies to
hub2's peer and the tunnel is established there; the spoke's LAN traffic goes through hub2. hub1
comes back: with preempt the spoke fails back. A converge after each failover writes nothing.

VRRP pair: site routers r1 (priority 200) and r2 (100) share a LAN; the hub keeps a tunnel to r1 with
r2 as backup. Exactly one of r1/r2 has its IPsec items enabled; r1 down: r2 becomes master, enables
its tunnel and the hub fails over to it; a converge after that writes nothing.
"""
import pytest

from engine_lab_helpers import connect
from roslab import control

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan


PSK = "Kq7vLw2pZr9sTx4bNm8cYd3f"
INTERVAL = 5          # failover.interval (seconds)


def _router(wan, lan, extra=()):
    return {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
            "addresses": [{"address": wan, "interface": "ether1"}, {"address": lan, "interface": "ether2"}]
            + list(extra)}


DUAL_HUB = {
    "routers": {"hub1": _router("198.51.100.1/24", "10.10.0.1/24"),
                "hub2": _router("198.51.100.2/24", "10.10.0.2/24"),
                "spoke": _router("198.51.100.11/24", "10.11.0.1/24")},
    "links": [["hub1:ether1", "spoke:ether1"], ["hub2:ether1", "spoke:ether1"], ["hub1:ether2", "hub2:ether2"]],
}
DUAL_HOSTVARS = {
    "hub1": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"], "routeros_version": "7.22.2"},
    "hub2": {"ipsec_wan_address": "198.51.100.2", "ipsec_lan_prefixes": ["10.10.0.0/24"], "routeros_version": "7.22.2"},
    "spoke": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24"],
              "routeros_version": "7.22.2"},
}


def dual_tunnels(preempt=True):
    return [{"name": "dual", "a": {"host": "hub1", "passive": True}, "b": "spoke", "auth": {"psk": PSK},
             "dpd_interval": "10s", "backup": {"end": "a", "host": "hub2"},
             "failover": {"interval": "%ds" % INTERVAL, "timeout": "1s", "preempt": preempt}}]


PARAMS = {"state": "overridden", "features": list(site_engine.FEATURES), "secret_update": "on_change",
          "firewall_options": {}, "firewall_overrides": {}, "management_sources": ["127.0.0.0/8"],
          "management_ports": [8728], "lockout_check": False, "confirm": False}


def converge(lab, host, tunnels, hostvars):
    plan = host_plan.plan_from_intent(host, tunnels, hostvars, **site_engine.firewall_build_options(PARAMS))
    return site_engine.run(dict(PARAMS), lambda: connect(lab, host), plan)


def converge_all(lab, tunnels, hostvars):
    return dict((host, converge(lab, host, tunnels, hostvars)) for host in sorted(hostvars))


def policy_peers(lab, host):
    return sorted(set(r.get("peer") for r in lab.call(lambda: lab.router(host).items("/ip/ipsec/policy"))
                      if (r.get("comment") or "").startswith("ipsecfleet:policy/")))


def carried_by(lab, router, src, dst):
    """The router at the far end of the SA that carries LAN traffic ``src -> dst`` (None: not carried)."""
    def probe():
        fabric = lab.fabric
        if not fabric.send(router, src, dst):
            return None
        sa, _child, _policy = fabric._child_for(router, src, dst)
        return sa.other(router)
    return lab.call(probe)


def established(lab, router):
    return lab.call(lambda: sorted(r.get("remote-address") for r in lab.router(router).items("/ip/ipsec/active-peers")
                                   if r.get("state") == "established"))


def advance_until(lab, condition, limit, step=1):
    """Advance the lab clock ``step`` seconds at a time until ``condition()``; the seconds it took."""
    waited = 0
    while not condition():
        assert waited < limit, "not within %ss" % limit
        lab.advance("%ds" % step)
        waited += step
    return waited


@pytest.fixture
def dual_lab(tmp_path):
    lab = control.Lab.from_topology(DUAL_HUB, base_port=0, state_dir=str(tmp_path), save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()


def test_dual_hub_fails_over_to_the_backup_hub_and_back(dual_lab):
    lab = dual_lab
    first = converge_all(lab, dual_tunnels(), DUAL_HOSTVARS)
    assert all(r["changed"] for r in first.values())
    assert not any(converge_all(lab, dual_tunnels(), DUAL_HOSTVARS)[h]["changed"] for h in DUAL_HOSTVARS)
    advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub1", 60)
    assert policy_peers(lab, "spoke") == ["ipsecfleet-dual"]

    # the primary hub dies: within one netwatch interval the policies name hub2's peer and, once IKE
    # with hub2 is up, the spoke's LAN traffic goes through hub2
    lab.router_down("hub1")
    moved = advance_until(lab, lambda: policy_peers(lab, "spoke") == ["ipsecfleet-dual-backup"], 3 * INTERVAL)
    assert moved <= INTERVAL, moved
    carried = moved + advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub2", 30)
    assert "198.51.100.2" in established(lab, "spoke")
    # measured in the lab (docs/ha.md): policies moved after <= 5s (one interval), traffic through
    # hub2 at most a few seconds later (the IKE exchange with hub2 is already up)
    assert carried <= INTERVAL + 5, carried
    errors = lab.call(lambda: list(lab.fabric.script_errors))
    assert errors == [], errors

    # a converge after the failover writes nothing on the routers that are up (scripts not fought)
    for host in ("spoke", "hub2"):
        again = converge(lab, host, dual_tunnels(), DUAL_HOSTVARS)
        assert again["changed"] is False and again["writes"] == 0, (host, again.get("commands"))
    assert policy_peers(lab, "spoke") == ["ipsecfleet-dual-backup"]

    # hub1 returns: preempt moves the tunnel back within one interval
    lab.router_up("hub1")
    back = advance_until(lab, lambda: policy_peers(lab, "spoke") == ["ipsecfleet-dual"], 3 * INTERVAL)
    assert back <= INTERVAL + 1, back
    advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub1", 30)
    for host in sorted(DUAL_HOSTVARS):
        again = converge(lab, host, dual_tunnels(), DUAL_HOSTVARS)
        assert again["changed"] is False, (host, again.get("commands"))
    assert lab.call(lambda: list(lab.fabric.script_errors)) == []


def test_without_preempt_the_spoke_stays_on_the_backup(dual_lab):
    lab = dual_lab
    converge_all(lab, dual_tunnels(preempt=False), DUAL_HOSTVARS)
    advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub1", 60)
    lab.router_down("hub1")
    advance_until(lab, lambda: policy_peers(lab, "spoke") == ["ipsecfleet-dual-backup"], 3 * INTERVAL)
    lab.router_up("hub1")
    lab.advance("%ds" % (4 * INTERVAL))
    assert policy_peers(lab, "spoke") == ["ipsecfleet-dual-backup"]
    assert carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub2"
    # the backup is lost while the primary answers: back to the primary
    lab.router_down("hub2")
    advance_until(lab, lambda: policy_peers(lab, "spoke") == ["ipsecfleet-dual"], 3 * INTERVAL)
    advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub1", 30)
    assert lab.call(lambda: list(lab.fabric.script_errors)) == []


VRRP_SITE = {
    "routers": {"hub": _router("198.51.100.1/24", "10.10.0.1/24"),
                "r1": _router("198.51.100.21/24", "10.20.0.2/24"),
                "r2": _router("198.51.100.22/24", "10.20.0.3/24")},
    "links": [["hub:ether1", "r1:ether1"], ["hub:ether1", "r2:ether1"], ["r1:ether2", "r2:ether2"]],
}


def _site(wan, priority):
    return {"ipsec_wan_address": wan, "ipsec_lan_prefixes": ["10.20.0.0/24"], "routeros_version": "7.22.2",
            "ipsec_vrrp": {"group": "site", "interface": "ether2", "vrid": 7, "priority": priority}}


VRRP_HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"], "routeros_version": "7.22.2"},
    "r1": _site("198.51.100.21", 200),
    "r2": _site("198.51.100.22", 100),
}
VRRP_TUNNELS = [{"name": "site", "a": "hub", "b": "r1", "auth": {"psk": PSK}, "dpd_interval": "10s",
                 "backup": {"end": "b", "host": "r2"}, "failover": {"interval": "%ds" % INTERVAL}}]


def enabled(lab, host):
    """(peers, policies) of the tunnel that are enabled on ``host``."""
    def read(menu, prefix):
        return sum(1 for r in lab.router(host).items(menu)
                   if (r.get("comment") or "").startswith(prefix) and r.get("disabled") == "false")
    return lab.call(lambda: (read("/ip/ipsec/peer", "ipsecfleet:peer/site"),
                             read("/ip/ipsec/policy", "ipsecfleet:policy/site/")))


def vrrp_master(lab, host):
    return lab.call(lambda: [r.get("master") for r in lab.router(host).items("/interface/vrrp")]) == ["true"]


@pytest.fixture
def vrrp_lab(tmp_path):
    lab = control.Lab.from_topology(VRRP_SITE, base_port=0, state_dir=str(tmp_path), save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()


def test_vrrp_pair_exactly_one_router_holds_the_tunnel_and_the_master_takes_it(vrrp_lab):
    lab = vrrp_lab
    converge_all(lab, VRRP_TUNNELS, VRRP_HOSTVARS)
    advance_until(lab, lambda: carried_by(lab, "hub", "10.10.0.5", "10.20.0.5") == "r1", 60)
    lab.advance("12s")      # the sync scheduler ran at least once on both routers
    assert vrrp_master(lab, "r1") and not vrrp_master(lab, "r2")
    assert enabled(lab, "r1") == (1, 1) and enabled(lab, "r2") == (0, 0)
    for host in sorted(VRRP_HOSTVARS):
        again = converge(lab, host, VRRP_TUNNELS, VRRP_HOSTVARS)
        assert again["changed"] is False, (host, again.get("commands"))

    # the master dies: r2 becomes master within the VRRP master-down interval (3 x 1s + skew) and
    # enables its tunnel; the hub's netwatch moves the policies to r2's peer within one interval
    lab.router_down("r1")
    took = advance_until(lab, lambda: vrrp_master(lab, "r2") and enabled(lab, "r2") == (1, 1), 10)
    assert took <= 4, took
    took = advance_until(lab, lambda: carried_by(lab, "hub", "10.10.0.5", "10.20.0.5") == "r2", 3 * INTERVAL)
    assert took <= INTERVAL + 2, took
    assert policy_peers(lab, "hub") == ["ipsecfleet-site-backup"]
    for host in ("hub", "r2"):
        again = converge(lab, host, VRRP_TUNNELS, VRRP_HOSTVARS)
        assert again["changed"] is False and again["writes"] == 0, (host, again.get("commands"))
    assert enabled(lab, "r2") == (1, 1)

    # r1 returns with the higher priority: it takes the master role back, r2 lets the tunnel go and
    # the hub fails back (preempt); still exactly one router of the pair holds the tunnel
    lab.router_up("r1")
    advance_until(lab, lambda: carried_by(lab, "hub", "10.10.0.5", "10.20.0.5") == "r1", 30)
    lab.advance("12s")
    assert vrrp_master(lab, "r1") and not vrrp_master(lab, "r2")
    assert enabled(lab, "r1") == (1, 1) and enabled(lab, "r2") == (0, 0)
    assert lab.call(lambda: list(lab.fabric.script_errors)) == []
    for host in sorted(VRRP_HOSTVARS):
        again = converge(lab, host, VRRP_TUNNELS, VRRP_HOSTVARS)
        assert again["changed"] is False, (host, again.get("commands"))


def _role_play(tmp_path, lab, *args):
    import os
    import subprocess
    import sys

    import yaml

    from engine_lab_helpers import ROOT

    (tmp_path / "lab.yml").write_text(lab.inventory_yaml())
    (tmp_path / "intent.yml").write_text(yaml.safe_dump({"all": {
        "hosts": dict((h, dict(v)) for h, v in DUAL_HOSTVARS.items()),
        "vars": {"ipsec_tunnels": dual_tunnels()}}}))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "HA", "hosts": "hub1:hub2:spoke", "gather_facts": False, "connection": "local",
        "roles": ["ipsecfleet.routeros.ipsec_phase1", "ipsecfleet.routeros.ipsec_phase2",
                  "ipsecfleet.routeros.ipsec_ha"]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(tmp_path / "lab.yml"),
               "-i", str(tmp_path / "intent.yml"), str(tmp_path / "play.yml")] + list(args)
    done = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=240,
                          check=False)
    output = done.stdout + done.stderr
    stats = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        if ":" in line and "ok=" in line:
            host, counters = line.split(":", 1)
            stats[host.strip()] = dict((k, int(v)) for k, v in (c.split("=") for c in counters.split()))
    return done.returncode, output, stats


def test_the_ipsec_ha_role_check_mode_diff_converge_idempotence_and_masking(dual_lab, tmp_path):
    lab = dual_lab
    code, output, stats = _role_play(tmp_path, lab, "--check", "--diff")
    assert code == 0, output
    assert stats["spoke"]["changed"] == 3 and stats["hub1"]["changed"] == 2, output   # hubs: no HA items
    assert "ipsecfleet:ha/dual/primary" in output and PSK not in output          # the diff shows the probe
    assert lab.call(lambda: lab.router("spoke").items("/tool/netwatch")) == []    # check mode wrote nothing

    code, output, stats = _role_play(tmp_path, lab, "--diff", "-v")
    assert code == 0 and stats["spoke"]["changed"] == 3, output
    assert PSK not in output
    assert [r["host"] for r in lab.call(lambda: lab.router("spoke").items("/tool/netwatch"))] == ["198.51.100.1"]
    code, output, stats = _role_play(tmp_path, lab)
    assert code == 0 and all(s["changed"] == 0 for s in stats.values()), output

    # failover happens on the router; the roles do not fight it
    lab.router_down("hub1")
    advance_until(lab, lambda: policy_peers(lab, "spoke") == ["ipsecfleet-dual-backup"], 3 * INTERVAL)
    code, output, stats = _role_play(tmp_path, lab, "--limit", "spoke:hub2")
    assert code == 0 and all(s["changed"] == 0 for s in stats.values()), output


def test_detect_dpd_fails_over_once_dpd_removed_the_primary_sa_and_back_when_it_returns(dual_lab):
    """detect: dpd: no probe of its own; a scheduler checks every interval whether the IKE SA with
    the primary is established. The lab's IKEv2 DPD gives up after 5 unanswered rounds of
    dpd_interval (10s here), so the spoke moves within 5 x 10s + one interval (measured: 54s)."""
    lab = dual_lab
    tunnels = [dict(dual_tunnels()[0], failover={"detect": "dpd", "interval": "%ds" % INTERVAL})]
    converge_all(lab, tunnels, DUAL_HOSTVARS)
    advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub1", 60)
    lab.advance("%ds" % (2 * INTERVAL))
    assert policy_peers(lab, "spoke") == ["ipsecfleet-dual"]      # a healthy primary is left alone
    assert lab.call(lambda: lab.router("spoke").items("/tool/netwatch")) == []

    lab.router_down("hub1")
    moved = advance_until(lab, lambda: policy_peers(lab, "spoke") == ["ipsecfleet-dual-backup"], 120)
    assert 10 <= moved <= 5 * 10 + INTERVAL + 1, moved
    advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub2", 30)
    for host in ("spoke", "hub2"):
        again = converge(lab, host, tunnels, DUAL_HOSTVARS)
        assert again["changed"] is False, (host, again.get("commands"))

    lab.router_up("hub1")
    advance_until(lab, lambda: policy_peers(lab, "spoke") == ["ipsecfleet-dual"], 60)
    advance_until(lab, lambda: carried_by(lab, "spoke", "10.11.0.5", "10.10.0.5") == "hub1", 30)
    assert lab.call(lambda: list(lab.fabric.script_errors)) == []
