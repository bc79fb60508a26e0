"""site.yml benchmark: the collection's one-task-per-router playbook beside what Ansible itself costs
and beside the same end state reached with community.routeros.api_modify, measured in one run.

    .venv/bin/python benchmarks/bench_site.py [--sizes 2,20,100,500] [--delays 0,50,200]
        [--sweep-size 100] [--api-modify-max 100] [--unreachable 0.05] [--forks 20] [--json out.json]

One lab (roslab, in this process, fabric off: configuration only) serves N routers: a hub and N-1
spokes in one hub_and_spoke topology. For each size, side by side:

  floor          the same two plays (run_once validation + add_host, then one task per router) whose
                 tasks are in-process no-ops (set_fact): what Ansible itself costs for this shape
  site cold      playbooks/site.yml on empty routers (every object written)
  site idem      site.yml again (nothing to write)
  site check     site.yml --check --diff with one tunnel's suite changed (nothing written)
  site change    site.yml with that change applied (only the hub and one spoke write)
  api_modify     one community.routeros.api_modify task per RouterOS menu per router, data planned
                 offline by the collection (handle_absent_entries=ignore: "remove" would delete the
                 router's foreign items; ensure_order off), on a second, empty lab: cold and
                 idempotent; the end state (owned items per menu, read from both labs) must be the
                 one site.yml reached, and the changed/failed counts of each run are kept
  sweep          at --sweep-size: floor and site idempotent with every sentence to the routers
                 arriving 0/50/200 ms late (the lab's latency fault: a WAN round trip)
  unreachable    at --sweep-size: site idempotent with --unreachable of the routers accepting TCP but
                 never answering (ipsec_api_timeout 5 s): the run's cost is bounded by that timeout

Ratios are to the floor of the same size. Not a pytest test; prints a table and optional JSON.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "roslab"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

# pylint: disable=wrong-import-position
from roslab.control import Lab  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan  # noqa: E402

SITE = os.path.join(ROOT, "playbooks", "site.yml")
SUITE = "ikev2-aes256gcm-ecp384"
NEW_SUITE = "ikev2-aes256cbc-sha256-modp2048"

FLOOR = """
- name: Same shape as intent_hosts.yml, no planning
  hosts: all
  gather_facts: false
  tasks:
    - name: No-op standing in for the fleet validation
      ansible.builtin.set_fact:
        bench_summary: {hosts: "{{ groups.all }}"}
      run_once: true
    - name: Same add_host loop
      ansible.builtin.add_host:
        name: "{{ item }}"
        groups: ipsec_routers
      loop: "{{ bench_summary.hosts }}"
      run_once: true
      changed_when: false
- name: Same shape as site.yml's converge play
  hosts: ipsec_routers
  gather_facts: false
  tasks:
    - name: No-op standing in for ipsec_site
      ansible.builtin.set_fact:
        bench_site: done
"""

API_MODIFY = """
- name: The same end state with one community.routeros.api_modify task per menu
  hosts: all
  gather_facts: false
  module_defaults:
    group/community.routeros.api:
      hostname: "{{ ansible_host }}"
      port: "{{ routeros_api_port }}"
      username: admin
      password: ""
  tasks:
%s
"""
API_MODIFY_TASK = """    - name: api_modify {path}
      community.routeros.api_modify:
        path: {words}
        data: "{{{{ bench_api_modify['{section}'] }}}}"
        handle_absent_entries: ignore
        ensure_order: false
      when: bench_api_modify['{section}'] | length > 0
"""


def names(count):
    return ["hub"] + ["spoke%d" % i for i in range(1, count)]


def topology(count):
    routers = {}
    for index, name in enumerate(names(count)):
        routers[name] = {
            "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
            "addresses": [
                {"address": "198.51.%d.%d/16" % (100 + index // 250, index % 250 + 1), "interface": "ether1"},
                {"address": "10.%d.%d.1/24" % (index // 250, index % 250), "interface": "ether2"},
            ],
        }
    return {"routers": routers}


def inventory(ports, count, extra_host_vars=None):
    hosts = {}
    for index, name in enumerate(names(count)):
        host = {"ansible_host": "127.0.0.1", "routeros_api_port": ports[name],
                "ipsec_wan_address": "198.51.%d.%d" % (100 + index // 250, index % 250 + 1),
                "ipsec_lan_prefixes": ["10.%d.%d.0/24" % (index // 250, index % 250)]}
        if index:
            host["ipsec_psk"] = "bench-only-psk-%04d-not-a-secret" % index
        host.update((extra_host_vars or {}).get(name, {}))
        hosts[name] = host
    return {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "ipsec_firewall_management_sources": ["127.0.0.1/32"],
                 "ipsec_topologies": [{"name": "bench", "type": "hub_and_spoke", "hub": "hub", "spokes": "spokes",
                                       "suite": SUITE, "auth": {"psk_var": "ipsec_psk"}}]},
        "children": {"hubs": {"hosts": {"hub": hosts.pop("hub")}}, "spokes": {"hosts": hosts}},
    }}


def one_tunnel_change(count):
    """The last spoke leaves the topology for a hand-written tunnel with another suite."""
    spoke = names(count)[-1]
    kept = [n for n in names(count)[1:] if n != spoke]
    return {
        "ipsec_topologies": [{"name": "bench", "type": "hub_and_spoke", "hub": "hub", "spokes": "bench_kept",
                              "suite": SUITE, "auth": {"psk_var": "ipsec_psk"}}],
        "ipsec_tunnels": [{"name": "bench-hub-%s" % spoke, "a": "hub", "b": spoke, "suite": NEW_SUITE,
                           "auth": {"psk": "{{ hostvars['%s'].ipsec_psk }}" % spoke}}],
    }, {"all": {"children": {"bench_kept": {"hosts": dict((n, None) for n in kept)}}}}


class Runner(object):
    def __init__(self, workdir, forks):
        self.workdir = workdir
        self.forks = forks
        self.count = 0
        self.last_recap = {}

    def play(self, text):
        self.count += 1
        path = os.path.join(self.workdir, "play-%d.yml" % self.count)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def run(self, playbook, inventories, *args, allow_failures=False):
        # the default callback for every run (the same cost everywhere): its recap gives the counts
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_FORKS=str(self.forks),
                   ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=os.path.join(self.workdir, "tmp"))
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")]
        for path in inventories:
            command += ["-i", path]
        command += [playbook] + list(args)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        # 2: some hosts failed (the unreachable ones); anything else is a broken benchmark
        if done.returncode and not (allow_failures and done.returncode in (2, 4)):
            sys.exit("%s failed (%d):\n%s\n%s" % (playbook, done.returncode, done.stdout[-3000:], done.stderr[-3000:]))
        self.last_recap = recap(done.stdout)
        self.last_output = done.stdout
        return elapsed


def recap(output):
    """Totals of the PLAY RECAP: {"changed": n, "failed": n, "unreachable": n} over all hosts."""
    totals = {"changed": 0, "failed": 0, "unreachable": 0}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        if ":" in line and "ok=" in line:
            for counter in line.split(":", 1)[1].split():
                key, value = counter.split("=")
                if key in totals:
                    totals[key] += int(value)
    return totals


def write_yaml(path, data):
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    return path


def api_modify_data(inv, count):
    """Every router's HostPlan, planned offline, in api_modify's data format (RouterOS spelling)."""
    hostvars = {}
    groups = {"all": names(count), "hubs": ["hub"], "spokes": names(count)[1:]}
    for group in inv["all"]["children"].values():
        for name, host in group["hosts"].items():
            hostvars[name] = dict(inv["all"]["vars"], **host)
    topologies = inv["all"]["vars"]["ipsec_topologies"]
    out = {}
    for name in names(count):
        plan = host_plan.plan_from_intent(name, [], hostvars, topologies, groups)
        out[name] = dict((section, [routeros_item(item, section) for item in items])
                         for section, items in plan.sections.items())
    return out


# keys RouterOS has but community.routeros' api_modify refuses ("Unknown key"): RouterOS 7.22's
# /ip/ipsec/proposal takes a comment (console inspect), the bundled community.routeros lacks it
BASELINE_UNKNOWN = {"proposals": ("comment",)}


def is_bool(section, key):
    field = menus.MENUS_BY_SECTION[section].field(key.replace("_", "-"))
    return field is not None and field.kind == "bool"


def routeros_item(item, section):
    routeros = {}
    for key, value in item.items():
        if key in BASELINE_UNKNOWN.get(section, ()):
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif value in ("true", "false", "yes", "no") and is_bool(section, key):
            # api_modify compares with what librouteros reads: booleans, not their words
            value = value in ("true", "yes")
        routeros[key.replace("_", "-")] = value
    return routeros


def silent_listeners(count):
    """Sockets that accept TCP (the kernel's backlog) but never answer: a hung router."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sockets.append(sock)
    return sockets


def bench_size(runner, count, args, results):
    workdir = runner.workdir
    lab = Lab.from_topology(topology(count), base_port=0, state_dir=os.path.join(workdir, "lab-%d" % count),
                            api_ssl=False, fabric=False, save_delay=5)
    lab.start()
    row = {"routers": count}
    try:
        ports = dict((n, lab.ports[n]["api"]) for n in names(count))
        inv = inventory(ports, count)
        inv_path = write_yaml(os.path.join(workdir, "inventory-%d.yml" % count), inv)
        floor = runner.play(FLOOR)
        row["floor"] = runner.run(floor, [inv_path])
        row["site_cold"] = runner.run(SITE, [inv_path])
        site_state = owned_state(lab, count)
        row["site_idempotent"] = runner.run(SITE, [inv_path])
        row["site_idempotent_changed"] = runner.last_recap["changed"]
        if count > 2:  # the change moves one spoke out of the topology: at least one must stay
            change, kept = one_tunnel_change(count)
            change_args = ["-i", write_yaml(os.path.join(workdir, "kept-%d.yml" % count), kept),
                           "-e", "@" + write_yaml(os.path.join(workdir, "change-%d.yml" % count), change)]
            row["site_check_diff"] = runner.run(SITE, [inv_path], "--check", "--diff", *change_args)
            row["site_one_tunnel_change"] = runner.run(SITE, [inv_path], *change_args)
        if count == args.sweep_size:
            sweep(runner, lab, count, inv_path, floor, args, row)
    finally:
        lab.stop()
    if count <= args.api_modify_max:
        api_modify(runner, count, row, site_state)
    results.append(row)


def sweep(runner, lab, count, inv_path, floor, args, row):
    row["delay_sweep"] = []
    for delay_ms in args.delays:
        for name in names(count):
            lab.fault_latency(name, delay_ms / 1000.0)
        row["delay_sweep"].append({"delay_ms": delay_ms, "floor": runner.run(floor, [inv_path]),
                                   "site_idempotent": runner.run(SITE, [inv_path])})
    for name in names(count):
        lab.fault_latency(name, 0)
    hung = max(1, int(round(count * args.unreachable)))
    listeners = silent_listeners(hung)
    try:
        victims = names(count)[-hung:]
        extra = dict((n, {"routeros_api_port": s.getsockname()[1], "ipsec_api_timeout": 5})
                     for n, s in zip(victims, listeners))
        path = write_yaml(os.path.join(runner.workdir, "hung-%d.yml" % count),
                          inventory(dict((n, lab.ports[n]["api"]) for n in names(count)), count, extra))
        row["unreachable"] = {"routers": hung, "api_timeout_s": 5,
                              "site_idempotent": runner.run(SITE, [path], allow_failures=True),
                              "floor": runner.run(floor, [path])}
    finally:
        for sock in listeners:
            sock.close()


def owned_state(lab, count):
    """{router: {menu: sorted owned labels}}: what the collection owns, however it got there."""
    def read():
        state = {}
        for name in names(count):
            router = lab.router(name)
            state[name] = dict((path, sorted(
                (r.get("comment") or r.get("name") or "") for r in router.items(path)
                if (r.get("comment") or "").startswith("ipsecfleet:")
                or (r.get("name") or "").startswith("ipsecfleet-")))
                for path in menus.APPLY_ORDER)
        return state
    return lab.call(read)


def api_modify(runner, count, row, site_state):
    workdir = runner.workdir
    lab = Lab.from_topology(topology(count), base_port=0, state_dir=os.path.join(workdir, "lab-am-%d" % count),
                            api_ssl=False, fabric=False, save_delay=5)
    lab.start()
    try:
        ports = dict((n, lab.ports[n]["api"]) for n in names(count))
        inv = inventory(ports, count)
        data = api_modify_data(inv, count)
        for name, host in inv["all"]["children"]["hubs"]["hosts"].items():
            host["bench_api_modify"] = data[name]
        for name, host in inv["all"]["children"]["spokes"]["hosts"].items():
            host["bench_api_modify"] = data[name]
        inv_path = write_yaml(os.path.join(workdir, "inventory-am-%d.yml" % count), inv)
        sections = [menus.MENUS[p].section for p in menus.APPLY_ORDER]
        # policy groups: community.routeros does not know how RouterOS identifies them (unknown_mechanism)
        usable = [s for s in sections if s != "policy_groups"]
        tasks = "".join(API_MODIFY_TASK.format(path=menus.MENUS_BY_SECTION[s].path,
                                               words=" ".join(menus.MENUS_BY_SECTION[s].path.strip("/").split("/")),
                                               section=s) for s in usable)
        play = runner.play(API_MODIFY % tasks)
        row["api_modify_cold"] = runner.run(play, [inv_path])
        row["api_modify_idempotent"] = runner.run(play, [inv_path])
        row["api_modify_idempotent_changed"] = runner.last_recap["changed"]
        row["api_modify_tasks_per_router"] = len(usable)
        reached = owned_state(lab, count)
        # the proposal's comment is the one thing the baseline cannot write (BASELINE_UNKNOWN)
        differs = sorted("%s %s: %d owned items, site.yml %d" % (n, p, len(reached[n][p]), len(site_state[n][p]))
                         for n in reached for p in reached[n]
                         if p != "/ip/ipsec/proposal" and reached[n][p] != site_state[n][p])
        row["api_modify_same_end_state"] = not differs
        if differs:
            row["api_modify_differs"] = differs[:10]
    finally:
        lab.stop()


def report(results, args):
    print("site.yml on lab routers, forks=%d, one run on one machine (ratios to the floor of the same size)"
          % args.forks)
    head = "%-8s %8s %10s %10s %10s %10s %12s %12s %8s %8s %9s" % (
        "routers", "floor s", "site cold", "site idem", "check+diff", "1-tunnel", "api_mod cold", "api_mod idem",
        "idem/fl", "cold/fl", "am/site")
    print(head)
    for row in results:
        floor = row["floor"]
        am_idem = row.get("api_modify_idempotent")
        print("%-8d %8.2f %10.2f %10.2f %10s %10s %12s %12s %8.2f %8.2f %9s" % (
            row["routers"], floor, row["site_cold"], row["site_idempotent"],
            "%.2f" % row["site_check_diff"] if "site_check_diff" in row else "-",
            "%.2f" % row["site_one_tunnel_change"] if "site_one_tunnel_change" in row else "-",
            "%.2f" % row["api_modify_cold"] if "api_modify_cold" in row else "-",
            "%.2f" % am_idem if am_idem else "-",
            row["site_idempotent"] / floor, row["site_cold"] / floor,
            "%.1f" % (am_idem / row["site_idempotent"]) if am_idem else "-"))
        print("         changed on the idempotent runs: site %d, api_modify %s; api_modify reached site's end state: %s"
              % (row["site_idempotent_changed"], row.get("api_modify_idempotent_changed", "-"),
                 row.get("api_modify_same_end_state", "-")))
    for row in results:
        for point in row.get("delay_sweep", []):
            print("delay %3d ms, %d routers: floor %.2f s, site idempotent %.2f s (%.2fx)" % (
                point["delay_ms"], row["routers"], point["floor"], point["site_idempotent"],
                point["site_idempotent"] / point["floor"]))
        if "unreachable" in row:
            hung = row["unreachable"]
            print("%d of %d routers hung (API timeout %d s): floor %.2f s, site idempotent %.2f s" % (
                hung["routers"], row["routers"], hung["api_timeout_s"], hung["floor"], hung["site_idempotent"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,20,100,500",
                        help="routers per fleet (a hub and N-1 spokes; 2 is the smallest: one tunnel)")
    parser.add_argument("--delays", default="0,50,200")
    parser.add_argument("--sweep-size", type=int, default=100)
    parser.add_argument("--api-modify-max", type=int, default=100,
                        help="largest size the api_modify baseline runs at (it costs minutes per 100 routers)")
    parser.add_argument("--unreachable", type=float, default=0.05)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--json", help="write the measurements here")
    args = parser.parse_args()
    args.delays = [int(d) for d in args.delays.split(",") if d]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-site-") as workdir:
        runner = Runner(workdir, args.forks)
        for count in [int(s) for s in args.sizes.split(",") if s]:
            bench_size(runner, count, args, results)
    report(results, args)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"forks": args.forks, "cpus": os.cpu_count(), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
