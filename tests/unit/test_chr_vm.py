"""tools/chr_vm.py: the qemu command lines it builds, the WAN hub, and start/stop with fake qemu binaries."""
import importlib.util
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "chr_vm.py"
_spec = importlib.util.spec_from_file_location("chr_vm", TOOL)
chr_vm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chr_vm)


def _free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _option(argv, flag):
    """Every value given to a repeated qemu flag."""
    return [argv[i + 1] for i, word in enumerate(argv) if word == flag]


def test_overlay_is_qcow2_backed_by_the_absolute_image(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = chr_vm.overlay_command("chr.img", "raw", tmp_path / "hub.qcow2")
    assert argv[:2] == ["qemu-img", "create"]
    assert argv[argv.index("-f") + 1] == "qcow2"
    assert argv[argv.index("-b") + 1] == str(tmp_path / "chr.img")
    assert argv[argv.index("-F") + 1] == "raw"
    assert argv[-1] == str(tmp_path / "hub.qcow2")


def test_qemu_command_forwards_the_api_port_and_joins_the_wan_hub(tmp_path):
    vm = chr_vm.parse_vm("spoke1:28971", 1, 28990)
    argv = chr_vm.qemu_command(vm, tmp_path / "spoke1.qcow2", tmp_path, "tcg", 28990)
    assert argv[0] == "qemu-system-x86_64"
    assert _option(argv, "-accel") == ["tcg"]
    assert "-cpu" not in argv
    assert _option(argv, "-drive") == ["file=%s,format=qcow2,if=virtio" % (tmp_path / "spoke1.qcow2")]
    mgmt, wan = _option(argv, "-netdev")
    assert mgmt == "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:28971-:8728"
    # VM index 1 has WAN port base + 2; frames go to the hub on the base port
    assert wan == "socket,id=wan,udp=127.0.0.1:28990,localaddr=127.0.0.1:28992"
    # ether1 (management) is the first NIC, ether2 (WAN) the second, each with its fixed MAC
    assert _option(argv, "-device") == ["virtio-net-pci,netdev=mgmt,mac=52:54:00:c4:01:01",
                                        "virtio-net-pci,netdev=wan,mac=52:54:00:c4:01:02"]
    assert _option(argv, "-pidfile") == [str(tmp_path / "spoke1.pid")]
    assert "-daemonize" in argv
    # nothing but 127.0.0.1 is ever named as an address
    assert "0.0.0.0" not in " ".join(argv)


def test_kvm_adds_the_host_cpu(tmp_path):
    vm = chr_vm.parse_vm("hub:28970", 0, 28990)
    argv = chr_vm.qemu_command(vm, tmp_path / "hub.qcow2", tmp_path, "kvm", 28990, memory_mb=512, disk_if="ide")
    assert _option(argv, "-accel") == ["kvm"]
    assert _option(argv, "-cpu") == ["host"]
    assert _option(argv, "-m") == ["512"]
    assert _option(argv, "-drive")[0].endswith(",if=ide")


def test_accelerator_choice(tmp_path):
    kvm = tmp_path / "kvm"
    assert chr_vm.choose_accel("auto", str(kvm)) == "tcg"
    assert chr_vm.choose_accel("tcg", str(kvm)) == "tcg"
    with pytest.raises(chr_vm.ChrError, match="KVM was requested"):
        chr_vm.choose_accel("kvm", str(kvm))
    kvm.write_text("")
    os.chmod(kvm, 0o600)
    expected = "kvm" if os.access(kvm, os.R_OK | os.W_OK) else "tcg"
    assert chr_vm.choose_accel("auto", str(kvm)) == expected
    assert chr_vm.choose_accel("tcg", str(kvm)) == "tcg"
    with pytest.raises(chr_vm.ChrError, match="expected auto, kvm or tcg"):
        chr_vm.choose_accel("hvf", str(kvm))


def test_vm_spec_parsing_and_macs():
    assert chr_vm.parse_vm("hub:28970", 0, 28990) == chr_vm.VmSpec("hub", 0, 28970, 28991)
    for bad in ("hub", "hub:", ":28970", "hub:x", "hub:70000"):
        with pytest.raises(chr_vm.ChrError, match="NAME:API_PORT"):
            chr_vm.parse_vm(bad, 0, 28990)
    assert chr_vm.mac_address(2, 2) == "52:54:00:c4:02:02"
    assert len({chr_vm.mac_address(i, n) for i in range(3) for n in (1, 2)}) == 6


def test_missing_qemu_names_the_debian_packages():
    assert chr_vm.missing_tools(lambda tool: None) == ["qemu-system-x86_64", "qemu-img"]
    assert chr_vm.missing_tools(lambda tool: "/usr/bin/" + tool) == []
    message = chr_vm.missing_tools_message(["qemu-system-x86_64", "qemu-img"])
    assert "apt-get install qemu-system-x86 qemu-utils" in message
    assert chr_vm.missing_tools_message(["qemu-img"]).count("qemu-utils") == 2


def test_image_format_from_qemu_img_info():
    assert chr_vm.image_format_from_info('{"format": "raw", "virtual-size": 134217728}') == "raw"
    assert chr_vm.image_format_from_info('{"format": "vmdk"}') == "vmdk"
    with pytest.raises(chr_vm.ChrError, match="unzip"):
        chr_vm.image_format_from_info('{"format": "zip"}')


def test_wan_hub_repeats_a_frame_to_every_other_member(tmp_path):
    hub_port = _free_port(socket.SOCK_DGRAM)
    members = []
    for _member in range(3):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        members.append(sock)
    ports = [s.getsockname()[1] for s in members]
    hub = subprocess.Popen(chr_vm.hub_command(tmp_path, hub_port, ports))
    try:
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind(("127.0.0.1", 0))
        deadline = time.monotonic() + 10
        frame = b"\xff" * 6 + b"\x52\x54\x00\xc4\x00\x02" + b"\x08\x06" + b"arp"
        received = None
        # the hub binds after it starts: send until the first frame comes through
        while received is None and time.monotonic() < deadline:
            stranger.sendto(b"not a member", ("127.0.0.1", hub_port))
            members[0].sendto(frame, ("127.0.0.1", hub_port))
            members[1].settimeout(0.2)
            try:
                received = members[1].recv(65535)
            except socket.timeout:
                pass
        assert received == frame
        members[2].settimeout(5)
        assert members[2].recv(65535) == frame
        # neither the sender nor anything from a non-member comes back
        members[0].settimeout(0.3)
        with pytest.raises(socket.timeout):
            members[0].recv(65535)
        while True:
            try:
                assert members[1].recv(65535) == frame
            except socket.timeout:
                break
        stranger.close()
    finally:
        hub.kill()
        hub.wait()
        for sock in members:
            sock.close()


FAKE_QEMU_IMG = """\
#!{python}
import json, sys
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "info":
    print(json.dumps({{"format": "raw"}}))
elif sys.argv[1] == "create":
    open(sys.argv[-1], "w").write("overlay")
"""

# stands in for a daemonized qemu: a detached child that sleeps, its pid in -pidfile
FAKE_QEMU_SYSTEM = """\
#!{python}
import json, subprocess, sys
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
argv = sys.argv[1:]
pidfile = argv[argv.index("-pidfile") + 1]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", pidfile],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
open(pidfile, "w").write(str(child.pid))
"""


def _install_fakes(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "qemu.log"
    for name, body in (("qemu-img", FAKE_QEMU_IMG), ("qemu-system-x86_64", FAKE_QEMU_SYSTEM)):
        path = bin_dir / name
        path.write_text(textwrap.dedent(body).format(python=sys.executable, log=str(log)))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "%s%s%s" % (bin_dir, os.pathsep, os.environ["PATH"]))
    return log


def test_start_and_stop_with_fake_qemu(tmp_path, monkeypatch, capsys):
    log = _install_fakes(tmp_path, monkeypatch)
    image = tmp_path / "chr-7.22.2.img"
    image.write_bytes(b"CHR" * 1000)
    state_dir = tmp_path / "state"
    api_ports = [_free_port(), _free_port()]
    wan_base = _free_port(socket.SOCK_DGRAM)
    while not all(chr_vm.port_free(wan_base + i, socket.SOCK_DGRAM) for i in range(3)):
        wan_base = _free_port(socket.SOCK_DGRAM)
    rc = chr_vm.main(["start", "--image", str(image), "--state-dir", str(state_dir), "--accel", "tcg",
                      "--wan-base-port", str(wan_base),
                      "--vm", "hub:%d" % api_ports[0], "--vm", "spoke1:%d" % api_ports[1]])
    state = json.loads((state_dir / "state.json").read_text())
    try:
        assert rc == 0, capsys.readouterr().err
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        assert calls[0][:2] == ["info", "--output=json"]
        creates = [c for c in calls if c[0] == "create"]
        assert [c[-1] for c in creates] == [str(state_dir.resolve() / "hub.qcow2"), str(state_dir.resolve() / "spoke1.qcow2")]
        assert all(c[c.index("-b") + 1] == str(image) for c in creates)
        boots = [c for c in calls if "-daemonize" in c]
        assert [b[b.index("-name") + 1] for b in boots] == ["chr-hub", "chr-spoke1"]
        assert [vm["api_port"] for vm in state["vms"]] == api_ports
        assert state["accel"] == "tcg" and state["hub"]["port"] == wan_base
        assert all(chr_vm.process_matches(vm["pid"], str(state_dir.resolve())) for vm in state["vms"])
        assert chr_vm.process_matches(state["hub"]["pid"], str(state_dir.resolve()))
        # a second start while they run is refused
        assert chr_vm.main(["start", "--image", str(image), "--state-dir", str(state_dir),
                            "--vm", "hub:%d" % _free_port()]) == 1
        assert "still running" in capsys.readouterr().err
    finally:
        assert chr_vm.main(["stop", "--state-dir", str(state_dir)]) == 0
    assert not any(chr_vm.process_matches(vm["pid"], str(state_dir.resolve())) for vm in state["vms"])
    assert not chr_vm.process_matches(state["hub"]["pid"], str(state_dir.resolve()))
    assert list(state_dir.glob("*.qcow2")) == [] and not (state_dir / "state.json").exists()
    assert image.read_bytes() == b"CHR" * 1000
    assert chr_vm.main(["stop", "--state-dir", str(state_dir)]) == 0
    assert "nothing to stop" in capsys.readouterr().out


def test_start_without_qemu_fails_naming_the_packages(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    image = tmp_path / "chr.img"
    image.write_bytes(b"x")
    rc = chr_vm.main(["start", "--image", str(image), "--state-dir", str(tmp_path / "s"), "--vm", "hub:28970"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "qemu-system-x86_64, qemu-img not found" in err and "qemu-system-x86 qemu-utils" in err
    assert not (tmp_path / "s").exists()


def test_start_with_a_missing_image_fails(tmp_path, capsys):
    rc = chr_vm.main(["start", "--image", str(tmp_path / "nope.img"), "--state-dir", str(tmp_path), "--vm", "hub:1"])
    assert rc == 1 and "does not exist" in capsys.readouterr().err


def _stand_in_qemu(state_dir):
    """A live process whose command line names the state dir, as a VM's qemu would."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(state_dir)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # /proc shows the new command line a moment after Popen returns
    deadline = time.monotonic() + 10
    while not chr_vm.process_matches(process.pid, str(state_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_wait_logs_in_as_admin_with_an_empty_password(tmp_path, capsys):
    from roslab import control

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    qemu = _stand_in_qemu(state_dir)
    try:
        with control.Lab.with_routers(1, base_port=0, state_dir=str(tmp_path / "lab"), api_ssl=False,
                                      fabric=False) as lab:
            port = next(iter(lab.ports.values()))["api"]
            chr_vm.write_state(state_dir, {"vms": [{"name": "hub", "api_port": port, "pid": qemu.pid}], "hub": {}})
            assert chr_vm.main(["wait", "--state-dir", str(state_dir), "--timeout", "30"]) == 0
    finally:
        qemu.kill()
        qemu.wait()
    assert "hub: API answers on 127.0.0.1:%d, RouterOS 7." % port in capsys.readouterr().out
    assert chr_vm.read_state(state_dir)["versions"]["hub"].startswith("7.")


def test_wait_gives_up_with_the_console_when_no_api_answers(tmp_path, capsys):
    (tmp_path / "hub.console.log").write_text("MikroTik 7.22.2\nLogin: ")
    qemu = _stand_in_qemu(tmp_path)
    try:
        chr_vm.write_state(tmp_path, {"vms": [{"name": "hub", "api_port": _free_port(), "pid": qemu.pid}], "hub": {}})
        assert chr_vm.main(["wait", "--state-dir", str(tmp_path), "--timeout", "1"]) == 1
        err = capsys.readouterr().err
        assert "no API /login as admin with an empty password" in err and "Login: " in err
    finally:
        qemu.kill()
        qemu.wait()
    # a VM whose qemu has exited is reported at once
    assert chr_vm.main(["wait", "--state-dir", str(tmp_path), "--timeout", "60"]) == 1
    assert "qemu for hub is not running" in capsys.readouterr().err


# --- opt-in: the scenario's set path with roslab routers standing in for the CHR VMs ---------------

FAKE_QEMU_ROSLAB = """\
#!{python}
# stand-in for qemu: the last VM starts a roslab lab on the forwarded API ports
import subprocess, sys
argv = sys.argv[1:]
pidfile = argv[argv.index("-pidfile") + 1]
if argv[argv.index("-name") + 1] == "chr-{last}":
    subprocess.run([{roslab!r}, "up", "--topology", {topology!r}, "--base-port", "{base_port}",
                    "--no-api-ssl", "--state-dir", {lab_dir!r}], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)", pidfile],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
open(pidfile, "w").write(str(child.pid))
"""


def _cut(text, start, end=None):
    """text without the part from the line starting `start` up to the one starting `end` (or the end)."""
    begin = text.index(start)
    return text[:begin] + (text[text.index(end, begin):] if end else "")


@pytest.mark.skipif(os.environ.get("CHR_ROSLAB_SMOKE") != "1", reason="opt-in (about a minute): CHR_ROSLAB_SMOKE=1")
def test_chr_scenario_set_path_against_roslab(tmp_path):
    import yaml

    repo = TOOL.parents[1]
    scenario = repo / "extensions" / "molecule" / "chr"
    platforms = yaml.safe_load((scenario / "molecule.yml").read_text())["platforms"]
    host_vars = yaml.safe_load((scenario / "molecule.yml").read_text())["provisioner"]["inventory"]["host_vars"]
    names = [p["name"] for p in platforms]
    ports = [host_vars[name]["routeros_api_port"] for name in names]
    assert ports == list(range(ports[0], ports[0] + len(ports))), "roslab gives consecutive ports"

    # a project beside the real one: the scenario copied, everything else linked
    project = tmp_path / "project"
    (project / "extensions" / "molecule").mkdir(parents=True)
    (project / "tools").mkdir()
    (project / ".collections").symlink_to(repo / ".collections")
    (project / "tools" / "chr_vm.py").symlink_to(TOOL)
    (project / "extensions" / "molecule" / "phase_roles").symlink_to(scenario.parent / "phase_roles")
    copy = project / "extensions" / "molecule" / "chr"
    shutil.copytree(scenario, copy)
    # roslab emulates neither /interface/bridge nor /ping: the copy puts the LAN address on ether1
    # and leaves the ping checks to real images
    prepare = (copy / "prepare.yml").read_text()
    prepare = _cut(prepare, "    - name: Add a bridge standing for the LAN", "    - name: Put the WAN and LAN")
    prepare = _cut(prepare, "    - name: Ping every other router's WAN")
    prepare = prepare.replace("            interface: lan\n", "            interface: ether1\n")
    (copy / "prepare.yml").write_text(prepare)
    verify = (copy / "verify.yml").read_text()
    (copy / "verify.yml").write_text(_cut(verify, "    - name: Ping the hub's LAN"))

    topology = {"routers": {name: {"interfaces": [{"name": "ether1", "mac-address": chr_vm.mac_address(i, 1)},
                                                  {"name": "ether2", "mac-address": chr_vm.mac_address(i, 2)}]}
                            for i, name in enumerate(names)},
                "links": [["%s:ether2" % names[0], "%s:ether2" % other] for other in names[1:]]}
    (tmp_path / "topology.yml").write_text(yaml.safe_dump(topology))
    lab_dir = tmp_path / "lab"
    roslab = str(Path(sys.executable).parent / "roslab")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qemu-img").write_text(textwrap.dedent(FAKE_QEMU_IMG).format(
        python=sys.executable, log=str(tmp_path / "qemu.log")))
    (bin_dir / "qemu-system-x86_64").write_text(FAKE_QEMU_ROSLAB.format(
        python=sys.executable, last=names[-1], roslab=roslab, topology=str(tmp_path / "topology.yml"),
        base_port=ports[0], lab_dir=str(lab_dir)))
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    image = tmp_path / "chr-test.img"
    image.write_bytes(b"not a real image")

    env = dict(os.environ, CHR_IMAGE=str(image),
               PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    try:
        run = subprocess.run([str(Path(sys.executable).parent / "molecule"), "test", "-s", "chr"],
                             cwd=project / "extensions", env=env, capture_output=True, text=True, timeout=900,
                             check=False)
    finally:
        subprocess.run([roslab, "down", "--state-dir", str(lab_dir)], capture_output=True, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "SKIPPED" not in output
    # live_state.yml's success message, once per router: its tunnels' remote addresses established
    assert len(re.findall(r'"msg": "[0-9., ]+ established"', re.sub(r"\x1b\[[0-9;]*m", "", output))) == len(names)
    assert image.read_bytes() == b"not a real image"
