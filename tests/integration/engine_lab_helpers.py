"""Shared by the engine's lab tests: repository root, lab topology, a librouteros connection."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if os.path.join(ROOT, ".collections") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, ".collections"))


HUB_AND_SPOKES = {
    "routers": {
        "hub": {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                              {"address": "10.10.0.1/24", "interface": "ether2"}]},
        "spoke1": {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                   "addresses": [{"address": "198.51.100.11/24", "interface": "ether1"},
                                 {"address": "10.11.0.1/24", "interface": "ether2"}]},
        "spoke2": {"version": "7.18", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                   "addresses": [{"address": "198.51.100.12/24", "interface": "ether1"},
                                 {"address": "10.12.0.1/24", "interface": "ether2"}]},
    },
    "links": [["hub:ether1", "spoke1:ether1"], ["hub:ether1", "spoke2:ether1"]],
}


def connect(lab, name, timeout=5):
    import librouteros
    return librouteros.connect(host="127.0.0.1", port=lab.ports[name]["api"], username="admin",
                               password="", timeout=timeout)


def ansible_playbook(tmp_path, inventories, playbook, *args, env=None, timeout=300):
    """Run ``ansible-playbook`` of this venv on ``playbook`` with the ``inventories`` (paths), the
    checkout as the collection and the default callback (no colour); returns (exit code, stdout + stderr).
    ``env`` adds or overrides environment variables (a value of None removes one)."""
    import subprocess

    environment = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                       ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
                       ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1",
                       ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")]
    for inventory in inventories:
        command += ["-i", str(inventory)]
    command += [str(playbook)] + list(args)
    done = subprocess.run(command, env=environment, cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=timeout, check=False)
    return done.returncode, done.stdout + done.stderr


def recap(output):
    """{host: {ok:, changed:, failed:, ...}} from the PLAY RECAP lines of ansible-playbook's output."""
    stats = {}
    for line in output.split("PLAY RECAP", 1)[1].splitlines():
        if ":" in line and "ok=" in line:
            host, counters = line.split(":", 1)
            stats[host.strip()] = dict((k, int(v)) for k, v in (c.split("=") for c in counters.split()))
    return stats


def lab_fleet_vars():
    """Inventory ``vars`` of a lab hub-and-spoke fleet run with ansible-playbook: local connection,
    the lab's admin, the management source the lock-out check needs, one topology ``fleet``
    (hub ``hub``, spokes the group ``spokes``, each spoke's key in its ``ipsec_psk``)."""
    return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ipsec_api_username": "admin", "ipsec_api_password": "",
            "ipsec_firewall_management_sources": ["127.0.0.1/32"],
            "ipsec_topologies": [{"name": "fleet", "type": "hub_and_spoke", "hub": "hub", "spokes": "spokes",
                                  "suite": "ikev2-aes256gcm-ecp384", "auth": {"psk_var": "ipsec_psk"}}]}
