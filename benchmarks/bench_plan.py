"""Planner benchmark: planning stays near-linear in the fleet size (no O(fleet^2) work).

    .venv/bin/python benchmarks/bench_plan.py

Measured side by side in one run, best of a few: planning one spoke and the hub of hub-and-spoke
fleets of 500, 2,000 and 5,000 tunnels, and planning the whole fleet. Prints times and the ratio to
the 500-tunnel case (a quadratic algorithm would show ~16x at 4x the fleet, ~100x at 10x).
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".collections"))

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan  # noqa: E402

PSK = "bench-only-psk-not-a-secret-000000"


def fleet(spokes):
    hostvars = {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.0.0.0/16"],
                        "routeros_version": "7.22.2"}}
    for i in range(spokes):
        hostvars["s%d" % i] = {"ipsec_wan_address": "100.64.%d.%d" % (i // 250, i % 250 + 1),
                               "ipsec_lan_prefixes": ["10.%d.%d.0/24" % (1 + i // 256, i % 256)]}
    groups = {"spokes": ["s%d" % i for i in range(spokes)]}
    topologies = [{"name": "big", "type": "hub_and_spoke", "hub": "hub", "spokes": "spokes",
                   "auth": {"psk": PSK}}]
    return hostvars, topologies, groups


def best_of(runs, fn, *args):
    best = None
    for _run in range(runs):
        started = time.perf_counter()
        fn(*args)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    sizes = (500, 2000, 5000)
    rows = []
    for size in sizes:
        hostvars, topologies, groups = fleet(size)
        rows.append((
            size,
            best_of(3, ipsec_plan.plan_host, "s1", [], hostvars, topologies, groups),
            best_of(2, ipsec_plan.plan_host, "hub", [], hostvars, topologies, groups),
            best_of(1, ipsec_plan.plan_fleet, [], hostvars, topologies, groups),
        ))
    base = rows[0]
    print("planner scaling (hub and spoke), best-of timings in seconds, ratio to %d tunnels" % sizes[0])
    print("%8s %10s %7s %10s %7s %10s %7s" % ("tunnels", "spoke s", "x", "hub s", "x", "fleet s", "x"))
    for size, spoke, hub, whole in rows:
        print("%8d %10.3f %7.1f %10.3f %7.1f %10.3f %7.1f" % (
            size, spoke, spoke / base[1], hub, hub / base[2], whole, whole / base[3]))


if __name__ == "__main__":
    main()
