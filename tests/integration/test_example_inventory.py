"""inventories/example (three regions, 50 sites behind three hubs, a hub mesh, vault-encrypted
secrets, the API over TLS with a CA): site.yml --list-hosts names every router, and site.yml
--check against a lab built from the inventory's hosts reaches all 53 over api-ssl, each with
changes to make, writes nothing and never prints a vaulted key."""
import os
import subprocess
import sys

import pytest
import yaml
from roslab import control

from engine_lab_helpers import ROOT, ansible_playbook, recap

EXAMPLE = os.path.join(ROOT, "inventories", "example")
VAULT_PASSWORD = os.path.join(EXAMPLE, "vault-password.test-only.txt")


def inventory_hosts(node=None):
    """{host: vars} of every host in inventories/example/hosts.yml."""
    if node is None:
        with open(os.path.join(EXAMPLE, "hosts.yml")) as handle:
            node = yaml.safe_load(handle)["all"]
    hosts = dict((name, values or {}) for name, values in (node.get("hosts") or {}).items())
    for child in (node.get("children") or {}).values():
        for name, values in inventory_hosts(child or {}).items():
            hosts.setdefault(name, {}).update(values)
    return hosts


def lab_topology():
    """One lab router per inventory host: its RouterOS version, WAN address on ether1, first LAN
    address on ether2, management address on ether3; every WAN on one segment."""
    routers = {}
    for name, values in sorted(inventory_hosts().items()):
        lan = values["ipsec_lan_prefixes"][0]
        network, length = lan.split("/")
        routers[name] = {
            "version": str(values["routeros_version"]),
            "interfaces": [{"name": "ether1"}, {"name": "ether2"}, {"name": "ether3"}],
            "addresses": [{"address": values["ipsec_wan_address"] + "/24", "interface": "ether1"},
                          {"address": network.rsplit(".", 1)[0] + ".1/" + length, "interface": "ether2"},
                          {"address": values["ansible_host"] + "/24", "interface": "ether3"}]}
    names = sorted(routers)
    return {"routers": routers, "links": [["%s:ether1" % names[0], "%s:ether1" % other] for other in names[1:]]}


def vaulted_keys():
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-vault"), "view",
               "--vault-password-file", VAULT_PASSWORD, os.path.join(EXAMPLE, "group_vars", "all", "vault.yml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    values = yaml.safe_load(done.stdout)
    return [values["vault_ipsec_api_password"], values["vault_ipsec_psk_hub_mesh"]] + list(
        values["vault_ipsec_site_psks"].values())


@pytest.fixture(scope="module")
def example_lab(tmp_path_factory):
    lab = control.Lab.from_topology(lab_topology(), base_port=0, state_dir=str(tmp_path_factory.mktemp("example-lab")),
                                    fabric=False, save_delay=0.2)
    lab.start()
    yield lab
    lab.stop()


def playbook(tmp_path, path, *args, inventories=()):
    """ansible-playbook with inventories/example (and ``inventories`` after it), ten forks."""
    return ansible_playbook(tmp_path, [EXAMPLE] + list(inventories), path, *args, env={"ANSIBLE_FORKS": "10"},
                            timeout=600)


def test_list_hosts_names_every_router(tmp_path):
    code, output = playbook(tmp_path, os.path.join(ROOT, "playbooks", "site.yml"), "--list-hosts")
    assert code == 0, output
    converge = output.split("play #2", 1)[1]
    assert "hosts (53)" in converge, output
    assert all(name in converge for name in inventory_hosts()), output


def test_site_check_reaches_every_router_over_tls(example_lab, tmp_path):
    # only the api-ssl ports: a plain API connection would go to 8728 and be refused
    lab_hosts = yaml.safe_load(example_lab.inventory_yaml())
    for values in lab_hosts["all"]["children"]["roslab"]["hosts"].values():
        del values["routeros_api_port"]
    (tmp_path / "lab.yml").write_text(yaml.safe_dump(lab_hosts))
    # the lab's API: its admin user, its certificate (the CA file), the test's own address
    lab_access = {"ipsec_api_username": "admin", "ipsec_api_password": "",
                  "ipsec_api_ca_path": os.path.join(example_lab.tls_dir, "cert.pem"),
                  "ipsec_firewall_management_sources": ["127.0.0.1/32"]}
    (tmp_path / "lab-access.yml").write_text(yaml.safe_dump(lab_access))
    code, output = playbook(tmp_path, os.path.join(ROOT, "playbooks", "site.yml"), "--vault-password-file",
                            VAULT_PASSWORD, "-e", "@" + str(tmp_path / "lab-access.yml"), "--check", "--diff",
                            inventories=[tmp_path / "lab.yml"])
    assert code == 0, output
    stats = recap(output)
    assert sorted(stats) == sorted(inventory_hosts()), output
    assert all(s["changed"] == 1 and s["failed"] == 0 and s["unreachable"] == 0 for s in stats.values()), output
    for secret in vaulted_keys():
        assert secret not in output
    usage = example_lab.api_usage()
    assert all(usage[name]["logins"] >= 1 for name in inventory_hosts()), usage
    for name in inventory_hosts():
        assert [r for r in example_lab.router(name).items("/ip/ipsec/peer")
                if r.get("comment", "").startswith("ipsecfleet:")] == [], name
