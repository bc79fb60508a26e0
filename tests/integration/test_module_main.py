"""The modules' own main() (what runs when Ansible executes the module instead of the action
plugin) against a lab router: converge, idempotence, gathered fed back as config writes nothing."""
import json
import os
import subprocess
import sys

from engine_lab_helpers import ROOT

PSK = "Module-Main-Psk-0123456789"


def run_module(lab, name, tmp_path, **args):
    args.update(hostname="127.0.0.1", port=lab.ports["spoke2"]["api"], username="admin", password="")
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run([sys.executable, "-m", "ansible_collections.ipsecfleet.routeros.plugins.modules." + name,
                           str(path)], env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".collections")),
                          capture_output=True, text=True, timeout=60, check=False)
    assert PSK not in done.stdout + done.stderr
    return json.loads(done.stdout)


CONFIG = {
    "profiles": [{"name": "ipsecfleet-p", "enc_algorithm": ["aes-256"], "dh_group": ["ecp384"], "lifetime": "8h"}],
    "peers": [{"name": "ipsecfleet-hub", "address": "198.51.100.1", "profile": "ipsecfleet-p",
               "exchange_mode": "ike2", "comment": "ipsecfleet:peer/hub"}],
    "identities": [{"peer": "ipsecfleet-hub", "secret": PSK, "comment": "ipsecfleet:identity/hub"}],
}


def test_module_main_converges_and_gathered_round_trips(lab, tmp_path):
    lab.reset("spoke2")
    first = run_module(lab, "ipsec_phase1", tmp_path, config=CONFIG)
    assert first["changed"] and first["writes"] == 3, first
    second = run_module(lab, "ipsec_phase1", tmp_path, config=CONFIG)
    assert (second["changed"], second["writes"]) == (False, 0), second

    gathered = run_module(lab, "ipsec_phase1", tmp_path, state="gathered")["gathered"]
    assert gathered["identities"][0]["secret"] == "********"
    assert gathered["peers"][0]["exchange_mode"] == "ike2"
    # the masked secret means "unchanged": feeding gathered back is a no-op, even with replaced
    for state in ("merged", "replaced"):
        again = run_module(lab, "ipsec_phase1", tmp_path, config=gathered, state=state)
        assert (again.get("changed"), again.get("writes")) == (False, 0), (state, again)
    secrets = [row.get("secret") for row in lab.router("spoke2").items("/ip/ipsec/identity")
               if row.get("comment") == "ipsecfleet:identity/hub"]
    assert secrets == [PSK]

    removed = run_module(lab, "ipsec_phase1", tmp_path, state="deleted")
    assert removed["writes"] == 3
    assert [row["name"] for row in lab.router("spoke2").items("/ip/ipsec/profile")] == ["default"]
