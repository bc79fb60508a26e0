"""awx/*.yml against awx.awx's own argument specs: every task that calls an awx.awx module is
rendered with awx/settings.yml (and each loop item) the way Ansible would, then checked with
Ansible's ArgumentSpecValidator twice: against a spec built from the module's documentation
(``ansible-doc -j``) and against the argument spec the module's main() really passes to
ControllerAPIModule (with its mutually_exclusive/required_if): an unknown option, a wrong type or
choice, or a missing required option fails.

awx.awx is bundled in the pinned ansible package (requirements-dev.txt), so the test fails when it is
missing there; the newest ansible package may no longer bundle it, and the test then skips saying so."""
import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AWX = os.path.join(ROOT, "awx")
BIN = os.path.dirname(sys.executable)
# task keywords, not module arguments
KEYWORDS = {"name", "loop", "loop_control", "register", "when", "no_log", "vars", "tags", "changed_when",
            "failed_when", "delegate_to", "run_once", "become", "environment", "module_defaults", "until",
            "retries", "delay", "ignore_errors", "check_mode", "diff", "notify", "with_items", "args"}


def pinned_ansible():
    with open(os.path.join(ROOT, "requirements-dev.txt")) as handle:
        return re.search(r"^ansible==(\S+)", handle.read(), re.M).group(1)


def installed_ansible():
    """The installed ansible package's version (its metadata: Ansible's collection finder hides
    ansible_collections.ansible_release once installed)."""
    from importlib.metadata import version
    return version("ansible")


def awx_docs(modules):
    """{fqcn: documented options} of the awx.awx modules, from ansible-doc -j (doc fragments merged)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([os.path.join(BIN, "ansible-doc"), "-j", "-t", "module"] + sorted(modules), env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return dict((name, entry["doc"]["options"]) for name, entry in json.loads(done.stdout).items())


@pytest.fixture(scope="module")
def awx_collection():
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([os.path.join(ROOT, ".collections")])  # Ansible's collection finder: awx.awx's modules import as Ansible imports them
    try:
        import ansible_collections.awx.awx as collection
    except ImportError:
        collection = None
    if collection is None:
        if installed_ansible() == pinned_ansible():
            pytest.fail("awx.awx is missing from the pinned ansible %s (requirements-dev.txt): it bundles it" % pinned_ansible())
        pytest.skip("ansible %s does not bundle awx.awx (the pinned %s does, and the test runs there)"
                    % (installed_ansible(), pinned_ansible()))
    return collection


def spec_of(options):
    """An Ansible argument spec from documented options (type, elements, choices, required, aliases,
    suboptions)."""
    spec = {}
    for name, option in options.items():
        entry = {"type": option.get("type", "str")}
        for key in ("elements", "choices", "required", "aliases"):
            if option.get(key) is not None:
                entry[key] = option[key]
        if option.get("suboptions"):
            entry["options"] = spec_of(option["suboptions"])
        spec[name] = entry
    return spec


def awx_tasks():
    """(file, play, task, fqcn, arguments) of every task of awx/*.yml that calls an awx.awx module."""
    found = []
    for path in sorted(glob.glob(os.path.join(AWX, "*.yml"))):
        with open(path) as handle:
            data = yaml.safe_load(handle)
        if not isinstance(data, list):
            continue
        for play in data:
            for task in _flatten(play.get("tasks") or []):
                modules = [key for key in task if key.startswith("awx.awx.")]
                assert len(modules) <= 1, task
                if modules:
                    found.append((os.path.basename(path), play, task, modules[0], task[modules[0]]))
    return found


def _flatten(tasks):
    for task in tasks:
        if "block" in task:
            for key in ("block", "rescue", "always"):
                yield from _flatten(task.get(key) or [])
        else:
            yield task


def test_awx_yml_calls_awx_modules():
    names = [found[2]["name"] for found in awx_tasks()]
    assert len(names) >= 7 and all(names), names


def render(play, task, arguments):
    """The task's arguments as Ansible templates them, once per loop item (awx/settings.yml and the
    play's vars_files loaded with Ansible's DataLoader, omit dropped)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar

    init_plugin_loader()  # the lookups (ansible.builtin.env) the settings use
    loader = DataLoader()
    variables = {}
    for name in play.get("vars_files") or []:
        variables.update(_trusted(loader, loader.load_from_file(os.path.join(AWX, name))))
    variables.update(_trusted(loader, play.get("vars") or {}))
    variables["omit"] = "__omit_place_holder__ipsecfleet"
    templar = Templar(loader=loader, variables=variables)
    items = [None]
    if "loop" in task:
        items = templar.template(_trusted(loader, task["loop"]))
    rendered = []
    for item in items:
        scope = dict(variables, item=item) if item is not None else variables
        value = Templar(loader=loader, variables=scope).template(_trusted(loader, arguments))
        rendered.append((item, _drop_omit(value, variables["omit"])))
    return rendered


def _trusted(loader, value):
    """``value`` with every string trusted as a template, as Ansible trusts a playbook's own YAML
    (ansible-core 2.19+ templates only trusted strings)."""
    from ansible.template import trust_as_template

    if isinstance(value, dict):
        return dict((k, _trusted(loader, v)) for k, v in value.items())
    if isinstance(value, list):
        return [_trusted(loader, v) for v in value]
    return trust_as_template(value) if isinstance(value, str) else value


def _drop_omit(value, omit):
    if isinstance(value, dict):
        return dict((k, _drop_omit(v, omit)) for k, v in value.items() if v != omit)
    if isinstance(value, list):
        return [_drop_omit(v, omit) for v in value if v != omit]
    return value


def problems(options, arguments, defaults=()):
    """What Ansible's own validator says about ``arguments`` against the documented ``options``
    (module_defaults ``defaults`` count as given)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    given = dict(defaults)
    given.update(arguments)
    result = ArgumentSpecValidator(spec_of(options)).validate(given)
    return [str(error) for error in result.errors]


class _Captured(Exception):
    pass


def module_spec(fqcn):
    """(argument_spec, validator keyword arguments) that the awx.awx module's main() builds, captured
    at ControllerAPIModule (which adds the controller authentication options)."""
    import importlib

    from ansible_collections.awx.awx.plugins.module_utils.controller_api import ControllerModule

    module = importlib.import_module("ansible_collections.awx.awx.plugins.modules." + fqcn.split(".")[-1])

    def capture(argument_spec=None, **kwargs):
        raise _Captured(argument_spec, kwargs)

    saved = module.ControllerAPIModule
    module.ControllerAPIModule = capture
    argument_spec, kwargs = None, {}
    try:
        module.main()
    except _Captured as captured:
        argument_spec, kwargs = captured.args
    finally:
        module.ControllerAPIModule = saved
    assert argument_spec is not None, "%s: main() built no ControllerAPIModule" % fqcn
    spec = dict(ControllerModule.AUTH_ARGSPEC)
    spec.update(argument_spec)
    checks = dict((k, v) for k, v in kwargs.items()
                  if k in ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by"))
    return spec, checks


def code_problems(fqcn, arguments, defaults=()):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec, checks = module_spec(fqcn)
    given = dict(defaults)
    given.update(arguments)
    return [str(error) for error in ArgumentSpecValidator(spec, **checks).validate(given).errors]


def test_every_awx_task_matches_the_module_argument_spec(awx_collection):
    failures = []
    for filename, play, task, fqcn, arguments in awx_tasks():
        defaults = render(play, {}, (play.get("module_defaults") or {}).get("group/awx.awx.controller") or {})[0][1]
        for item, rendered in render(play, task, arguments or {}):
            for problem in code_problems(fqcn, rendered, defaults):
                failures.append("%s: %s (%s): %s" % (filename, task["name"], fqcn, problem))
    assert failures == [], "\n".join(failures)


def test_every_awx_task_matches_the_module_documentation(awx_collection):
    tasks = awx_tasks()
    docs = awx_docs(set(found[3] for found in tasks))
    failures = []
    for filename, play, task, fqcn, arguments in tasks:
        assert fqcn in docs, "%s: %s is not an awx.awx module" % (filename, fqcn)
        defaults = (play.get("module_defaults") or {}).get("group/awx.awx.controller") or {}
        for item, rendered in render(play, task, arguments or {}):
            defaults_rendered = render(play, {}, defaults)[0][1]
            for problem in problems(docs[fqcn], rendered, defaults_rendered):
                failures.append("%s: %s%s (%s): %s" % (filename, task["name"], "" if item is None else " [%s]"
                                                       % (item.get("name") if isinstance(item, dict) else item),
                                                       fqcn, problem))
    assert failures == [], "\n".join(failures)


def test_the_validator_catches_what_it_should(awx_collection):
    """The check itself: an unknown option, a wrong choice, a wrong type and a missing required option."""
    options = awx_docs(["awx.awx.job_template"])["awx.awx.job_template"]
    assert problems(options, {"name": "x", "job_type": "run", "forks": "25"}) == []
    assert any("playbok" in p for p in problems(options, {"name": "x", "playbok": "site.yml"}))
    assert any("job_type" in p for p in problems(options, {"name": "x", "job_type": "dry"}))
    assert any("forks" in p for p in problems(options, {"name": "x", "forks": "many"}))
    assert any("name" in p for p in problems(options, {"job_type": "run"}))
    assert code_problems("awx.awx.job_template", {"name": "x", "forks": "25"}) == []
    assert any("playbok" in p for p in code_problems("awx.awx.job_template", {"name": "x", "playbok": "site.yml"}))
    assert any("mutually exclusive" in p for p in code_problems("awx.awx.credential", {
        "name": "x", "credential_type": "Vault", "organization": "o", "team": "t"}))
