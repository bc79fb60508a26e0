"""The controller-side action base masks every no_log value in whatever it hands back to Ansible."""
from unittest import mock

from ansible.playbook.task import Task

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.converge import ConvergeError
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import ControllerAction

SECRET = "hunter2-never-shown"


class Probe(ControllerAction):
    """An engine that echoes its secret everywhere an engine's outcome can carry text."""

    def __init__(self, outcome=None, error=None, **kwargs):
        super(Probe, self).__init__(**kwargs)
        self.outcome = outcome
        self.error = error

    def argument_spec(self):
        return {"password": {"type": "str", "no_log": True}, "count": {"type": "int"}}

    def run_engine(self, params, connect, task_vars):
        if self.error:
            raise self.error
        return self.outcome(params)


def run(args, **probe):
    task = Task()
    task.args = args
    action = Probe(task=task, connection=mock.MagicMock(), play_context=mock.MagicMock(), loader=None,
                   templar=None, shared_loader_obj=None, **probe)
    return action.run(task_vars={})


def test_result_and_warnings_are_masked():
    result = run({"password": SECRET}, outcome=lambda params: {
        "changed": True, "commands": ["login %s" % params["password"]],
        "warnings": ["the password %s is short" % params["password"]]})
    assert SECRET not in repr(result)
    assert result["commands"] == ["login ********"]
    assert result["warnings"] == ["the password ******** is short"]


def test_engine_errors_are_masked():
    result = run({"password": SECRET}, error=RuntimeError("trap: bad password %s" % SECRET))
    assert result["failed"] is True and result["msg"] == "trap: bad password ********"


def test_invalid_arguments_fail_without_the_secret():
    result = run({"password": SECRET, "count": "many"})
    assert result["failed"] is True and "count" in result["msg"] and SECRET not in repr(result)


def test_a_failure_after_writes_reports_changed_and_the_writes():
    error = ConvergeError("/ip firewall filter add failed after 2 write(s) (its reply never came ...): %s" % SECRET,
                          {"changed": True, "writes": 2, "writes_unconfirmed": 1, "commands": ["add x"]})
    result = run({"password": SECRET}, error=error)
    assert result["failed"] is True and result["changed"] is True
    assert (result["writes"], result["writes_unconfirmed"]) == (2, 1)
    assert SECRET not in repr(result)
