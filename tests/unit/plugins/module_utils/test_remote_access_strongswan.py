"""The generated swanctl.conf loaded by strongSwan's own tooling: a charon started for the test
(its own strongswan.conf: vici socket and IKE ports in a temporary directory, no routes nor virtual
IPs installed) and ``swanctl --load-conns --file``; then ``swanctl --list-conns`` must show the
connection with its remote address, IDs and child traffic selector. What is checked: strongSwan parses
the file and accepts every setting (proposals, auth, ids, remote_ts); nothing is negotiated."""
import os
import shutil
import socket
import subprocess
import time

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import remote_access
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki as pki_mod

CHARON = "/usr/lib/ipsec/charon"
HOSTVARS = {"hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
                    "ipsec_ike_id": "hub.vpn.example", "ipsec_dns_name": "hub.vpn.example",
                    "ipsec_remote_access": {"name": "staff", "pool": "10.99.0.0/24", "dns": ["10.10.0.53"],
                                            "clients": [{"name": "alice", "id": "alice@example.net"}]}}}
PORTS = (29400, 29401)      # h5's lab ports: charon binds its IKE sockets there


def _missing():
    if not (os.path.exists(CHARON) and shutil.which("swanctl")):
        return "strongSwan is not installed (apt-get install strongswan-swanctl strongswan-charon)"
    if os.geteuid() != 0:
        return "charon needs root (netlink kernel interface)"
    return None


@pytest.fixture
def charon(tmp_path):
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    vici = tmp_path / "charon.vici"
    conf = tmp_path / "strongswan.conf"
    conf.write_text("charon {\n  install_routes = no\n  install_virtual_ip = no\n  port = %d\n  port_nat_t = %d\n"
                    "  plugins {\n    include /etc/strongswan.d/charon/*.conf\n    vici { socket = unix://%s }\n  }\n}\n"
                    "swanctl { socket = unix://%s }\n" % (PORTS + (vici, vici)))
    env = dict(os.environ, STRONGSWAN_CONF=str(conf))
    log = open(str(tmp_path / "charon.log"), "w")
    proc = subprocess.Popen([CHARON], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(vici))
            break
        except OSError:
            time.sleep(0.1)     # waiting for a real daemon's socket, not the lab clock
    else:
        proc.kill()
        pytest.fail("charon did not start: %s" % (tmp_path / "charon.log").read_text()[-2000:])
    yield env
    proc.terminate()
    proc.wait(10)
    log.close()


def test_strongswan_loads_the_generated_swanctl_conf(charon, tmp_path):
    ra = remote_access.parse("hub", HOSTVARS)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    ca_cert, ca_key = pki_mod.Pki(str(tmp_path / "pki"), "controller-secret-123", now=lambda: now).ca()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice@example.net")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("alice@example.net")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "x509").mkdir()
    (tmp_path / "x509" / "alice.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path = tmp_path / "swanctl.conf"
    path.write_text(remote_access.swanctl_conf(ra, "alice"))
    load = subprocess.run(["swanctl", "--load-conns", "--file", str(path)], env=charon,
                          capture_output=True, text=True, timeout=30, check=False)
    assert load.returncode == 0, load.stdout + load.stderr
    assert "loaded connection 'ipsecfleet-staff'" in load.stdout
    assert "successfully loaded 1 connections, 0 unloaded" in load.stdout
    listed = subprocess.run(["swanctl", "--list-conns"], env=charon, capture_output=True, text=True, timeout=30, check=False)
    assert listed.returncode == 0, listed.stderr
    text = listed.stdout
    assert "ipsecfleet-staff: IKEv2" in text and "hub.vpn.example" in text
    assert "alice@example.net" in text and "10.10.0.0/24" in text


def test_strongswan_loads_a_written_client_bundle_with_its_encrypted_key(charon, tmp_path):
    """The bundle ipsec_client_profiles writes, as a user installs it: strongSwan reads the CA, the
    client certificate and the key encrypted with the export passphrase (given here in a secrets
    section, as `swanctl --load-creds` would ask for it), and the connection."""
    from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import client_profiles

    ra = remote_access.parse("hub", HOSTVARS)
    authority = pki_mod.Pki(str(tmp_path / "pki"), "controller-secret-123")
    client_profiles.write_bundles(ra, authority, str(tmp_path / "out"), "export-passphrase-42")
    swanctl_dir = tmp_path / "out" / "hub" / "alice" / "swanctl"
    conf = swanctl_dir / "swanctl.conf"
    conf.write_text(conf.read_text() + 'secrets {\n    private-alice {\n        file = alice.key\n'
                    '        secret = "export-passphrase-42"\n    }\n}\n')
    load = subprocess.run(["swanctl", "--load-all", "--noprompt", "--file", str(conf)], env=charon,
                          capture_output=True, text=True, timeout=30, check=False)
    assert load.returncode == 0, load.stdout + load.stderr
    assert "loaded certificate from '%s'" % (swanctl_dir / "x509" / "alice.crt") in load.stdout, load.stdout
    assert "loaded certificate from '%s'" % (swanctl_dir / "x509ca" / "ipsecfleet-ca.crt") in load.stdout
    assert "loaded ECDSA key from '%s'" % (swanctl_dir / "private" / "alice.key") in load.stdout, load.stdout
    assert "successfully loaded 1 connections" in load.stdout
    certs = subprocess.run(["swanctl", "--list-certs"], env=charon, capture_output=True, text=True, timeout=30, check=False)
    assert "alice@example.net" in certs.stdout and "has private key" in certs.stdout, certs.stdout
