"""The phase roles' actions pass on the HostPlan's warnings (allow_weak_crypto names what is weak on
every run; before, only ipsec_site and the firewall showed plan warnings)."""
from types import SimpleNamespace

from ansible_collections.ipsecfleet.routeros.plugins.action.ipsec_phase1 import ActionModule as Phase1Action
from ansible_collections.ipsecfleet.routeros.plugins.action.ipsec_phase2 import ActionModule as Phase2Action
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import engine_argument_spec
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from test_intent_fixtures import hostvars, tunnel

WEAK = {"profile": {"enc_algorithm": "3des", "hash_algorithm": "sha256", "dh_group": "modp2048"},
        "proposal": {"enc_algorithms": "aes-128-cbc", "auth_algorithms": "sha256", "pfs_group": "modp2048"}}


class StubAction(object):
    """What EngineAction.run_engine reads of its ActionBase: the task and the host plan."""

    def __init__(self, action, plan):
        self.SECTIONS = action.SECTIONS
        self.FEATURE = action.FEATURE
        self._task = SimpleNamespace(check_mode=False, diff=False)
        self._plan = plan

    def host_plan(self, task_vars, features):
        assert features == ("ipsec",)
        return self._plan


def rendered(action, tunnels):
    plan = host_plan.build_host_plan("hq", host_plan.intent_tunnels("hq", tunnels, hostvars()), features=("ipsec",))
    params = ArgumentSpecValidator(engine_argument_spec(action.SECTIONS)).validate(
        {"state": "rendered"}).validated_parameters

    def connect():
        raise AssertionError("rendered must not connect")
    return action.run_engine(StubAction(action, plan), params, connect, {})


def test_weak_crypto_warning_reaches_the_phase_role_results():
    for action in (Phase1Action, Phase2Action):
        outcome = rendered(action, [tunnel(suite=WEAK, allow_weak_crypto=True)])
        assert any("allow_weak_crypto" in w and "3des" in w for w in outcome["warnings"]), outcome.get("warnings")
        assert "rendered" in outcome


def test_no_warning_without_weak_crypto():
    outcome = rendered(Phase1Action, [tunnel()])
    assert not [w for w in outcome.get("warnings", []) if "allow_weak_crypto" in w]
