"""The observe playbooks against the demo lab (inventories/lab): status.yml, drift.yml, audit.yml,
troubleshoot.yml and report.yml after a hand-made wrong PSK on spoke1; the HTML report opened in a
real headless Chromium (Debian's chromium, installed by .ci/run / make setup-chromium): screenshot
taken, topology and table rendered, the broken tunnel coloured as down."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from roslab import control

from engine_lab_helpers import ROOT

LAB_INVENTORY = os.path.join(ROOT, "inventories", "lab")
WRONG_PSK = "typed-by-hand-wrong-psk-0000"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")


@pytest.fixture(scope="module")
def broken_lab(tmp_path_factory):
    """The demo lab converged by site.yml, then spoke1's PSK changed by hand and the hub rebooted
    (so spoke1 must authenticate again, and cannot)."""
    lab = control.Lab.from_topology(os.path.join(LAB_INVENTORY, "topology.yml"), base_port=0,
                                    state_dir=str(tmp_path_factory.mktemp("observe-demo")), save_delay=0.05)
    lab.start()
    work = tmp_path_factory.mktemp("observe-play")
    code, output = playbook(work, lab, "site.yml")
    assert code == 0, output
    lab.advance(30)

    def break_psk():
        router = lab.router("spoke1")
        for row in router.items("/ip/ipsec/identity"):
            if (row.get("comment") or "").startswith("ipsecfleet:"):
                router.execute("/ip/ipsec/identity/set", {".id": row[".id"], "secret": WRONG_PSK}, [])
    lab.call(break_psk)
    lab.reboot("hub")
    lab.advance(40)
    yield lab
    lab.stop()


def playbook(tmp_path, lab, name, *args):
    (tmp_path / "ports.yml").write_text(lab.inventory_yaml())
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
               "-i", os.path.join(LAB_INVENTORY, "hosts.yml"), "-i", str(tmp_path / "ports.yml"),
               os.path.join(ROOT, "playbooks", name)] + list(args)
    done = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                          check=False)
    return done.returncode, done.stdout + done.stderr


def no_secret(output):
    return WRONG_PSK not in output and "lab-only-psk-spoke1" not in output


def test_status_fails_naming_the_cause(broken_lab, tmp_path):
    code, output = playbook(tmp_path, broken_lab, "status.yml", "-e", "ipsec_status_retries=1",
                            "-e", "ipsec_status_delay=0")
    assert code != 0, output
    assert "hub: lab-hub-spoke1: authentication failed" in output, output
    assert re.search(r"hub\s+lab-hub-spoke2\s+spoke2\s+established", output), output
    assert no_secret(output)


def test_drift_shows_the_hand_edit_without_the_secret(broken_lab, tmp_path):
    code, output = playbook(tmp_path, broken_lab, "drift.yml")
    assert code != 0, output
    assert "/ip/ipsec/identity identity/lab-hub-spoke1: changed (secret differs)" in output, output
    assert re.search(r"ok: \[hub\] => \s+msg:\s+- no drift", output), output
    assert no_secret(output)


def test_troubleshoot_shows_both_ends(broken_lab, tmp_path):
    code, output = playbook(tmp_path, broken_lab, "troubleshoot.yml", "-e", "tunnel=lab-hub-spoke1")
    assert code == 0, output
    assert "tunnel lab-hub-spoke1" in output and re.search(r"'\s+hub\s+spoke1'", output), output
    assert "hub: authentication failed" in output, output
    assert "next steps on hub" in output, output
    assert no_secret(output)
    code, output = playbook(tmp_path, broken_lab, "troubleshoot.yml")
    assert code != 0 and "lab-hub-spoke1, lab-hub-spoke2" in output, output


def test_audit_exits_non_zero_on_policy_failures(broken_lab, tmp_path):
    code, output = playbook(tmp_path, broken_lab, "audit.yml")
    # the lab's routers serve the plain-text API to anyone: high findings fail the default policy
    assert code != 0, output
    assert "api_without_tls on /ip/service api" in output, output
    (tmp_path / "policy.yml").write_text("fail_on: critical\n")
    code, output = playbook(tmp_path, broken_lab, "audit.yml", "-e", "ipsec_audit_policy_file=%s" % (tmp_path / "policy.yml"))
    assert code == 0, output


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (make setup-chromium, or .ci/run installs Debian's chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_report_renders_in_headless_chromium(broken_lab, tmp_path):
    report = tmp_path / "report.html"
    code, output = playbook(tmp_path, broken_lab, "report.yml", "-e", "ipsec_report_path=%s" % report)
    assert code == 0, output
    html = report.read_text()
    assert no_secret(html)
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    browser = chromium()
    profile = tmp_path / "profile"
    shot = tmp_path / "report.png"
    base = [browser] + list(CHROMIUM_FLAGS) + ["--user-data-dir=%s" % profile, "--window-size=1280,1600"]
    done = subprocess.run(base + ["--screenshot=%s" % shot, report.as_uri()], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and shot.exists(), done.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10000
    done = subprocess.run(base + ["--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    dom = done.stdout
    # the browser parsed the page: the topology, both tunnels, every router, the status table
    assert '<svg id="topology"' in dom and '<table id="status"' in dom, dom[:2000]
    lines = dict((m.group(1), m.group(0)) for m in re.finditer(r'<line class="tunnel \w+" data-tunnel="([^"]+)"[^>]*>', dom))
    assert sorted(lines) == ["lab-hub-spoke1", "lab-hub-spoke2"], lines
    assert 'data-state="down"' in lines["lab-hub-spoke1"] and 'stroke="#c62828"' in lines["lab-hub-spoke1"]
    assert 'data-state="up"' in lines["lab-hub-spoke2"] and 'stroke="#2e7d32"' in lines["lab-hub-spoke2"]
    for router in ("hub", "spoke1", "spoke2"):
        assert 'data-router="%s"' % router in dom
    assert re.search(r'<tr class="down"><td class="router">hub</td><td class="tunnel">lab-hub-spoke1</td>', dom), dom
    assert '<table id="audit"' in dom and '<table id="drift"' in dom
