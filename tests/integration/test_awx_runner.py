"""AWX / Controller: playbooks/site.yml through ansible-runner the way Controller runs a job (a
private data dir with inventory/, project/, env/extravars and env/envvars; artifacts and job
events written there) against a lab of inventories/lab; execution-environment.yml accepted by
ansible-builder create; awx/controller.yml resolves every awx.awx module."""
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from engine_lab_helpers import ROOT

BIN = os.path.dirname(sys.executable)
LAB_INVENTORY = os.path.join(ROOT, "inventories", "lab")
CONVERGE = "Converge IPsec and its firewall (one task, one API session per router)"


def env():
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")


def test_site_through_ansible_runner_like_controller(lab, tmp_path):
    runner = pytest.importorskip("ansible_runner")
    data = tmp_path / "job"
    # what Controller puts in a job's private data dir: the project checkout, the inventory, env/
    shutil.copytree(LAB_INVENTORY, str(data / "inventory"))
    (data / "inventory" / "ports.yml").write_text(lab.inventory_yaml())
    shutil.copytree(os.path.join(ROOT, "playbooks"), str(data / "project" / "playbooks"))
    (data / "env").mkdir()
    # a survey answer arrives as an extra var: only the IPsec feature, the firewall is left alone
    (data / "env" / "extravars").write_text(yaml.safe_dump({"ipsec_site_features": ["ipsec"]}))
    (data / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        # the ansible-playbook of this venv, as the execution environment's is the one on its PATH
        "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}))
    for name in lab.routers:
        lab.reset(name)
    result = runner.run(private_data_dir=str(data), playbook="playbooks/site.yml", ident="job-1", quiet=True)
    stdout = result.stdout.read()
    assert result.status == "successful" and result.rc == 0, stdout

    events = list(result.events)
    kinds = [e["event"] for e in events]
    assert "playbook_on_start" in kinds and kinds[-1] == "playbook_on_stats", kinds
    converged = dict((e["event_data"]["host"], e["event_data"]["res"]) for e in events
                     if e["event"] == "runner_on_ok" and e["event_data"].get("task") == CONVERGE)
    assert sorted(converged) == ["hub", "spoke1", "spoke2"], kinds
    assert all(res["changed"] for res in converged.values()), converged
    stats = next(e for e in events if e["event"] == "playbook_on_stats")["event_data"]
    assert sorted(stats["changed"]) == ["hub", "spoke1", "spoke2"] and not stats["failures"], stats

    # artifacts as Controller collects them: rc, status, stdout, one JSON file per job event
    artifacts = data / "artifacts" / "job-1"
    assert (artifacts / "rc").read_text().strip() == "0"
    assert (artifacts / "status").read_text().strip() == "successful"
    assert len(glob.glob(str(artifacts / "job_events" / "*.json"))) == len(events)
    # the pre-shared keys are in the inventory, never in an event
    with open(os.path.join(LAB_INVENTORY, "group_vars", "all", "lab_secrets.yml")) as handle:
        secrets = list(yaml.safe_load(handle).values())
    dumped = json.dumps(events)
    assert secrets and not [s for s in secrets if s in dumped or s in stdout]
    # the extra var was honoured: IPsec configured, no firewall rule of ours
    assert [r for r in lab.router("hub").items("/ip/ipsec/peer") if r.get("comment", "").startswith("ipsecfleet:")]
    assert not [r for r in lab.router("hub").items("/ip/firewall/filter")
                if r.get("comment", "").startswith("ipsecfleet:")]


def test_execution_environment_definition_is_accepted_by_ansible_builder(tmp_path):
    builder = os.path.join(BIN, "ansible-builder")
    if not os.path.exists(builder):
        pytest.skip("ansible-builder is not installed in this venv (requirements-dev.txt)")
    done = subprocess.run([builder, "create", "-f", os.path.join(ROOT, "execution-environment.yml"),
                           "-c", str(tmp_path / "context")], capture_output=True, text=True, timeout=300,
                          check=False, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    build = tmp_path / "context" / "_build"
    with open(os.path.join(ROOT, "requirements.txt")) as handle:
        wanted = [line.split("==")[0] for line in handle if "==" in line and not line.startswith("#")]
    assert all(name in (build / "requirements.txt").read_text() for name in wanted)
    # the EE pins the oldest toolchain we test with (requirements-dev.txt)...
    with open(os.path.join(ROOT, "requirements-dev.txt")) as handle:
        core = next(line.strip() for line in handle if line.startswith("ansible-core=="))
    assert core in (tmp_path / "context" / "Dockerfile").read_text()
    # ...and the collections that toolchain bundles, checked where that toolchain runs
    import ansible
    import ansible_collections
    from ansible.release import __version__ as running_core
    if core != "ansible-core==" + running_core:
        pytest.skip("the EE pins %s; this venv runs ansible-core %s (%s), whose bundled collections differ"
                    % (core, running_core, os.path.dirname(ansible.__file__)))
    baked = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    for collection in baked:
        namespace, name = collection["name"].split(".")
        manifests = [os.path.join(p, namespace, name, "MANIFEST.json") for p in ansible_collections.__path__]
        manifest = next(m for m in manifests if os.path.exists(m))
        with open(manifest) as handle:
            assert json.load(handle)["collection_info"]["version"] == collection["version"], collection


def test_controller_as_code_resolves_every_awx_module(tmp_path):
    import ansible_collections
    if not any(os.path.isdir(os.path.join(p, "awx", "awx")) for p in ansible_collections.__path__):
        # the package's metadata, not ansible_collections.ansible_release: Ansible's collection finder,
        # once another test in this worker installed it, hides that module
        from importlib.metadata import version
        ansible_version = version("ansible")
        pytest.skip("awx.awx is not in the ansible %s package (the pinned ansible 12 package bundles it); "
                    "install it from Galaxy or Automation Hub to run awx/controller.yml" % ansible_version)
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check",
                           os.path.join(ROOT, "awx", "controller.yml")], env=env(), capture_output=True,
                          text=True, timeout=300, check=False, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
