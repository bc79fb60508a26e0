"""Phase-role benchmark: the ipsec_phase1 + ipsec_phase2 roles on a fleet of lab routers, beside
Ansible's own cost for the same play shape.

    .venv/bin/python benchmarks/bench_phase_roles.py [--routers 50] [--forks 20]

One lab process (roslab, in this process on its own loop) serves N routers: a hub and N-1 spokes in
one hub_and_spoke topology. Measured in one run, side by side:

  baseline   the same play shape (N hosts, 2 tasks per host, same forks) whose tasks are an
             in-process no-op (ansible.builtin.set_fact): what Ansible itself costs
  cold       phase1 + phase2 roles on empty routers (every object written)
  idempotent the same play again (nothing to write)

and prints wall times and their ratios to the baseline. Not a pytest test; bounded by the play.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "roslab"))

from roslab.control import Lab  # noqa: E402  (after the path set-up above)

PLAY_ROLES = """
- name: Phase roles
  hosts: all
  gather_facts: false
  roles:
    - role: ipsecfleet.routeros.ipsec_phase1
    - role: ipsecfleet.routeros.ipsec_phase2
"""

PLAY_NOOP = """
- name: Same shape, in-process no-op tasks
  hosts: all
  gather_facts: false
  tasks:
    - name: No-op standing in for phase 1
      ansible.builtin.set_fact:
        bench_phase1: done
    - name: No-op standing in for phase 2
      ansible.builtin.set_fact:
        bench_phase2: done
"""


def topology(count):
    routers = {}
    for index in range(count):
        name = "hub" if index == 0 else "spoke%d" % index
        routers[name] = {
            "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
            "addresses": [
                {"address": "198.51.%d.%d/16" % (100 + index // 250, index % 250 + 1), "interface": "ether1"},
                {"address": "10.%d.%d.1/24" % (index // 250, index % 250), "interface": "ether2"},
            ],
        }
    return {"routers": routers}


def inventory(lab, count):
    hosts = {}
    for index in range(count):
        name = "hub" if index == 0 else "spoke%d" % index
        host = {
            "ansible_host": "127.0.0.1",
            "routeros_api_port": lab.ports[name]["api"],
            "ipsec_wan_address": "198.51.%d.%d" % (100 + index // 250, index % 250 + 1),
            "ipsec_lan_prefixes": ["10.%d.%d.0/24" % (index // 250, index % 250)],
        }
        if index:
            host["ipsec_psk"] = "bench-only-psk-%04d-not-a-secret" % index
        hosts[name] = host
    return {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "ipsec_topologies": [{
                    "name": "bench", "type": "hub_and_spoke", "hub": "hub", "spokes": "spokes",
                    "suite": "ikev2-aes256gcm-ecp384", "auth": {"psk_var": "ipsec_psk"},
                }],
            },
            "children": {
                "hubs": {"hosts": {"hub": hosts.pop("hub")}},
                "spokes": {"hosts": hosts},
            },
        }
    }


def run_play(workdir, play, forks):
    path = os.path.join(workdir, "play-%d.yml" % abs(hash(play)))
    with open(path, "w") as handle:
        handle.write(play)
    env = dict(os.environ,
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_FORKS=str(forks),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.null")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    started = time.perf_counter()
    done = subprocess.run([playbook, "-i", os.path.join(workdir, "inventory.yml"), path],
                          env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        sys.exit("play failed (%d):\n%s\n%s" % (done.returncode, done.stdout[-3000:], done.stderr[-3000:]))
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=50)
    parser.add_argument("--forks", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-phase-") as workdir:
        lab = Lab.from_topology(topology(args.routers), base_port=0,
                                state_dir=os.path.join(workdir, "lab"))
        lab.start()
        try:
            with open(os.path.join(workdir, "inventory.yml"), "w") as handle:
                yaml.safe_dump(inventory(lab, args.routers), handle)
            baseline = run_play(workdir, PLAY_NOOP, args.forks)
            cold = run_play(workdir, PLAY_ROLES, args.forks)
            idempotent = run_play(workdir, PLAY_ROLES, args.forks)
        finally:
            lab.stop()

    print("phase roles on %d lab routers, forks=%d (one run, side by side)" % (args.routers, args.forks))
    print("%-34s %9s %9s" % ("play", "wall s", "x no-op"))
    for label, seconds in (("no-op play, same shape (baseline)", baseline),
                           ("phase1+phase2 cold", cold),
                           ("phase1+phase2 idempotent", idempotent)):
        print("%-34s %9.2f %9.2f" % (label, seconds, seconds / baseline))


if __name__ == "__main__":
    main()
