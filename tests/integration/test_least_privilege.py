"""The collection with a least-privilege API user (RouterOS permission model, manual "User"): a
group with read, write and api only converges IPsec and the firewall (commit-confirm included)
and re-runs write nothing; a group without write is told which policy is missing."""
import copy

import librouteros
import pytest
from roslab import control

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import firewall_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import ConvergeError
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import (
    PHASE1_SECTIONS,
    PHASE2_SECTIONS,
    run_engine,
)

from test_engine_lab import desired

TOPOLOGY = {"management_address": "10.10.0.50",
            "routers": {"hub": {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                                              {"address": "10.10.0.1/24", "interface": "ether2"}]}}}
TUNNELS = [{"peer_address": "198.51.100.11", "local_prefixes": ["10.10.0.0/24"], "remote_prefixes": ["10.11.0.0/24"]}]
GROUPS = {"ipsecfleet": "read,write,api", "readonly": "read,api"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = control.Lab.from_topology(copy.deepcopy(TOPOLOGY), base_port=0, api_ssl=False,
                                    state_dir=str(tmp_path_factory.mktemp("least-privilege")), save_delay=0.05)
    lab.start()
    admin = connect(lab, "admin", "")
    for group, policy in GROUPS.items():
        admin.path("user", "group").add(name=group, policy=policy)
        admin.path("user").add(name="u-" + group, group=group, password="pw-" + group)
    admin.close()
    yield lab
    lab.stop()


def connect(lab, user, password):
    return librouteros.connect(host="127.0.0.1", port=lab.ports["hub"]["api"], username=user, password=password,
                               timeout=5)


def as_user(lab, group):
    return lambda: connect(lab, "u-" + group, "pw-" + group)


def phase_params(plan, sections):
    return {"config": dict((s, plan[s]) for s in sections), "state": "merged"}


def firewall_params(**extra):
    base = {"tunnels": copy.deepcopy(TUNNELS), "options": {}, "overrides": {}, "state": "merged",
            "management_sources": ["10.10.0.0/24"], "management_ports": [8728, 8729, 22, 8291],
            "lockout_check": True, "confirm": True, "confirm_timeout": "2m", "timeout": 5}
    base.update(extra)
    return base


def test_read_write_api_is_enough(lab):
    plan = desired(spokes=("spoke1",))
    for sections in (PHASE1_SECTIONS, PHASE2_SECTIONS):
        first = run_engine(phase_params(plan, sections), sections, as_user(lab, "ipsecfleet"))
        assert first["changed"] and first["writes"] > 0
        # without the sensitive policy RouterOS prints no secret: the PSK is not rewritten every run
        again = run_engine(phase_params(plan, sections), sections, as_user(lab, "ipsecfleet"))
        assert again["writes"] == 0, again["commands"]
    identity = lab.router("hub").items("/ip/ipsec/identity")[0]
    assert identity["secret"] == plan["identities"][0]["secret"]
    result = firewall_engine.run(firewall_params(), as_user(lab, "ipsecfleet"))
    assert result["confirmed"] is True and result["writes"] > 0
    assert firewall_engine.run(firewall_params(), as_user(lab, "ipsecfleet"))["writes"] == 0


def test_a_group_without_write_is_told_what_is_missing(lab):
    plan = desired(spokes=("spoke1", "spoke2"))
    with pytest.raises(ConvergeError) as failure:
        run_engine(phase_params(plan, PHASE1_SECTIONS), PHASE1_SECTIONS, as_user(lab, "readonly"))
    message = str(failure.value)
    assert "not enough permissions (9)" in message and "lacks the write policy" in message
    assert failure.value.result["changed"] is False and failure.value.result["writes"] == 0
    with pytest.raises(firewall_engine.FirewallError, match="lacks the read or write policy"):
        firewall_engine.run(firewall_params(overrides={"filter": [{"key": "in-x", "chain": "input", "action": "accept",
                                                                   "protocol": "tcp", "dst_port": "8080"}]}),
                            as_user(lab, "readonly"))
