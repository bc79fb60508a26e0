"""The roles through ansible-playbook against the lab: converge, idempotence, check mode, and no
pre-shared key anywhere in -vvv output. (spoke2 runs RouterOS 7.18, which has no ppk-secret: it
sits this play out.)"""

import yaml

from engine_lab_helpers import ansible_playbook, recap

PSK = "Playbook-Psk-7f3c-must-not-leak"
PPK = "Playbook-Ppk-1a2b-must-not-leak"


def playbook(psk):
    phase1 = {
        "profiles": [{"name": "ipsecfleet-aes256", "enc_algorithm": "aes-256", "hash_algorithm": "sha256",
                      "dh_group": "ecp256", "lifetime": "8h"}],
        "peers": [{"name": "ipsecfleet-remote", "address": "198.51.100.200", "profile": "ipsecfleet-aes256",
                   "exchange_mode": "ike2", "ppk_secret": PPK, "comment": "ipsecfleet:peer/remote"}],
        "identities": [{"peer": "ipsecfleet-remote", "secret": psk, "comment": "ipsecfleet:identity/remote"}],
    }
    phase2 = {
        "proposals": [{"name": "ipsecfleet-gcm", "enc_algorithms": "aes-256-gcm", "auth_algorithms": "",
                       "pfs_group": "ecp256", "comment": "ipsecfleet:proposal/gcm"}],
        "policies": [{"peer": "ipsecfleet-remote", "tunnel": True, "src_address": "10.10.0.0/24",
                      "dst_address": "10.77.0.0/24", "proposal": "ipsecfleet-gcm",
                      "comment": "ipsecfleet:policy/remote"}],
    }
    return [{"name": "Converge IPsec", "hosts": "hub:spoke1", "gather_facts": False, "connection": "local",
             "vars": {"ipsec_phase1_config": phase1, "ipsec_phase2_config": phase2},
             "roles": ["ipsecfleet.routeros.ipsec_phase1", "ipsecfleet.routeros.ipsec_phase2"]}]


def run(tmp_path, lab, psk, *args):
    (tmp_path / "inventory.yml").write_text(lab.inventory_yaml())
    (tmp_path / "site.yml").write_text(yaml.safe_dump(playbook(psk)))
    return ansible_playbook(tmp_path, [tmp_path / "inventory.yml"], tmp_path / "site.yml", *args, timeout=240)


def test_roles_converge_idempotent_and_never_print_the_psk(lab, tmp_path):
    code, output = run(tmp_path, lab, PSK, "--check", "-vvv", "--diff")
    assert code == 0, output
    assert sorted(recap(output)) == ["hub", "spoke1"], output
    assert all(s["changed"] == 2 for s in recap(output).values()), output
    assert not [r for r in lab.router("hub").items("/ip/ipsec/peer") if r.get("comment", "").startswith("ipsecfleet:")]

    code, output = run(tmp_path, lab, PSK, "-vvv", "--diff")
    assert code == 0, output
    assert PSK not in output and PPK not in output
    assert "********" in output
    assert sorted(recap(output)) == ["hub", "spoke1"], output
    assert all(s["changed"] == 2 and s["failed"] == 0 for s in recap(output).values()), output
    assert [r["secret"] for r in lab.router("hub").items("/ip/ipsec/identity")
            if r.get("comment") == "ipsecfleet:identity/remote"] == [PSK]

    code, output = run(tmp_path, lab, PSK, "-vvv")
    assert code == 0 and all(s["changed"] == 0 for s in recap(output).values()), output
    assert PSK not in output

    # a rotated key: one in-place write per host, still never printed
    code, output = run(tmp_path, lab, "rotated-" + PSK, "-vvv", "--diff")
    assert code == 0 and all(s["changed"] == 1 for s in recap(output).values()), output
    assert "rotated-" + PSK not in output and PSK not in output
