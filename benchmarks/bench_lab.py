"""Lab benchmark: 500 routers in one process, API throughput and memory per router.

    .venv/bin/python benchmarks/bench_lab.py [--routers 500] [--clients 3] [--seconds 8]

Starts the lab in this process (one asyncio loop, api + api-ssl listeners per router), measures the
RSS delta per router, then runs client PROCESSES (so they do not share the lab's GIL) that use
unmodified librouteros against routers spread over the lab: each round is one print, one add and
one set on ``/ip/firewall/address-list``. Prints a short table. Bounded: about 30 s on 2 cores.
Not a pytest test.
"""

import argparse
import multiprocessing
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "roslab"))

MENU = "/ip/firewall/address-list"


def rss_kib():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def client_worker(ports, seconds, index, queue):
    """One client process: connect to its share of routers, loop print/add/set until time's up."""
    import librouteros

    apis = [librouteros.connect(host="127.0.0.1", port=port, username="admin", password="",
                                timeout=30) for port in ports]
    commands = replies = errors = 0
    latencies = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        api = apis[n % len(apis)]
        path = api.path(MENU)
        start = time.perf_counter()
        try:
            rows = tuple(path)  # print
            replies += len(rows) + 1
            item = path.add(list="bench%d" % index,
                            address="10.%d.%d.%d" % (index, (n >> 8) & 255, n & 255))
            replies += 1
            path.update(**{".id": item, "comment": "round %d" % n})
            replies += 1
            commands += 3
        except librouteros.exceptions.LibRouterosError:
            errors += 1
        latencies.append(time.perf_counter() - start)
        n += 1
    for api in apis:
        api.close()
    queue.put((commands, replies, errors, latencies))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=500)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--routers-per-client", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    from roslab.control import Lab

    with tempfile.TemporaryDirectory(prefix="roslab-bench-") as state:
        before = rss_kib()
        t0 = time.monotonic()
        lab = Lab.with_routers(args.routers, base_port=0, state_dir=state)
        lab.start(timeout=120)
        startup = time.monotonic() - t0
        after = rss_kib()
        try:
            names = list(lab.ports)
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            procs = []
            for i in range(args.clients):
                share = [lab.ports[names[(i * args.routers_per_client + k) % len(names)]]["api"]
                         for k in range(args.routers_per_client)]
                proc = ctx.Process(target=client_worker, args=(share, args.seconds, i + 1, queue))
                proc.start()
                procs.append(proc)
            results = [queue.get(timeout=args.seconds + 60) for _ in procs]
            for proc in procs:
                proc.join(10)
            busy_rss = rss_kib()
        finally:
            t1 = time.monotonic()
            lab.stop()
            stop_time = time.monotonic() - t1

    commands = sum(r[0] for r in results)
    replies = sum(r[1] for r in results)
    errors = sum(r[2] for r in results)
    latencies = sorted(x for r in results for x in r[3])
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    rows = [
        ("routers", "%d (api + api-ssl listeners)" % args.routers),
        ("startup", "%.2f s" % startup),
        ("RSS delta / router", "%.1f KiB (%.1f MiB total)" % ((after - before) / args.routers,
                                                               (after - before) / 1024)),
        ("RSS after load", "%.1f MiB" % (busy_rss / 1024)),
        ("clients", "%d processes x %d routers (librouteros)" % (args.clients,
                                                                 args.routers_per_client)),
        ("commands/s", "%.0f (print/add/set, %d errors)" % (commands / args.seconds, errors)),
        ("reply sentences/s", "%.0f" % (replies / args.seconds)),
        ("round p50 / p99", "%.2f / %.2f ms (print+add+set)" % (p50, p99)),
        ("stop", "%.2f s" % stop_time),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print("%s  %s" % (key.ljust(width), value))


if __name__ == "__main__":
    main()
