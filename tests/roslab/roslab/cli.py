"""``roslab``: start a lab daemon, look at it, inject faults.

    roslab up [--topology FILE | --routers N] [--base-port P] [--state-dir DIR] [--speed S | --no-fabric]
    roslab down | status
    roslab fault drop ROUTER --after N [--before] | fault delay|latency ROUTER SECONDS | fault clear ROUTER
    roslab router down|up|reboot|reset ROUTER
    roslab clock show | clock advance DURATION        (90s, 2m, 1h30m, 00:05:00)
    roslab link down|up ROUTER:IF [ROUTER:IF]
    roslab trace ROUTER SRC DST [--protocol tcp --port 443 --state established] [--json]

The daemon is this same program (``roslab daemon ...``) started detached; every other command talks
to it through the control socket in the state dir (default ``.lab/`` in the current directory).
"""

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time

from roslab import control, protocol
from roslab.clock import parse_duration

DEFAULT_STATE_DIR = ".lab"
DEFAULT_BASE_PORT = 18728
LOG_FILE = "lab.log"


def _add_state_dir(parser):
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help="lab state: snapshots, certificate, inventory, control socket")


def build_parser():
    parser = argparse.ArgumentParser(prog="roslab", description="RouterOS 7 API emulator lab")
    sub = parser.add_subparsers(dest="command", required=True)

    def lab_args(p):
        source = p.add_mutually_exclusive_group()
        source.add_argument("--topology", help="topology YAML file")
        source.add_argument("--routers", type=int, help="N routers r1..rN (default 1)")
        p.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT,
                       help="api port of the first router (0: any free port); "
                            "api-ssl is api + %d" % control.TLS_PORT_OFFSET)
        p.add_argument("--version", default=control.DEFAULT_VERSION,
                       help="RouterOS version for --routers")
        p.add_argument("--no-api-ssl", action="store_true", help="do not listen on api-ssl")
        fabric = p.add_mutually_exclusive_group()
        fabric.add_argument("--speed", type=float, default=1.0,
                            help="lab seconds per real second (default 1; 0: the clock moves only "
                                 "with 'roslab clock advance')")
        fabric.add_argument("--no-fabric", action="store_true",
                            help="no network, IKE, scripts or API firewall: API endpoints only")
        # tests of the lab machinery swap in a router double ("module:callable")
        p.add_argument("--router-factory", help=argparse.SUPPRESS)
        _add_state_dir(p)

    up = sub.add_parser("up", help="start a lab daemon; returns when every router answers")
    lab_args(up)
    up.add_argument("--timeout", type=float, default=180, help="seconds to wait for the lab")
    daemon = sub.add_parser("daemon", help=argparse.SUPPRESS)
    lab_args(daemon)

    for name, text in (("down", "stop the lab"), ("status", "show the routers")):
        _add_state_dir(sub.add_parser(name, help=text))

    fault = sub.add_parser("fault", help="inject transport faults")
    fault_sub = fault.add_subparsers(dest="fault", required=True)
    drop = fault_sub.add_parser("drop", help="close the connection at the N-th command sentence")
    drop.add_argument("router")
    drop.add_argument("--after", type=int, required=True, metavar="N",
                      help="the N-th command sentence from now (/login counts)")
    drop.add_argument("--before", action="store_true",
                      help="drop before executing it (default: execute, then drop)")
    delay = fault_sub.add_parser("delay", help="delay every command")
    delay.add_argument("router")
    delay.add_argument("seconds", type=float)
    latency = fault_sub.add_parser("latency", help="every sentence arrives SECONDS late (a WAN round trip)")
    latency.add_argument("router")
    latency.add_argument("seconds", type=float)
    clear = fault_sub.add_parser("clear", help="remove the router's faults")
    clear.add_argument("router")
    for p in (drop, delay, latency, clear):
        _add_state_dir(p)

    router = sub.add_parser("router", help="router power and configuration")
    router.add_argument("action", choices=("down", "up", "reboot", "reset"))
    router.add_argument("router")
    router.add_argument("--down-for", type=float, default=0.0,
                        help="reboot: seconds the ports refuse connections")
    _add_state_dir(router)

    clock = sub.add_parser("clock", help="the lab clock")
    clock_sub = clock.add_subparsers(dest="clock", required=True)
    _add_state_dir(clock_sub.add_parser("show", help="lab time and date"))
    advance = clock_sub.add_parser("advance", help="advance the lab clock now, running what is due")
    advance.add_argument("duration", type=_duration, help="90s, 2m, 1h30m, 1d, 00:05:00 or seconds")
    _add_state_dir(advance)

    link = sub.add_parser("link", help="take a link between router interfaces down or up")
    link.add_argument("action", choices=("down", "up"))
    link.add_argument("ends", nargs="+", metavar="ROUTER:IF",
                      help="one end (every link of that interface) or both ends of a link")
    _add_state_dir(link)

    nat = sub.add_parser("nat", help="put a router behind a NAT device (its IKE moves to UDP 4500) or take it out")
    nat.add_argument("action", choices=("on", "off"))
    nat.add_argument("router")
    _add_state_dir(nat)

    trace = sub.add_parser("trace", help="how a router's firewall, srcnat and IPsec policies treat a packet")
    trace.add_argument("router", help="the router the packet enters (or sends it, from its own address)")
    trace.add_argument("src")
    trace.add_argument("dst")
    trace.add_argument("--protocol", default="tcp", help="name or number (default tcp)")
    trace.add_argument("--port", type=int, help="destination port (tcp/udp)")
    trace.add_argument("--state", default="new", choices=("new", "established", "related", "invalid"),
                       help="connection state of the packet (default new)")
    trace.add_argument("--json", action="store_true", help="print the trace as JSON")
    _add_state_dir(trace)
    return parser


def _duration(text):
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load_factory(spec):
    if not spec:
        return None
    import importlib
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_lab(args):
    options = {"state_dir": args.state_dir, "api_ssl": not args.no_api_ssl,
               "router_factory": _load_factory(args.router_factory),
               "fabric": not args.no_fabric, "speed": args.speed}
    if args.topology:
        return control.Lab.from_topology(args.topology, base_port=args.base_port, **options)
    return control.Lab.with_routers(args.routers or 1, base_port=args.base_port,
                                    version=args.version, **options)


def print_table(rows, out=None):
    """One line per router; the ``peers`` column (established active peers) only when the lab
    runs a fabric."""
    out = out or sys.stdout
    with_peers = any(row.get("peers") is not None for row in rows)
    header = ("router", "version", "api", "api-ssl", "state") + (("peers",) if with_peers else ()) \
        + ("faults",)
    lines = [header]
    for row in rows:
        faults = row.get("faults") or {}
        notes = []
        if faults.get("drop_at"):
            notes.append("drop %s #%s" % (faults.get("drop_when"), faults["drop_at"]))
        if faults.get("delay"):
            notes.append("delay %ss" % faults["delay"])
        peers = (str(row["peers"]) if row.get("peers") is not None else "-",) if with_peers else ()
        lines.append((row["router"], row["version"], str(row["api_port"]),
                      str(row["api_ssl_port"] or "-"), "up" if row["up"] else "down")
                     + peers + (", ".join(notes) or "-",))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() + "\n")


def cmd_daemon(args):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    lab = make_lab(args)

    def request_stop(signum, frame):
        lab.stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    lab.start(control=True)
    logging.getLogger("roslab").info("lab up: %d routers, state %s", len(lab.services),
                                     lab.state_dir)
    while not lab.wait(1.0):
        pass
    lab.stop()
    return 0


def cmd_up(args):
    state_dir = os.path.abspath(args.state_dir)
    client = control.ControlClient(state_dir)
    if client.alive():
        sys.stderr.write("a lab is already running in %s (roslab down first)\n" % state_dir)
        return 1
    os.makedirs(state_dir, exist_ok=True)
    argv = [sys.executable, "-m", "roslab.cli", "daemon", "--state-dir", state_dir,
            "--base-port", str(args.base_port), "--version", args.version]
    if args.topology:
        argv += ["--topology", os.path.abspath(args.topology)]
    elif args.routers:
        argv += ["--routers", str(args.routers)]
    if args.no_api_ssl:
        argv.append("--no-api-ssl")
    if args.no_fabric:
        argv.append("--no-fabric")
    else:
        argv += ["--speed", repr(args.speed)]
    if args.router_factory:
        argv += ["--router-factory", args.router_factory]
    log_path = os.path.join(state_dir, LOG_FILE)
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True, cwd=state_dir)
    deadline = time.monotonic() + args.timeout
    while not client.alive():
        if proc.poll() is not None:
            sys.stderr.write("the lab daemon exited (%s); see %s\n" % (proc.returncode, log_path))
            sys.stderr.write(_tail(log_path))
            return 1
        if time.monotonic() > deadline:
            sys.stderr.write("the lab did not come up in %ss; see %s\n" % (args.timeout, log_path))
            return 1
        time.sleep(0.1)
    rows = client.call("status")
    for row in rows:
        if not _answers(client, row, deadline):
            sys.stderr.write("router %s does not answer on %s\n" % (row["router"], row["api_port"]))
            return 1
    rows = client.call("status")
    print_table(rows)
    print("inventory: %s" % os.path.join(state_dir, control.INVENTORY_FILE))
    return 0


def _answers(client, row, deadline):
    """A reply to /login on the api port; a connection the router's own firewall refuses (a
    restored state dir may hold such rules) also shows the lab is up."""
    while True:
        remaining = deadline - time.monotonic()
        if protocol.wait_for_api("127.0.0.1", row["api_port"], timeout=min(2.0, max(0.1, remaining))):
            return True
        now = next((r for r in client.call("status") if r["router"] == row["router"]), {})
        if now.get("refused"):
            sys.stderr.write("router %s: its firewall refuses API connections from the lab's "
                             "management address\n" % row["router"])
            return True
        if time.monotonic() >= deadline:
            return False


def _tail(path, size=2000):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def cmd_down(args):
    client = control.ControlClient(args.state_dir)
    info = client.lab_info()
    if not client.alive():
        print("no lab running in %s" % client.state_dir)
        return 0
    client.call("stop")
    pid = info.get("pid") if info else None
    deadline = time.monotonic() + 60
    while pid and _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid and _pid_alive(pid):
        sys.stderr.write("lab process %s did not stop\n" % pid)
        return 1
    print("lab stopped")
    return 0


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours would still "exist"; reap it when possible
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def cmd_status(args):
    client = control.ControlClient(args.state_dir)
    if not client.alive():
        print("no lab running in %s" % client.state_dir)
        return 3
    print_table(client.call("status"))
    info = client.lab_info() or {}
    if (info.get("fabric") or {}).get("running"):
        print_clock(client.call("clock"))
    return 0


def print_clock(clock, out=None):
    out = out or sys.stdout
    speed = clock.get("speed") or 0
    pace = "x%g real time" % speed if speed else "moves only with 'roslab clock advance'"
    out.write("lab clock: %s (%s), %s\n" % (clock["uptime"], clock["datetime"], pace))


def cmd_clock(args):
    client = control.ControlClient(args.state_dir)
    if args.clock == "advance":
        print_clock(client.call("advance", seconds=args.duration))
    else:
        print_clock(client.call("clock"))
    return 0


def cmd_link(args):
    if len(args.ends) > 2:
        sys.stderr.write("roslab: a link has two ends\n")
        return 2
    client = control.ControlClient(args.state_dir)
    ends = args.ends + [None]
    result = client.call("link_" + args.action, a=ends[0], b=ends[1])
    print("links down: %s" % (", ".join(result["down_links"]) or "none"))
    return 0


def cmd_nat(args):
    client = control.ControlClient(args.state_dir)
    result = client.call("nat", router=args.router, on=args.action == "on")
    print("behind NAT: %s" % (", ".join(result["behind_nat"]) or "none"))
    return 0


def cmd_fault(args):
    client = control.ControlClient(args.state_dir)
    if args.fault == "drop":
        rows = client.call("fault_drop", router=args.router, n=args.after, before=args.before)
    elif args.fault == "delay":
        rows = client.call("fault_delay", router=args.router, seconds=args.seconds)
    elif args.fault == "latency":
        rows = client.call("fault_latency", router=args.router, seconds=args.seconds)
    else:
        rows = client.call("fault_clear", router=args.router)
    print_table(rows)
    return 0


def cmd_router(args):
    client = control.ControlClient(args.state_dir)
    op = {"down": "router_down", "up": "router_up", "reboot": "reboot", "reset": "reset"}
    extra = {"down_for": args.down_for} if args.action == "reboot" else {}
    print_table(client.call(op[args.action], router=args.router, **extra))
    return 0


def cmd_trace(args):
    client = control.ControlClient(args.state_dir)
    result = client.call("trace", router=args.router, src=args.src, dst=args.dst, protocol=args.protocol,
                         port=args.port, state=args.state)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        from roslab.trace import format_trace
        print(format_trace(result))
    return 0


COMMANDS = {"up": cmd_up, "daemon": cmd_daemon, "down": cmd_down, "status": cmd_status,
            "fault": cmd_fault, "router": cmd_router, "clock": cmd_clock, "link": cmd_link, "nat": cmd_nat,
            "trace": cmd_trace}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except control.LabError as exc:
        sys.stderr.write("roslab: %s\n" % exc)
        return 2
    except (ConnectionError, FileNotFoundError, OSError) as exc:
        if args.command in ("up", "daemon"):
            raise
        sys.stderr.write("roslab: no lab answers in %s (%s)\n" % (args.state_dir, exc))
        return 3


if __name__ == "__main__":
    sys.exit(main())
