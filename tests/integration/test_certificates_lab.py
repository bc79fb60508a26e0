"""Certificate tunnels end to end against lab routers: the controller PKI issues, ipsec_site's engine
uploads and imports through the API and switches the identities, the lab's IKE checks the chain;
rotation before expiry keeps the tunnel established."""
import datetime as dt
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from engine_lab_helpers import connect  # noqa: E402

from roslab.control import Lab  # noqa: E402

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import diagnosis  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan  # noqa: E402
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils import pki as pki_mod  # noqa: E402

TOPOLOGY = {
    "routers": {
        "hub": {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                              {"address": "10.10.0.1/24", "interface": "ether2"}]},
        "br1": {"interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                "addresses": [{"address": "198.51.100.11/24", "interface": "ether1"},
                              {"address": "10.11.0.1/24", "interface": "ether2"}]},
    },
    "links": [["hub:ether1", "br1:ether1"]],
}
HOSTVARS = {
    "hub": {"ipsec_wan_address": "198.51.100.1", "ipsec_lan_prefixes": ["10.10.0.0/24"],
            "ipsec_ike_id": "hub.vpn.example"},
    "br1": {"ipsec_wan_address": "198.51.100.11", "ipsec_lan_prefixes": ["10.11.0.0/24"],
            "ipsec_ike_id": "br1.vpn.example"},
}
TUNNELS = [{"name": "hub-br1", "a": {"host": "hub", "passive": True}, "b": "br1",
            "auth": {"method": "certificate"}}]
PARAMS = {"state": "overridden", "features": ["ipsec", "certificates"], "secret_update": "on_change"}


@pytest.fixture
def lab(tmp_path):
    lab = Lab.from_topology(TOPOLOGY, base_port=0, state_dir=str(tmp_path / "lab"), save_delay=0.05, speed=0)
    lab.start()
    for name in lab.specs:  # the IPsec log as one enables it to troubleshoot (default rules: info/error/warning)
        lab.call(lab.router(name).execute, "/system/logging/add", {"topics": "ipsec"}, [])
    yield lab
    lab.stop()


def lab_now(lab):
    return dt.datetime.strptime(lab.clock_info()["datetime"], "%Y-%m-%d %H:%M:%S")


def converge(lab, authority, host):
    tunnels = host_plan.intent_tunnels(host, TUNNELS, HOSTVARS)
    material = authority.material(host, HOSTVARS[host]["ipsec_ike_id"])
    plan = host_plan.build_host_plan(host, tunnels, features=PARAMS["features"], pki=material)
    return site_engine.run(dict(PARAMS), lambda: connect(lab, host), plan)


def established(lab):
    rows = lab.router("br1").items("/ip/ipsec/active-peers")
    return [row for row in rows if row.get("state") == "established"]


def installed(lab):
    return lab.router("br1").items("/ip/ipsec/installed-sa")


def certificate_names(lab, host):
    """The collection's certificates on ``host``; the lab's own api-ssl certificate (foreign, not
    owned) must survive every converge and rotation untouched."""
    from roslab.menus import API_SSL_CERTIFICATE
    names = sorted(row["name"] for row in lab.router(host).items("/certificate"))
    assert API_SSL_CERTIFICATE in names
    return [name for name in names if name != API_SSL_CERTIFICATE]


def test_certificate_tunnel_establishes_is_idempotent_and_rotates_with_no_second_without_sas(lab, tmp_path):
    clock = {"now": lab_now(lab)}
    authority = pki_mod.Pki(str(tmp_path / "pki"), "controller-secret-123", validity_days=30,
                            renew_before_days=7, now=lambda: clock["now"])
    for host in ("hub", "br1"):
        result = converge(lab, authority, host)
        assert result["changed"] and len(result["certificates"]["imported"]) == 2
        assert all("PRIVATE KEY" not in line and "controller-secret" not in line for line in result["commands"])
    lab.advance(1)
    assert established(lab) and installed(lab)
    assert lab.router("br1").items("/file") == []          # the uploads are removed after the import
    rows = dict((row["name"], row) for row in lab.router("br1").items("/certificate"))
    own = [row for name, row in rows.items() if name.startswith("ipsecfleet-br1-")][0]
    assert own["private-key"] == "true" and own["subject-alt-name"] == "DNS:br1.vpn.example"
    # a second run changes nothing
    for host in ("hub", "br1"):
        assert not converge(lab, authority, host)["changed"]
    before = certificate_names(lab, "br1")

    # 25 days later: inside the 7-day window, the spoke's certificate is rotated
    lab.advance(25 * 86400)
    assert established(lab)
    clock["now"] = lab_now(lab)
    result = converge(lab, authority, "br1")
    assert len(result["certificates"]["imported"]) == 1 and len(result["certificates"]["removed"]) == 1
    after = certificate_names(lab, "br1")
    assert after != before and len(after) == 2              # new one in, old one out
    identity = lab.router("br1").items("/ip/ipsec/identity")[0]
    assert identity["certificate"] in after and identity["certificate"] not in before
    for _second in range(3):
        assert established(lab) and installed(lab)          # no moment without SAs
        lab.advance(1)
    assert len(converge(lab, authority, "hub")["certificates"]["imported"]) == 1   # the hub's turn
    for _second in range(3):
        assert established(lab) and installed(lab)
        lab.advance(1)
    # the old certificates have expired now; a new negotiation authenticates with the new ones
    lab.advance(6 * 86400)
    lab.router("br1").execute("/ip/ipsec/active-peers/kill-connections", {}, [])
    lab.advance(1)
    assert established(lab)


def test_a_certificate_from_another_ca_is_refused_with_the_log_line(lab, tmp_path):
    now = lab_now(lab)
    fleet = pki_mod.Pki(str(tmp_path / "fleet"), "controller-secret-123", now=lambda: now)
    rogue = pki_mod.Pki(str(tmp_path / "rogue"), "controller-secret-123", now=lambda: now)
    converge(lab, fleet, "hub")
    converge(lab, rogue, "br1")
    lab.advance(1)
    assert not established(lab)
    hub_log = [row["message"] for row in lab.router("hub").items("/log")]
    assert "can't verify peer's certificate from store" in hub_log
    assert "reply notify: AUTHENTICATION_FAILED" in hub_log
    # the diagnosis names it from those lines (observe/diagnosis.py)
    found = diagnosis.diagnose_log(lab.router("hub").items("/log"), own_addresses=["198.51.100.1"])
    assert "certificate_invalid" in [f["cause"] for f in found], found


def test_a_wrong_remote_id_is_named_identity_mismatch(lab, tmp_path):
    """br1 (the initiator) expects another ID than the hub's certificate names: br1 logs RouterOS's
    'identity not found for initiator' and the diagnosis names identity_mismatch with that line."""
    now = lab_now(lab)
    authority = pki_mod.Pki(str(tmp_path / "fleet"), "controller-secret-123", now=lambda: now)
    for host in ("hub", "br1"):
        converge(lab, authority, host)
    lab.advance(1)
    assert established(lab)
    api = connect(lab, "br1")
    try:
        identities = api.path("ip", "ipsec", "identity")
        (row,) = list(identities)
        identities.update(**{".id": row[".id"], "remote-id": "fqdn:not-the-hub.example"})
    finally:
        api.close()
    lab.advance(40)
    assert not established(lab)
    log = lab.router("br1").items("/log")
    found = diagnosis.diagnose_log(log, own_addresses=["198.51.100.11"])
    mismatch = [f for f in found if f["cause"] == "identity_mismatch"]
    assert mismatch and "identity not found for initiator" in " ".join(mismatch[0]["evidence"]), found
    # the line names this end's ID and the one the hub presented (which br1 does not accept)
    assert "peer: FQDN:hub.vpn.example" in " ".join(mismatch[0]["evidence"])
    assert diagnosis.primary(found)["cause"] == "identity_mismatch"


PSK_PARAMS = {"state": "overridden", "features": ["ipsec"], "secret_update": "on_change"}


def converge_psk(lab, host, psk):
    tunnels = host_plan.intent_tunnels(host, [{"name": "hub-br1", "a": {"host": "hub", "passive": True}, "b": "br1",
                                               "auth": {"psk": psk}}], HOSTVARS)
    plan = host_plan.build_host_plan(host, tunnels, features=PSK_PARAMS["features"])
    return site_engine.run(dict(PSK_PARAMS), lambda: connect(lab, host), plan)


def test_psk_rotation_on_both_ends_renegotiates_once_with_the_new_key(lab):
    """The lab tears an SA down when its peer, identity or profile rows change (roslab
    fabric_ipsec._sa_fingerprint; UNCONFIRMED for a real RouterOS): a PSK rotation is NOT hitless in
    the lab. The gap lasts from the first end's write to the second end's; this test measures it."""
    old, new = "old-key-0123456789abcdef0123", "new-key-fedcba9876543210fedc"
    for host in ("hub", "br1"):
        assert converge_psk(lab, host, old)["changed"]
    lab.advance(1)
    assert established(lab) and installed(lab)
    assert converge_psk(lab, "hub", new)["changed"]        # the passive (responder) end first
    lab.advance(1)
    assert not established(lab)                              # the gap: br1 still sends the old key
    assert converge_psk(lab, "br1", new)["changed"]
    gap = 1
    while not established(lab):                              # br1 retries a refused negotiation after 30s
        lab.advance(1)
        gap += 1
        assert gap <= 32
    assert installed(lab)                                    # one renegotiation, with the new key
    # across the phase-2 rekey (30m) and the IKE lifetime (1d) the tunnel stays up on the new key
    for _step in range(2 * 24 * 6):
        lab.advance(600)
        assert established(lab) and installed(lab)
    lab.router("br1").execute("/ip/ipsec/active-peers/kill-connections", {}, [])
    lab.advance(1)
    assert established(lab) and installed(lab)


def test_psk_rotation_written_to_both_ends_before_the_next_lab_step_has_no_refused_attempt(lab):
    for host in ("hub", "br1"):
        converge_psk(lab, host, "old-key-0123456789abcdef0123")
    lab.advance(1)
    assert established(lab)
    for host in ("hub", "br1"):                              # both ends within the same lab second
        assert converge_psk(lab, host, "new-key-fedcba9876543210fedc")["changed"]
    lab.advance(1)
    assert established(lab) and installed(lab)
    hub_log = [row["message"] for row in lab.router("hub").items("/log")]
    assert not any("identity not found" in line for line in hub_log)


def test_psk_rotated_on_one_end_only_fails_the_next_negotiation(lab):
    for host in ("hub", "br1"):
        converge_psk(lab, host, "old-key-0123456789abcdef0123")
    lab.advance(1)
    assert established(lab)
    converge_psk(lab, "br1", "new-key-fedcba9876543210fedc")
    for _second in range(90):                                # the change renegotiates; the hub refuses it
        lab.advance(1)
        assert not established(lab)
    hub_log = [row["message"] for row in lab.router("hub").items("/log")]
    assert any("identity not found" in line for line in hub_log)
