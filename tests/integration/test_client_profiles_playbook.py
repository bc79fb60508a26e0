"""playbooks/remote_access_clients.yml on the three-sites inventory with a remote-access hub: the
bundles are written once, a second run changes nothing, --check on a fresh controller writes nothing."""
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(__file__))

from engine_lab_helpers import ROOT, ansible_playbook, recap  # noqa: E402

PLAYBOOK = os.path.join(ROOT, "playbooks", "remote_access_clients.yml")
REMOTE_ACCESS = {"all": {"hosts": {"hq-gw": {
    "ipsec_ike_id": "hq.vpn.example", "ipsec_dns_name": "hq.vpn.example",
    "ipsec_remote_access": {"name": "staff", "pool": "10.99.0.0/24",
                            "clients": [{"name": "alice", "id": "alice@example.net"},
                                        {"name": "bob", "id": "bob@example.net"}]}}}}}


def run(tmp_path, *args):
    (tmp_path / "ra.yml").write_text(yaml.safe_dump(REMOTE_ACCESS))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({
        "ipsec_pki_dir": str(tmp_path / "pki"), "ipsec_pki_passphrase": "controller-secret-123",
        "ipsec_client_profiles_dir": str(tmp_path / "bundles"), "ipsec_client_export_passphrase": "export-pass-4242",
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}))
    return ansible_playbook(tmp_path, [os.path.join(ROOT, "inventories", "three-sites"), tmp_path / "ra.yml"],
                            PLAYBOOK, "-e", "@" + str(tmp_path / "vars.yml"), *args)


def test_bundles_are_written_once_and_check_mode_writes_nothing(tmp_path):
    code, output = run(tmp_path, "--check")
    assert code == 0, output
    assert recap(output)["hq-gw"]["changed"] == 1, output
    assert "alice (alice@example.net): certificate new, 7 file(s) would be written" in output, output
    assert not (tmp_path / "bundles").exists() and not (tmp_path / "pki").exists()

    code, output = run(tmp_path)
    assert code == 0, output
    assert recap(output)["hq-gw"]["changed"] == 1 and recap(output)["branch1-gw"]["changed"] == 0, output
    for client in ("alice", "bob"):
        root = tmp_path / "bundles" / "hq-gw" / client
        assert sorted(p.name for p in root.iterdir()) == sorted(
            ["README.txt", "swanctl", "%s.p12" % client, "%s.mobileconfig" % client])
    assert not (tmp_path / "bundles" / "branch1-gw").exists()
    assert "export-pass-4242" not in output and "controller-secret-123" not in output

    code, output = run(tmp_path)
    assert code == 0 and recap(output)["hq-gw"]["changed"] == 0, output
    assert "bob (bob@example.net): certificate kept, bundle current" in output


def test_bad_settings_fail_before_anything_is_written_and_name_the_fix(tmp_path):
    code, output = run(tmp_path, "-e", "ipsec_client_export_passphrase=tiny-pw7")
    assert code != 0 and "at least 12 characters" in output, output
    assert "tiny-pw7" not in output.replace("ipsec_client_export_passphrase=tiny-pw7", "")
    assert not (tmp_path / "bundles").exists()
    code, output = run(tmp_path, "-e", "ipsec_pki_dir=''")
    assert code != 0 and "ipsec_pki_dir is not set" in output, output
