"""docs/getting-started.md, walked as a newcomer would: its console blocks are extracted and run in
order (in a work directory that mirrors the checkout, so the lab's .lab/ state is the test's own),
against the lab it tells the user to start, and the YAML it shows is compared with the inventory it
points at. The doc cannot rot: a command that fails, a claim that is false ("nothing changes") or a
YAML block that differs from inventories/lab fails this test.

Only `git clone <this repository>` is not run (the test runs inside the clone). `make lab-up` gets
LAB_BASE_PORT=0 (free ports) and LAB_SPEED=0: the lab clock moves when the test advances it (before
status.yml), never in real time."""
import os
import re
import subprocess

import librouteros
import pytest
import yaml

from engine_lab_helpers import ROOT

DOC = os.path.join(ROOT, "docs", "getting-started.md")
NOT_RUN = {"git clone <this repository> ipsecfleet && cd ipsecfleet": "the test runs inside the clone"}
# mirrored into the work directory (everything a newcomer's checkout has; not .lab, not build output)
SKIP_ENTRIES = {".lab", ".git", "build", ".pytest_cache"}


def sections():
    """[(section title, [(kind, text)])] of the doc's fenced blocks, in order."""
    found = []
    for part in re.split(r"^## ", open(DOC).read(), flags=re.M)[1:]:
        title = part.split("\n", 1)[0].strip()
        blocks = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w+)\n(.*?)^```", part, re.M | re.S)]
        found.append((title, blocks))
    return found


def commands():
    """Every console command of the doc, comments removed, in order."""
    found = []
    for section in sections():
        for kind, text in section[1]:
            if kind == "console":
                found += [re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines() if line.strip()]
    return found


def test_the_yaml_the_doc_shows_is_the_lab_inventory():
    shown = [yaml.safe_load(text) for title, blocks in sections() if title.startswith("3.")
             for kind, text in blocks if kind == "yaml"]
    assert len(shown) == 2, shown
    lab = os.path.join(ROOT, "inventories", "lab")
    with open(os.path.join(lab, "group_vars", "all", "ipsec.yml")) as handle:
        assert shown[0]["ipsec_topologies"] == yaml.safe_load(handle)["ipsec_topologies"]
    with open(os.path.join(lab, "host_vars", "spoke1.yml")) as handle:
        assert shown[1] == yaml.safe_load(handle)
    # the paths and files the doc names exist
    text = open(DOC).read()
    for path in re.findall(r"`((?:inventories|playbooks|docs)/[\w./-]+)`", text) + \
            re.findall(r"\]\(([\w-]+\.md)\)", text):
        path = path.replace("<router>", "spoke1")
        assert os.path.exists(os.path.join(ROOT, path)) or os.path.exists(os.path.join(ROOT, "docs", path)), path


def test_the_variables_the_doc_names_are_read_by_the_collection():
    """Step 6's variables (ansible_host, ipsec_api_tls, ...) are ones the collection really reads
    (or groups of the lab inventory)."""
    names = set(re.findall(r"`((?:ipsec|routeros|ansible)_\w+)(?::[^`]*)?`", open(DOC).read()))
    assert {"ansible_host", "ipsec_wan_address", "ipsec_api_tls", "ipsec_api_ca_path"} <= names, names
    code = []
    for top in ("plugins", "roles", "playbooks"):
        for base, _dirs, files in os.walk(os.path.join(ROOT, top)):
            code += [open(os.path.join(base, f)).read() for f in files if f.endswith((".py", ".yml"))]
    code = "\n".join(code)
    groups = open(os.path.join(ROOT, "inventories", "lab", "hosts.yml")).read()  # ipsec_spokes is a group
    names = set(name for name in names if not re.search(r"\b%s:" % name, groups))
    unread = sorted(name for name in names if not re.search(r"\b%s\b" % name, code))
    assert unread == [], unread


@pytest.fixture
def checkout(tmp_path):
    """A work directory that looks like the newcomer's checkout (entries linked, .lab/ its own)."""
    work = tmp_path / "ipsecfleet"
    work.mkdir()
    for entry in os.listdir(ROOT):
        if entry not in SKIP_ENTRIES:
            os.symlink(os.path.join(ROOT, entry), str(work / entry))
    env = dict(os.environ, LAB_BASE_PORT="0", LAB_SPEED="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    for key in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "MAKEFLAGS", "MAKELEVEL"):
        env.pop(key, None)
    yield work, env
    subprocess.run(["make", "lab-down"], cwd=str(work), env=env, capture_output=True, timeout=120, check=False)


def run(work, env, command):
    done = subprocess.run(command, shell=True, cwd=str(work), env=env, capture_output=True, text=True,
                          timeout=600, check=False, executable="/bin/bash")
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def owned(work):
    """Items the collection owns on each lab router (read with librouteros, ports from .lab/inventory.yml)."""
    with open(str(work / ".lab" / "inventory.yml")) as handle:
        hosts = yaml.safe_load(handle)["all"]["children"]["roslab"]["hosts"]
    found = {}
    for name, variables in hosts.items():
        api = librouteros.connect(host="127.0.0.1", port=int(variables["routeros_api_port"]), username="admin",
                                  password="", timeout=10)
        try:
            found[name] = [row for menu in ("/ip/ipsec/peer", "/ip/ipsec/policy", "/ip/firewall/filter")
                           for row in api.path(*menu.strip("/").split("/"))
                           if str(row.get("comment", "")).startswith("ipsecfleet:")]
        finally:
            api.close()
    return found


def test_walk_the_getting_started_guide(checkout):
    work, env = checkout
    steps = commands()
    assert steps[:2] == list(NOT_RUN) + ["make setup"], steps
    seen = []
    for command in steps:
        if command in NOT_RUN:
            continue
        if command.endswith("playbooks/status.yml"):
            # the lab clock (LAB_SPEED=0) moves here: what a minute of real time does for the reader
            code, output = run(work, env, ".venv/bin/roslab clock advance 60s --state-dir .lab")
            assert code == 0, output
        code, output = run(work, env, command)
        assert code == 0, "%s\n%s" % (command, output)
        seen.append(command)
        if command == "make lab-status":
            for router in ("hub", "spoke1", "spoke2"):
                assert router in output, output
        elif command.endswith("--check --diff"):
            assert "changed=" in output and all(items == [] for items in owned(work).values()), output
            assert "lab-only-psk" not in output, output
        elif command.endswith("playbooks/site.yml"):
            assert all(owned(work).values()), output
        elif command.endswith("playbooks/status.yml"):
            assert re.search(r"hub lab-hub-spoke1 spoke1 established", output), output
            assert re.search(r"hub lab-hub-spoke2 spoke2 established", output), output
    assert any(c.endswith("site.yml") for c in seen) and any(c.endswith("status.yml") for c in seen), seen
    # "Run site.yml again: nothing changes (changed=0)"
    code, output = run(work, env, next(c for c in seen if c.endswith("playbooks/site.yml")))
    assert code == 0 and "changed=" in output and not re.search(r"changed=[1-9]", output), output
