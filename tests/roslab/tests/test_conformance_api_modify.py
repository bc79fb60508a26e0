"""community.routeros.api_info / api_modify, unmodified, against a lab router.

Runs small ansible-playbooks (connection local, the venv's python) and reads the results back with
an independent client (librouteros). What this proves: the lab's print/add/set/remove/move replies
are what community.routeros expects from RouterOS (ids, booleans, `!done` ret, traps), and a second
run of the same api_modify data changes nothing.
"""

import json
import os
import subprocess
import sys

import librouteros
import pytest

VENV_BIN = os.path.dirname(sys.executable)
PLAYBOOK_BIN = os.path.join(VENV_BIN, "ansible-playbook")

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook not in the venv")


def lab_api(lab, name="hub"):
    """An unmodified librouteros connection (admin, empty password) to a lab router."""
    return librouteros.connect(host="127.0.0.1", port=lab.ports[name]["api"], username="admin",
                               password="", timeout=10)


def _plays(tmp_path, plays, username="admin", password="", connection=None):
    """Run one playbook with a play per (port, tasks); returns rc and {(play index, task name): result}.
    ``connection``: more community.routeros connection options (tls, force_no_cert, ca_path …)."""
    defaults = dict({"tls": False}, **(connection or {}))
    play = [{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars": {"ansible_python_interpreter": sys.executable},
        "module_defaults": {"group/community.routeros.api": dict(
            defaults, hostname="127.0.0.1", port=port, username=username, password=password)},
        "tasks": tasks,
    } for port, tasks in plays]
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\nretry_files_enabled = false\n")
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))     # JSON is YAML
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_CONFIG=str(cfg),
               ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run([PLAYBOOK_BIN, "-i", "localhost,", str(path)], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise AssertionError("no JSON from ansible-playbook (rc=%s):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    results = {}
    for index, play_report in enumerate(report["plays"]):
        for task in play_report["tasks"]:
            results[(index, task["task"]["name"])] = task["hosts"]["localhost"]
    return proc.returncode, results


def _play(tmp_path, port, tasks, **login):
    rc, results = _plays(tmp_path, [(port, tasks)], **login)
    return rc, dict((name, result) for (_, name), result in results.items())


PROFILE = {"name": "ipsecfleet-ike2", "enc-algorithm": "aes-256", "hash-algorithm": "sha256",
           "dh-group": "ecp256", "lifetime": "8h", "dpd-interval": "2m", "dpd-maximum-failures": "5"}
MODIFY_TASKS = [
    {"name": "profiles", "community.routeros.api_modify": {"path": "ip ipsec profile", "data": [PROFILE]}},
    {"name": "peers", "community.routeros.api_modify": {"path": "ip ipsec peer", "data": [
        {"name": "spoke1", "address": "198.51.100.2/32", "profile": "ipsecfleet-ike2", "exchange-mode": "ike2",
         "comment": "ipsecfleet:spoke1"}]}},
    {"name": "identities", "community.routeros.api_modify": {"path": "ip ipsec identity", "data": [
        {"peer": "spoke1", "secret": "s3cret", "comment": "ipsecfleet:spoke1"}]}},
    {"name": "address lists", "community.routeros.api_modify": {
        "path": "ip firewall address-list", "handle_absent_entries": "remove", "data": [
            {"list": "vpn", "address": "10.20.0.0/24"}, {"list": "vpn", "address": "10.30.0.0/24"}]}},
    {"name": "filter", "community.routeros.api_modify": {
        "path": "ip firewall filter", "handle_absent_entries": "remove", "handle_entries_content": "remove",
        "data": [
            {"chain": "input", "action": "accept", "protocol": "udp", "dst-port": "500,4500",
             "comment": "ipsecfleet:ike"},
            {"chain": "input", "action": "accept", "protocol": "ipsec-esp", "comment": "ipsecfleet:esp"},
            {"chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec", "comment": "ipsecfleet:in"},
        ]}},
]


def test_api_info_and_api_modify_idempotent(make_lab, tmp_path):
    lab = make_lab()
    port = lab.ports["hub"]["api"]
    info_task = {"name": "default profile", "community.routeros.api_info": {
        "path": "ip ipsec profile", "hide_defaults": False}}
    identity_task = {"name": "identity", "community.routeros.api_info": {"path": "system identity"}}

    rc, first = _play(tmp_path, port, [info_task, identity_task] + MODIFY_TASKS)
    assert rc == 0, json.dumps(first, indent=1)[:4000]
    (default,) = first["default profile"]["result"]
    assert default["name"] == "default" and default["dpd-interval"] == "2m" and default["dpd-maximum-failures"] == 5
    assert default["nat-traversal"] is True
    assert first["identity"]["result"][0]["name"] == "hub"
    for name in ("profiles", "peers", "identities", "address lists", "filter"):
        assert first[name]["changed"], name

    rc, second = _play(tmp_path, port, MODIFY_TASKS)
    assert rc == 0, json.dumps(second, indent=1)[:4000]
    for name in ("profiles", "peers", "identities", "address lists", "filter"):
        assert not second[name]["changed"], (name, second[name].get("new_data"), second[name].get("old_data"))

    api = lab_api(lab)
    try:
        peers = list(api.path("ip", "ipsec", "peer"))
        assert [(p["name"], p["address"], p["exchange-mode"]) for p in peers] == [
            ("spoke1", "198.51.100.2/32", "ike2")]
        (identity,) = list(api.path("ip", "ipsec", "identity"))
        assert identity["peer"] == "spoke1" and identity["secret"] == "s3cret"
        rules = list(api.path("ip", "firewall", "filter"))
        # the dynamic fasttrack counter rule stays on top; api_modify leaves dynamic entries alone
        assert rules[0]["dynamic"] is True
        # data order (api_modify stratifies by chain but keeps the given order within each)
        assert [r.get("comment") for r in rules[1:]] == ["ipsecfleet:ike", "ipsecfleet:esp", "ipsecfleet:in"]
        lists = sorted(e["address"] for e in api.path("ip", "firewall", "address-list"))
        assert lists == ["10.20.0.0/24", "10.30.0.0/24"]
    finally:
        api.close()


# Data with RouterOS defaults written out. A print leaves these values out (terraform-provider-
# routeros recorded prints); community.routeros knows them as remove_value of can_disable fields,
# so a second run must find nothing to change.
DEFAULTS_SPELLED_OUT_TASKS = [
    {"name": "profiles", "community.routeros.api_modify": {"path": "ip ipsec profile", "data": [
        dict(PROFILE, **{"prf-algorithm": "auto", "lifebytes": 0})]}},
    {"name": "peers", "community.routeros.api_modify": {"path": "ip ipsec peer", "data": [
        {"name": "spoke2", "address": "198.51.100.3/32", "profile": "ipsecfleet-ike2",
         "exchange-mode": "ike2"}]}},
    {"name": "identities", "community.routeros.api_modify": {"path": "ip ipsec identity", "data": [
        {"peer": "spoke2", "secret": "s3cret", "my-id": "auto", "remote-id": "auto",
         "match-by": "remote-id", "mode-config": "none", "policy-template-group": "default"}]}},
    {"name": "policies", "community.routeros.api_modify": {"path": "ip ipsec policy", "data": [
        {"peer": "spoke2", "tunnel": True, "src-address": "10.40.0.0/24", "dst-address": "10.50.0.0/24",
         "group": "default", "template": False}]}},
]


def test_api_modify_with_defaults_spelled_out_is_idempotent(make_lab, tmp_path):
    lab = make_lab()
    port = lab.ports["hub"]["api"]
    rc, first = _play(tmp_path, port, DEFAULTS_SPELLED_OUT_TASKS)
    assert rc == 0, json.dumps(first, indent=1)[:4000]
    for name in ("profiles", "peers", "identities", "policies"):
        assert first[name]["changed"], name
    rc, second = _play(tmp_path, port, DEFAULTS_SPELLED_OUT_TASKS)
    assert rc == 0, json.dumps(second, indent=1)[:4000]
    for name in ("profiles", "peers", "identities", "policies"):
        assert not second[name]["changed"], (name, second[name].get("new_data"), second[name].get("old_data"))
    api = lab_api(lab)
    try:
        (identity,) = list(api.path("ip", "ipsec", "identity"))
        assert not {"my-id", "remote-id", "match-by", "mode-config", "policy-template-group"} & set(identity)
        (profile,) = [p for p in api.path("ip", "ipsec", "profile") if p["name"] == "ipsecfleet-ike2"]
        assert not {"prf-algorithm", "lifebytes"} & set(profile)
    finally:
        api.close()


def test_api_modify_with_a_least_privilege_user(make_lab, tmp_path):
    """A group with read, write, api and sensitive (to compare the PSK) is all api_modify needs; a
    read-only group gets RouterOS's permission error and nothing changes."""
    lab = make_lab()
    api = lab_api(lab)
    try:
        api.path("user", "group").add(name="vpn-admin", policy="read,write,api,sensitive")
        api.path("user", "group").add(name="vpn-ro", policy="read,api")
        api.path("user").add(name="vpn", group="vpn-admin", password="pw-vpn")
        api.path("user").add(name="viewer", group="vpn-ro", password="pw-viewer")
    finally:
        api.close()
    port = lab.ports["hub"]["api"]
    rc, refused = _play(tmp_path, port, [dict(MODIFY_TASKS[0], ignore_errors=True)], username="viewer",
                        password="pw-viewer")
    assert refused["profiles"].get("failed") and "not enough permissions (9)" in refused["profiles"]["msg"]
    rc, first = _play(tmp_path, port, MODIFY_TASKS, username="vpn", password="pw-vpn")
    assert rc == 0 and all(first[t["name"]]["changed"] for t in MODIFY_TASKS), json.dumps(first, indent=1)[:4000]
    rc, second = _play(tmp_path, port, MODIFY_TASKS, username="vpn", password="pw-vpn")
    assert rc == 0 and not any(second[t["name"]]["changed"] for t in MODIFY_TASKS), json.dumps(second, indent=1)[:4000]


# api-ssl in both of RouterOS's modes (roslab.tls): a certificate validated with its CA and host
# name, and certificate=none, which only community.routeros's force_no_cert (anonymous DH) reaches
TLS_MODES = {
    "certificate": lambda lab: {"tls": True, "validate_certs": True, "validate_cert_hostname": True,
                                "ca_path": os.path.join(lab.tls_dir, "cert.pem")},
    "anonymous-dh": lambda lab: {"tls": True, "force_no_cert": True},
}


@pytest.mark.parametrize("mode", sorted(TLS_MODES))
def test_api_modify_over_api_ssl_as_a_least_privilege_user(make_lab, tmp_path, mode):
    lab = make_lab()
    api = lab_api(lab)
    try:
        api.path("user", "group").add(name="vpn-admin", policy="read,write,api,sensitive")
        api.path("user").add(name="vpn", group="vpn-admin", password="pw-vpn")
        if mode == "anonymous-dh":
            service = dict((r["name"], r) for r in api.path("ip", "service"))["api-ssl"]
            api.path("ip", "service").update(**{".id": service[".id"], "certificate": "none"})
    finally:
        api.close()
    port = lab.ports["hub"]["api_ssl"]
    login = dict(username="vpn", password="pw-vpn", connection=TLS_MODES[mode](lab))
    rc, first = _play(tmp_path, port, MODIFY_TASKS, **login)
    assert rc == 0 and all(first[t["name"]]["changed"] for t in MODIFY_TASKS), json.dumps(first, indent=1)[:4000]
    rc, second = _play(tmp_path, port, MODIFY_TASKS, **login)
    assert rc == 0 and not any(second[t["name"]]["changed"] for t in MODIFY_TASKS), json.dumps(second, indent=1)[:4000]
    if mode == "anonymous-dh":
        # a client that wants a certificate (even unverified) cannot talk to certificate=none
        plain = dict(login, connection={"tls": True, "validate_certs": False})
        rc, refused = _play(tmp_path, port, [dict(MODIFY_TASKS[0], ignore_errors=True)], **plain)
        assert refused["profiles"].get("failed") and "Error while connecting" in refused["profiles"]["msg"]


def test_api_modify_reports_routeros_error(make_lab, tmp_path):
    lab = make_lab()
    port = lab.ports["hub"]["api"]
    rc, results = _play(tmp_path, port, [
        {"name": "bad identity", "ignore_errors": True, "community.routeros.api_modify": {
            "path": "ip ipsec identity", "data": [{"peer": "ghost", "secret": "x"}]}},
    ])
    result = results["bad identity"]
    assert result.get("failed")
    assert "input does not match any value of peer" in result["msg"]


def test_versions_as_community_routeros_sees_them(make_lab, tmp_path):
    """get_api_version parses /system/resource; the IPsec data of 7.12.2 and 7.24 routers round-trips."""
    lab = make_lab({"routers": {"old": {"version": "7.12.2"}, "new": {"version": "7.24"}}})
    tasks = [
        {"name": "resource", "community.routeros.api": {"path": "system resource"}},
        {"name": "proposals", "community.routeros.api_modify": {"path": "ip ipsec proposal", "data": [
            {"name": "ipsecfleet-gcm", "auth-algorithms": "", "enc-algorithms": "aes-256-gcm",
             "pfs-group": "ecp256", "lifetime": "1h"}]}},
        {"name": "proposals again", "community.routeros.api_modify": {"path": "ip ipsec proposal", "data": [
            {"name": "ipsecfleet-gcm", "auth-algorithms": "", "enc-algorithms": "aes-256-gcm",
             "pfs-group": "ecp256", "lifetime": "1h"}]}},
    ]
    rc, results = _plays(tmp_path, [(lab.ports["old"]["api"], tasks), (lab.ports["new"]["api"], tasks)])
    assert rc == 0, json.dumps(dict((str(k), v) for k, v in results.items()), indent=1)[:4000]
    for index, version in enumerate(("7.12.2", "7.24")):
        assert results[(index, "resource")]["msg"][0]["version"] == version + " (stable)"
        assert results[(index, "proposals")]["changed"]
        assert not results[(index, "proposals again")]["changed"]
