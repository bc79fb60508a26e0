#!/usr/bin/env python3
"""Boot, wait for and stop MikroTik CHR VMs under qemu for the `chr` Molecule scenario.

    chr_vm.py start --image chr-7.22.2.img --state-dir DIR --vm hub:28970 --vm spoke1:28971 ...
    chr_vm.py wait --state-dir DIR [--timeout 300]
    chr_vm.py status --state-dir DIR
    chr_vm.py stop --state-dir DIR

Each VM gets:
  * a qcow2 overlay in DIR backed by the image (the image is only ever read; its SHA-256 is
    recorded at start and checked again at stop);
  * ether1: qemu user-mode networking, `restrict=on` (the guest reaches nothing outside), with the
    API port 8728 forwarded to 127.0.0.1:<api port>; CHR's DHCP client on ether1 takes 10.0.2.15;
  * ether2: the WAN segment shared by all VMs. qemu's UDP socket netdev sends each Ethernet frame
    as one datagram to a small hub process (this file, `wan-hub`) on 127.0.0.1 that repeats it to
    every other VM. A multicast socket netdev would need a 224.0.0.0/4 group address; the hub keeps
    every packet on 127.0.0.1.
MAC addresses are fixed per VM index so a playbook can find ether2 by its MAC.
KVM is used when /dev/kvm is usable, else TCG (override with --accel or CHR_ACCEL).
"""
import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

QEMU_SYSTEM = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
# Debian/Ubuntu packages that provide each binary
DEBIAN_PACKAGES = {QEMU_SYSTEM: "qemu-system-x86", QEMU_IMG: "qemu-utils"}
ROUTEROS_API_PORT = 8728
STATE_FILE = "state.json"
DEFAULT_MEMORY_MB = 256
DEFAULT_WAN_BASE_PORT = 28990
IMAGE_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc")


class ChrError(Exception):
    """A failure with a message meant for the person running the scenario."""


@dataclasses.dataclass
class VmSpec:
    name: str
    index: int
    api_port: int
    wan_port: int  # this VM's end of the UDP WAN segment

    @property
    def mgmt_mac(self):
        return mac_address(self.index, 1)

    @property
    def wan_mac(self):
        return mac_address(self.index, 2)


def mac_address(index, nic):
    """A locally administered MAC, fixed per VM index and NIC (52:54:00 is qemu's prefix)."""
    if not 0 <= index <= 255 or not 0 <= nic <= 255:
        raise ValueError("index and nic must be 0..255")
    return "52:54:00:c4:%02x:%02x" % (index, nic)


def parse_vm(text, index, wan_base_port):
    """`name:api_port` from the command line -> VmSpec."""
    name, sep, port = text.partition(":")
    if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ChrError("--vm %r: expected NAME:API_PORT, e.g. hub:28970" % text)
    return VmSpec(name=name, index=index, api_port=int(port), wan_port=wan_base_port + 1 + index)


def missing_tools(which=shutil.which):
    """The qemu binaries that are not on PATH."""
    return [tool for tool in (QEMU_SYSTEM, QEMU_IMG) if which(tool) is None]


def missing_tools_message(missing):
    packages = sorted({DEBIAN_PACKAGES[tool] for tool in missing})
    return ("%s not found on PATH. The chr scenario boots CHR images with qemu: install it, e.g. "
            "`sudo apt-get install %s` (Debian/Ubuntu packages %s)."
            % (", ".join(missing), " ".join(packages), ", ".join(packages)))


def kvm_usable(kvm_path="/dev/kvm"):
    return os.path.exists(kvm_path) and os.access(kvm_path, os.R_OK | os.W_OK)


def choose_accel(requested="auto", kvm_path="/dev/kvm"):
    """kvm when asked or when /dev/kvm is usable, else tcg; asking for kvm without it fails."""
    requested = (requested or "auto").lower()
    if requested not in ("auto", "kvm", "tcg"):
        raise ChrError("accelerator %r: expected auto, kvm or tcg" % requested)
    if requested == "tcg":
        return "tcg"
    if kvm_usable(kvm_path):
        return "kvm"
    if requested == "kvm":
        raise ChrError("KVM was requested but %s is missing or not readable and writable" % kvm_path)
    return "tcg"


def image_format_from_info(info_json):
    """The format `qemu-img info --output=json` reports, checked against what qemu can back."""
    fmt = json.loads(info_json).get("format")
    if fmt not in IMAGE_FORMATS:
        raise ChrError("CHR_IMAGE has format %r; expected one of %s (unzip a .img.zip first)"
                       % (fmt, ", ".join(IMAGE_FORMATS)))
    return fmt


def overlay_command(image, image_format, overlay):
    """qemu-img argv creating a qcow2 overlay whose backing file is the (absolute) image."""
    return [QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", str(Path(image).resolve()),
            "-F", image_format, str(overlay)]


def qemu_command(vm, overlay, state_dir, accel, hub_port, memory_mb=DEFAULT_MEMORY_MB, disk_if="virtio"):
    """qemu-system-x86_64 argv for one CHR VM, daemonized, with its pid file in state_dir."""
    state_dir = Path(state_dir)
    argv = [
        QEMU_SYSTEM,
        "-name", "chr-%s" % vm.name,
        "-machine", "pc",
        "-accel", accel,
        "-m", str(memory_mb),
        "-smp", "1",
        "-drive", "file=%s,format=qcow2,if=%s" % (overlay, disk_if),
        # ether1: management; only the API port is forwarded, and only from 127.0.0.1
        "-netdev", "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d" % (vm.api_port, ROUTEROS_API_PORT),
        "-device", "virtio-net-pci,netdev=mgmt,mac=%s" % vm.mgmt_mac,
        # ether2: the shared WAN segment through the UDP hub on 127.0.0.1
        "-netdev", "socket,id=wan,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d" % (hub_port, vm.wan_port),
        "-device", "virtio-net-pci,netdev=wan,mac=%s" % vm.wan_mac,
        "-display", "none",
        "-monitor", "none",
        "-serial", "file:%s" % (state_dir / ("%s.console.log" % vm.name)),
        "-pidfile", str(state_dir / ("%s.pid" % vm.name)),
        "-daemonize",
    ]
    if accel == "kvm":
        argv[argv.index("-m"):argv.index("-m")] = ["-cpu", "host"]
    return argv


def hub_command(state_dir, hub_port, member_ports):
    return [sys.executable, str(Path(__file__).resolve()), "wan-hub", "--state-dir", str(state_dir),
            "--port", str(hub_port), "--members", ",".join(str(p) for p in member_ports)]


def run_wan_hub(hub_port, member_ports):
    """Repeat every datagram (one Ethernet frame) from one member to all other members."""
    members = [("127.0.0.1", port) for port in member_ports]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", hub_port))
        while True:
            frame, sender = sock.recvfrom(65535)
            if sender not in members:
                continue
            for member in members:
                if member != sender:
                    sock.sendto(frame, member)


def port_free(port, kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state(state_dir):
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_state(state_dir, state):
    path = Path(state_dir) / STATE_FILE
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def process_matches(pid, marker):
    """True if pid is alive and its command line mentions marker (never signal a stranger)."""
    try:
        cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def read_pid(pidfile):
    try:
        return int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return None


def terminate(pid, marker, timeout=15.0):
    """SIGTERM, then SIGKILL after timeout, a process whose command line mentions marker."""
    if pid is None or not process_matches(pid, marker):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_matches(pid, marker):
        time.sleep(0.2)
    if process_matches(pid, marker):
        os.kill(pid, signal.SIGKILL)
    return True


def console_tail(state_dir, name, lines=15):
    path = Path(state_dir) / ("%s.console.log" % name)
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no console log)"
    return "\n".join(text.splitlines()[-lines:]) or "(console log empty)"


def start(args):
    state_dir = Path(args.state_dir).resolve()
    image = Path(args.image)
    if not image.is_file():
        raise ChrError("CHR image %s does not exist or is not a file" % image)
    missing = missing_tools()
    if missing:
        raise ChrError(missing_tools_message(missing))
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = read_state(state_dir)
    if existing and any(process_matches(vm.get("pid") or -1, str(state_dir)) for vm in existing["vms"]):
        raise ChrError("VMs from %s are still running: run `chr_vm.py stop --state-dir %s` first"
                       % (state_dir, state_dir))
    vms = [parse_vm(text, index, args.wan_base_port) for index, text in enumerate(args.vm)]
    if len({vm.name for vm in vms}) != len(vms) or not vms:
        raise ChrError("--vm names must be given and unique")
    busy = [str(vm.api_port) for vm in vms if not port_free(vm.api_port)]
    busy += ["udp/%d" % p for p in [args.wan_base_port] + [vm.wan_port for vm in vms]
             if not port_free(p, socket.SOCK_DGRAM)]
    if busy:
        raise ChrError("ports already in use on 127.0.0.1: %s" % ", ".join(busy))
    accel = choose_accel(args.accel)
    info = subprocess.run([QEMU_IMG, "info", "--output=json", str(image.resolve())],
                          capture_output=True, text=True, check=False)
    if info.returncode != 0:
        raise ChrError("qemu-img info %s failed: %s" % (image, info.stderr.strip()))
    image_format = image_format_from_info(info.stdout)
    state = {"image": str(image.resolve()), "image_sha256": sha256_of(image), "accel": accel,
             "hub": {"port": args.wan_base_port, "pid": None}, "vms": []}
    write_state(state_dir, state)

    with open(state_dir / "wan-hub.log", "ab") as hub_log:
        hub = subprocess.Popen(hub_command(state_dir, args.wan_base_port, [vm.wan_port for vm in vms]),
                               stdin=subprocess.DEVNULL, stdout=hub_log, stderr=hub_log, start_new_session=True)
    state["hub"]["pid"] = hub.pid
    write_state(state_dir, state)
    for vm in vms:
        overlay = state_dir / ("%s.qcow2" % vm.name)
        if overlay.exists():
            overlay.unlink()
        created = subprocess.run(overlay_command(image, image_format, overlay),
                                 capture_output=True, text=True, check=False)
        if created.returncode != 0:
            raise ChrError("creating overlay %s failed: %s" % (overlay, created.stderr.strip()))
        argv = qemu_command(vm, overlay, state_dir, accel, args.wan_base_port, args.memory, args.disk_if)
        # qemu's own messages go to a file, not a pipe: the daemonized child must not hold our pipe open
        qemu_log = state_dir / ("%s.qemu.log" % vm.name)
        with open(qemu_log, "wb") as log:
            booted = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=False)
        if booted.returncode != 0:
            raise ChrError("qemu for %s failed (%s): %s"
                           % (vm.name, " ".join(argv), qemu_log.read_text(errors="replace").strip()))
        state["vms"].append(dict(dataclasses.asdict(vm), mgmt_mac=vm.mgmt_mac, wan_mac=vm.wan_mac,
                                 overlay=str(overlay), pid=read_pid(state_dir / ("%s.pid" % vm.name))))
        write_state(state_dir, state)
        print("started %s: accel %s, API 127.0.0.1:%d, WAN MAC %s" % (vm.name, accel, vm.api_port, vm.wan_mac))


def api_login(port, timeout):
    """Log in as admin with an empty password (a fresh CHR) and return the RouterOS version."""
    import librouteros  # the venv's client; imported here so the rest works without it

    api = librouteros.connect(host="127.0.0.1", port=port, username="admin", password="", timeout=timeout)
    try:
        return next(iter(api.path("system", "resource")))["version"]
    finally:
        api.close()


def wait(args):
    state_dir = Path(args.state_dir).resolve()
    state = read_state(state_dir)
    if not state or not state["vms"]:
        raise ChrError("no VMs recorded in %s: run `chr_vm.py start` first" % state_dir)
    deadline = time.monotonic() + args.timeout
    versions = {}
    for vm in state["vms"]:
        last_error = None
        while True:
            if not process_matches(vm["pid"] or -1, str(state_dir)):
                raise ChrError("qemu for %s is not running; console:\n%s" % (vm["name"], console_tail(state_dir, vm["name"])))
            try:
                versions[vm["name"]] = api_login(vm["api_port"], timeout=5)
                break
            except Exception as exc:  # refused, reset, timeout or trap while RouterOS boots
                last_error = exc
            if time.monotonic() > deadline:
                raise ChrError("%s: no API /login as admin with an empty password on 127.0.0.1:%d after %ds "
                               "(last error: %s). A fresh CHR runs a DHCP client on ether1 and the api "
                               "service on 8728; console:\n%s"
                               % (vm["name"], vm["api_port"], args.timeout, last_error,
                                  console_tail(state_dir, vm["name"])))
            time.sleep(2)
        print("%s: API answers on 127.0.0.1:%d, RouterOS %s" % (vm["name"], vm["api_port"], versions[vm["name"]]))
    state["versions"] = versions
    write_state(state_dir, state)


def stop(args):
    state_dir = Path(args.state_dir).resolve()
    state = read_state(state_dir)
    if state is None:
        print("nothing to stop in %s" % state_dir)
        return
    for vm in state.get("vms", []):
        pid = vm.get("pid") or read_pid(state_dir / ("%s.pid" % vm["name"]))
        stopped = terminate(pid, str(state_dir))
        print("%s: %s" % (vm["name"], "stopped" if stopped else "not running"))
        for leftover in (vm.get("overlay"), state_dir / ("%s.pid" % vm["name"]),
                         state_dir / ("%s.qemu.log" % vm["name"])):
            if leftover and Path(leftover).exists():
                Path(leftover).unlink()
    terminate(state.get("hub", {}).get("pid"), str(state_dir))
    # overlays made before a failed start are not in the state's VM list
    for overlay in state_dir.glob("*.qcow2"):
        overlay.unlink()
    image = state.get("image")
    if image and Path(image).is_file() and sha256_of(image) != state.get("image_sha256"):
        raise ChrError("the CHR image %s changed while the VMs ran (it must only back overlays)" % image)
    (state_dir / STATE_FILE).unlink()
    print("overlays deleted; image unchanged")


def status(args):
    state_dir = Path(args.state_dir).resolve()
    state = read_state(state_dir)
    if state is None:
        print("no CHR VMs in %s" % state_dir)
        return
    for vm in state["vms"]:
        alive = process_matches(vm.get("pid") or -1, str(state_dir))
        print("%-10s %-8s api 127.0.0.1:%-5d wan-mac %s" % (vm["name"], "running" if alive else "stopped",
                                                           vm["api_port"], vm["wan_mac"]))


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="create overlays and boot the VMs")
    p.add_argument("--image", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--vm", action="append", default=[], metavar="NAME:API_PORT")
    p.add_argument("--wan-base-port", type=int, default=DEFAULT_WAN_BASE_PORT,
                   help="UDP port of the WAN hub; VM i uses this + 1 + i")
    p.add_argument("--accel", default=os.environ.get("CHR_ACCEL", "auto"), choices=["auto", "kvm", "tcg"])
    p.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, help="MiB per VM")
    p.add_argument("--disk-if", default=os.environ.get("CHR_DISK_IF", "virtio"), choices=["virtio", "ide"])
    p = sub.add_parser("wait", help="wait until every VM's API accepts admin with an empty password")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--timeout", type=int, default=300)
    for name, text in (("stop", "stop the VMs and the WAN hub, delete the overlays"), ("status", "list the VMs")):
        sub.add_parser(name, help=text).add_argument("--state-dir", required=True)
    p = sub.add_parser("wan-hub", help=argparse.SUPPRESS)
    p.add_argument("--state-dir", required=True)  # marks the process as this state dir's hub
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--members", required=True)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "wan-hub":
            run_wan_hub(args.port, [int(p) for p in args.members.split(",")])
        else:
            {"start": start, "wait": wait, "stop": stop, "status": status}[args.command](args)
    except ChrError as exc:
        print("chr_vm: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
