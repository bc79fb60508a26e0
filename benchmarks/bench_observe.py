"""Observe benchmark: status.yml and report.yml on a fleet of lab routers beside what Ansible itself
costs for the same hosts, measured in one run.

    .venv/bin/python benchmarks/bench_observe.py [--sizes 20,100,500] [--forks 20] [--json out.json]

The fleet is bench_site.py's (a hub and N-1 spokes, one hub_and_spoke topology, roslab in this
process with the fabric off: configuration only), converged once with site.yml. Then, side by side:

  floor     bench_site's floor: the same two plays shape with in-process no-op tasks
  status    playbooks/status.yml with one attempt (ipsec_status_retries=0: the fabric is off, so every
            tunnel is down and the play fails naming them, which is what a broken fleet costs)
  report    playbooks/report.yml: ipsec_info on every router (live state, diagnosis, drift, audit),
            then one HTML file with the SVG topology for the whole fleet
  render    the report's pure part alone (observe.report over the results report.yml gathered),
            in this process, to show whether the page itself scales linearly

Ratios are to the floor of the same size. Not a pytest test; prints a table and optional JSON.
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# pylint: disable=wrong-import-position
# bench_site's fleet, floor play and runner: one definition of the shape
from bench_site import FLOOR, ROOT, Lab, Runner, inventory, names, topology, write_yaml  # noqa: E402

SITE = os.path.join(ROOT, "playbooks", "site.yml")
STATUS = os.path.join(ROOT, "playbooks", "status.yml")
REPORT = os.path.join(ROOT, "playbooks", "report.yml")


def bench_size(runner, count, results):
    workdir = runner.workdir
    lab = Lab.from_topology(topology(count), base_port=0, state_dir=os.path.join(workdir, "lab-%d" % count),
                            api_ssl=False, fabric=False, save_delay=5)
    lab.start()
    row = {"routers": count}
    try:
        ports = dict((n, lab.ports[n]["api"]) for n in names(count))
        inv_path = write_yaml(os.path.join(workdir, "inventory-%d.yml" % count), inventory(ports, count))
        runner.run(SITE, [inv_path])
        row["floor"] = runner.run(runner.play(FLOOR), [inv_path])
        row["status"] = runner.run(STATUS, [inv_path], "-e", "ipsec_status_retries=0", "-e", "ipsec_status_delay=0",
                                   allow_failures=True)
        row["status_failed_hosts"] = runner.last_recap["failed"]
        html = os.path.join(workdir, "report-%d.html" % count)
        row["report"] = runner.run(REPORT, [inv_path], "-e", "ipsec_report_path=%s" % html)
        row["report_kib"] = round(os.path.getsize(html) / 1024.0, 1)
        row["render"] = render_time(html)
    finally:
        lab.stop()
    results.append(row)


def render_time(html):
    """The pure SVG layout of the fleet the report drew, timed in this process: the routers and
    tunnels are read back from the page's own SVG (data-tunnel lines), so nothing is re-gathered."""
    from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import report

    with open(html) as handle:
        page = handle.read()
    tunnels = page.count('class="tunnel ')
    # one up router result per hub/spoke with its tunnels: the shape report.topology_svg takes
    results = []
    hub = {"host": "hub", "tunnels": []}
    for index in range(1, tunnels + 1):
        spoke = "spoke%d" % index
        hub["tunnels"].append({"tunnel": "bench-%s" % spoke, "remote_host": spoke, "up": False})
        results.append({"host": spoke, "tunnels": [{"tunnel": "bench-%s" % spoke, "remote_host": "hub", "up": False}]})
    results.insert(0, hub)
    started = time.perf_counter()
    report.topology_svg(results)
    return time.perf_counter() - started


def show(results):
    print("status.yml / report.yml on lab routers (fabric off), one run on one machine; ratios to the floor")
    header = ("routers", "floor s", "status s", "report s", "st/fl", "rep/fl", "page KiB", "svg s")
    print("%-8s %8s %9s %9s %9s %10s %9s %10s" % header)
    for row in results:
        print("%-8d %8.2f %9.2f %9.2f %9.2f %10.2f %9.1f %10.4f" % (
            row["routers"], row["floor"], row["status"], row["report"], row["status"] / row["floor"],
            row["report"] / row["floor"], row["report_kib"], row["render"]))
        print("         status failed on %d routers (every tunnel down: the fabric is off)" % row["status_failed_hosts"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,100,500")
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--json", help="write the measurements here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-observe-") as workdir:
        runner = Runner(workdir, args.forks)
        for count in [int(s) for s in args.sizes.split(",") if s]:
            bench_size(runner, count, results)
    show(results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"forks": args.forks, "cpus": os.cpu_count(), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
