"""roslab.menus: built-in items, the fasttrack counter rule, GRE ipsec-secret, references, /interface,
/export, runtime hooks and persistence."""

import json
import re

import pytest

from roslab import schema
from roslab.errors import RosFatal, RosTrap
from labfixtures import add, one_router, rows, run
from roslab.menus import FASTTRACK_COMMENT, build_router

IPSEC = "/ip/ipsec/"
FILTER = "/ip/firewall/filter"


@pytest.fixture
def router():
    return one_router("hub")


def trap_of(router, command, **attrs):
    with pytest.raises(RosTrap) as err:
        router.execute(command, attrs, [])
    return err.value


# --- built-ins (spec §7) -----------------------------------------------------------------------
def test_default_profile_has_export_values(router):
    (row,) = rows(router, IPSEC + "profile")
    assert row["name"] == "default" and row["default"] == "true"
    assert (row["dpd-interval"], row["dpd-maximum-failures"]) == ("2m", "5")
    assert row["enc-algorithm"] == "aes-128,3des" and row["dh-group"] == "modp2048,modp1024"
    assert row["hash-algorithm"] == "sha1" and row["lifetime"] == "1d" and row["nat-traversal"] == "true"
    assert row["ppk"] == "no"


def test_new_profile_gets_schema_defaults(router):
    add(router, IPSEC + "profile", name="p")
    row = rows(router, IPSEC + "profile", ["name=p"])[0]
    assert (row["dpd-interval"], row["dpd-maximum-failures"], row["default"]) == ("8s", "4", "false")


def test_ppk_absent_before_7_21():
    old = build_router("old", version="7.20.8")
    assert "ppk" not in rows(old, IPSEC + "profile")[0]
    assert trap_of(old, IPSEC + "profile/add", name="x", ppk="psk").message == "unknown parameter ppk"


def test_other_builtins(router):
    (proposal,) = rows(router, IPSEC + "proposal")
    assert proposal["name"] == "default" and proposal["pfs-group"] == "modp1024"
    assert proposal["enc-algorithms"] == "aes-256-cbc,aes-192-cbc,aes-128-cbc"
    (group,) = rows(router, IPSEC + "policy/group")
    assert group["name"] == "default"
    (template,) = rows(router, IPSEC + "policy")
    assert template["template"] == "true" and template["src-address"] == "::/0"
    assert template["dst-address"] == "::/0" and template["group"] == "default"
    (mode,) = rows(router, IPSEC + "mode-config")
    assert mode["name"] == "request-only" and mode["use-responder-dns"] == "exclusively"
    (settings,) = rows(router, IPSEC + "settings")
    assert settings == {"accounting": "true", "interim-update": "0s", "xauth-use-radius": "false",
                        "ddos-cookie-threshold": "20"}
    services = dict((r["name"], r["port"]) for r in rows(router, "/ip/service"))
    assert services["api"] == "8728" and services["api-ssl"] == "8729"
    assert [r["name"] for r in rows(router, "/user")] == ["admin"]
    assert "password" not in rows(router, "/user")[0]


def test_settings_before_7_22_have_no_ddos_cookie_threshold():
    assert "ddos-cookie-threshold" not in rows(build_router("r", version="7.21.5"), IPSEC + "settings")[0]


def test_default_items_cannot_be_removed(router):
    for menu in ("profile", "proposal", "policy/group"):
        err = trap_of(router, IPSEC + menu + "/remove", **{".id": "default"})
        assert err.message.startswith("failure:")       # UNCONFIRMED text: class only
    template = rows(router, IPSEC + "policy")[0][".id"]
    assert trap_of(router, IPSEC + "policy/remove", **{".id": template}).message.startswith("failure:")
    # but they can be changed (real exports: set [ find default=yes ] dpd-interval=2m ...)
    run(router, IPSEC + "profile/set", **{".id": "default", "lifetime": "8h"})
    assert rows(router, IPSEC + "profile")[0]["lifetime"] == "8h"


def test_system_resource_reports_version():
    for version in ("7.12.2", "7.22.2", "7.24"):
        r = build_router("r", version=version)
        (row,) = rows(r, "/system/resource")
        assert row["version"] == "%s (stable)" % version
        assert ".id" not in row


def test_identity_menu(router):
    assert rows(router, "/system/identity") == [{"name": "hub"}]
    run(router, "/system/identity/set", name="hub2")
    assert rows(router, "/system/identity") == [{"name": "hub2"}]


# --- fasttrack counter rule (spec §3) ---------------------------------------------------------------
def test_fasttrack_dummy_rule(router):
    (rule,) = rows(router, FILTER)
    assert rule["comment"] == FASTTRACK_COMMENT and rule["dynamic"] == "true"
    assert rule["chain"] == "forward" and rule["action"] == "passthrough"
    first = add(router, FILTER, chain="input")
    err = trap_of(router, FILTER + "/remove", **{".id": rule[".id"]})
    # spec §1: the words are from a 7.23.x capture, the exact prefix is UNCONFIRMED
    assert err.message.endswith("cannot remove builtin")
    assert trap_of(router, FILTER + "/move", numbers=rule[".id"], destination=first).message.endswith(
        "cannot move builtin")
    # nothing may be placed before it
    assert trap_of(router, FILTER + "/move", numbers=first, destination=rule[".id"]).category is None
    with pytest.raises(RosTrap):
        add(router, FILTER, chain="input", **{"place-before": rule[".id"]})
    with pytest.raises(RosTrap):
        run(router, FILTER + "/set", **{".id": rule[".id"], "comment": "x"})
    assert rows(router, FILTER)[0][".id"] == rule[".id"]


# --- references (identity/policy peer=) ----------------------------------------------------------
def test_identity_and_policy_need_existing_peer(router):
    err = trap_of(router, IPSEC + "identity/add", peer="spoke1", secret="s")
    assert (err.message, err.category) == ("input does not match any value of peer", 1)
    add(router, IPSEC + "peer", name="spoke1", address="198.51.100.2")
    add(router, IPSEC + "identity", peer="spoke1", secret="s")
    add(router, IPSEC + "policy", peer="spoke1", tunnel="yes", **{"src-address": "10.10.0.0/24",
                                                                  "dst-address": "10.20.0.0/24"})
    # the peer is still named: removal refused (text UNCONFIRMED, a trap all the same)
    err = trap_of(router, IPSEC + "peer/remove", **{".id": "spoke1"})
    assert err.message.startswith("failure:")
    assert rows(router, IPSEC + "peer", ["name=spoke1"])


def test_removing_peer_and_its_users_together(router):
    peer = add(router, IPSEC + "peer", name="p", address="198.51.100.2")
    ident = add(router, IPSEC + "identity", peer="p", secret="s")
    run(router, IPSEC + "identity/remove", **{".id": ident})
    run(router, IPSEC + "peer/remove", **{".id": peer})
    assert rows(router, IPSEC + "peer") == []


def test_rename_follows_references(router):
    add(router, IPSEC + "profile", name="prof")
    add(router, IPSEC + "peer", name="p", address="198.51.100.2", profile="prof")
    add(router, IPSEC + "identity", peer="p", secret="s")
    run(router, IPSEC + "profile/set", numbers="prof", name="prof2")
    run(router, IPSEC + "peer/set", numbers="p", name="p2")
    assert rows(router, IPSEC + "peer")[0]["profile"] == "prof2"
    assert rows(router, IPSEC + "identity")[0]["peer"] == "p2"


def test_peer_unique_by_address_and_exchange_mode(router):
    add(router, IPSEC + "peer", name="a", address="198.51.100.2")
    add(router, IPSEC + "peer", name="b", address="198.51.100.2", **{"exchange-mode": "ike2"})
    err = trap_of(router, IPSEC + "peer/add", name="c", address="198.51.100.2/32")
    assert err.message.startswith("failure:")


def test_identity_my_id_forms(router):
    add(router, IPSEC + "peer", name="p", address="198.51.100.2")
    add(router, IPSEC + "identity", peer="p", **{"my-id": "fqdn:hub.example", "remote-id": "ignore"})
    err = trap_of(router, IPSEC + "identity/add", peer="p", **{"my-id": "bogus"})
    assert err.message == "input does not match any value of my-id"


def test_duplicate_policy_is_flagged_invalid(router):
    a = add(router, IPSEC + "policy", **{"src-address": "10.10.0.0/24", "dst-address": "10.20.0.0/24"})
    b = add(router, IPSEC + "policy", **{"src-address": "10.10.0.0/24", "dst-address": "10.20.0.0/24"})
    flags = dict((r[".id"], r["invalid"]) for r in rows(router, IPSEC + "policy"))
    assert flags[a] == "false" and flags[b] == "true"


# --- GRE/IPIP/EoIP ipsec-secret (spec §4) -----------------------------------------------------------
@pytest.mark.parametrize("menu,protocol,extra", [
    ("/interface/gre", "gre", {}), ("/interface/ipip", "ipencap", {}),
    ("/interface/eoip", "gre", {"tunnel-id": "7"}),
])
def test_tunnel_ipsec_secret_creates_dynamic_objects(router, menu, protocol, extra):
    attrs = dict({"name": "t1", "remote-address": "198.51.100.2", "local-address": "198.51.100.1",
                  "ipsec-secret": "s3cret", "allow-fast-path": "no"}, **extra)
    tunnel = add(router, menu, **attrs)
    (peer,) = rows(router, IPSEC + "peer")
    assert peer["dynamic"] == "true" and peer["address"] == "198.51.100.2/32"
    (ident,) = rows(router, IPSEC + "identity")
    assert ident["dynamic"] == "true" and ident["peer"] == peer["name"] and ident["secret"] == "s3cret"
    policy = [r for r in rows(router, IPSEC + "policy") if r["dynamic"] == "true"][0]
    assert policy["protocol"] == protocol and policy["tunnel"] == "false"
    assert policy["src-address"] == "198.51.100.1/32" and policy["dst-address"] == "198.51.100.2/32"
    # not removable or changeable directly
    for sub, item in (("peer", peer), ("identity", ident), ("policy", policy)):
        assert trap_of(router, IPSEC + sub + "/remove", **{".id": item[".id"]}).message.startswith("failure:")
    assert trap_of(router, IPSEC + "peer/set", **{".id": peer[".id"], "comment": "x"}).message.startswith("failure:")
    # updated with the tunnel
    run(router, menu + "/set", **{".id": tunnel, "remote-address": "198.51.100.3"})
    assert rows(router, IPSEC + "peer")[0]["address"] == "198.51.100.3/32"
    run(router, menu + "/set", **{".id": tunnel, "!ipsec-secret": ""})
    assert rows(router, IPSEC + "peer") == [] and rows(router, IPSEC + "identity") == []
    run(router, menu + "/set", **{".id": tunnel, "ipsec-secret": "again"})
    assert len(rows(router, IPSEC + "identity")) == 1
    # removed with the tunnel
    run(router, menu + "/remove", **{".id": tunnel})
    assert rows(router, IPSEC + "peer") == [] and rows(router, IPSEC + "identity") == []
    assert [r["template"] for r in rows(router, IPSEC + "policy")] == ["true"]


def test_tunnel_needs_remote_address(router):
    err = trap_of(router, "/interface/gre/add", name="g")
    assert "remote-address" in err.message


# --- /interface view ----------------------------------------------------------------------------
def test_interface_view(router):
    add(router, "/interface/gre", name="gre1", **{"remote-address": "198.51.100.2"})
    view = dict((r["name"], r) for r in rows(router, "/interface"))
    assert view["ether1"]["type"] == "ether" and view["gre1"]["type"] == "gre-tunnel"
    run(router, "/interface/set", numbers="gre1", comment="to spoke")
    assert rows(router, "/interface/gre")[0]["comment"] == "to spoke"
    run(router, "/interface/disable", **{".id": view["ether2"][".id"]})
    assert rows(router, "/interface/ethernet", ["name=ether2"])[0]["disabled"] == "true"
    err = trap_of(router, "/ip/address/add", address="10.0.0.1/24", interface="ether9")
    assert err.message == "input does not match any value of interface"
    add(router, "/ip/address", address="10.0.0.1/24", interface="gre1")


def test_interface_lists(router):
    add(router, "/interface/list", name="WAN")
    add(router, "/interface/list/member", list="WAN", interface="ether1")
    err = trap_of(router, "/interface/list/member/add", list="LAN", interface="ether1")
    assert err.message == "input does not match any value of list"
    assert "all" in [r["name"] for r in rows(router, "/interface/list")]


def test_ip_address_network(router):
    (row,) = rows(router, "/ip/address")
    assert row["address"] == "198.51.100.1/24" and row["network"] == "198.51.100.0"
    assert row["interface"] == "ether1"


# --- /export -----------------------------------------------------------------------------------------
def test_export(router):
    add(router, IPSEC + "profile", name="ike2-aes", **{"enc-algorithm": "aes-256", "dh-group": "ecp256"})
    add(router, IPSEC + "peer", name="spoke1", address="198.51.100.2", profile="ike2-aes",
        **{"exchange-mode": "ike2"})
    add(router, IPSEC + "identity", peer="spoke1", secret="topsecret", comment="two words")
    add(router, FILTER, chain="input", protocol="udp", **{"dst-port": "500,4500"})
    add(router, "/interface/gre", name="gre1", **{"remote-address": "198.51.100.2", "ipsec-secret": "x",
                                                  "allow-fast-path": "no"})
    run(router, IPSEC + "profile/set", **{".id": "default", "lifetime": "8h"})
    text = router.execute("/export", {}, []).done["ret"]
    assert "/ip ipsec profile\nset [ find default=yes ] lifetime=8h\nadd dh-group=ecp256 enc-algorithm=aes-256 name=ike2-aes" in text
    assert "/ip ipsec peer\nadd address=198.51.100.2/32 exchange-mode=ike2 name=spoke1 profile=ike2-aes" in text
    assert 'add comment="two words" peer=spoke1' in text
    assert "topsecret" not in text and "ipsec-secret" not in text
    # spec §3: `action=` is printed on every firewall rule, even the default accept
    assert "/ip firewall filter\nadd action=accept chain=input dst-port=500,4500 protocol=udp" in text
    assert FASTTRACK_COMMENT not in text        # dynamic items are not exported
    assert "/system identity\nset name=hub" in text
    assert "allow-fast-path=no" in text
    assert "topsecret" in router.execute("/export", {"show-sensitive": ""}, []).done["ret"]
    # file= writes a /file item
    assert router.execute("/export", {"file": "backup"}, []).done == {}
    (f,) = rows(router, "/file")
    assert f["name"] == "backup.rsc" and "ike2-aes" in f["contents"]


# --- runtime hooks, log, items -----------------------------------------------------------------------
def test_runtime_rows_and_props(router):
    router.set_runtime_rows(IPSEC + "active-peers", [
        {"remote-address": "198.51.100.2", "state": "established", "side": "initiator"}])
    (peer,) = rows(router, IPSEC + "active-peers")
    assert peer["state"] == "established" and peer[".id"].startswith("*")
    # inspect lists add/set on active-peers with `comment` only
    assert trap_of(router, IPSEC + "active-peers/add", state="x").message == "unknown parameter state"
    assert trap_of(router, IPSEC + "installed-sa/add").message == "no such command"
    policy = add(router, IPSEC + "policy", **{"src-address": "10.10.0.0/24", "dst-address": "10.20.0.0/24"})
    router.set_runtime_props(IPSEC + "policy", policy, {"ph2-state": "established", "active": "true"})
    row = rows(router, IPSEC + "policy", [".id=" + policy])[0]
    assert row["ph2-state"] == "established" and row["active"] == "true"
    router.set_runtime_props(IPSEC + "statistics", None, {"in-errors": 3})
    assert rows(router, IPSEC + "statistics")[0]["in-errors"] == "3"


def test_log_and_clock(router):
    router.clock = 3725
    router.log("ipsec,error", "phase1 negotiation failed due to time up")
    (entry,) = rows(router, "/log", ["topics=ipsec,error"])
    assert entry == {".id": entry[".id"], "time": "01:02:05", "topics": "ipsec,error",
                     "message": "phase1 negotiation failed due to time up"}
    assert rows(router, "/system/resource")[0]["uptime"] == "1h2m5s"


def test_items_reads_in_process(router):
    add(router, IPSEC + "peer", name="p", address="198.51.100.2")
    (peer,) = router.items(IPSEC + "peer")
    assert peer["name"] == "p" and ".id" in peer
    assert [i["name"] for i in router.items("/interface")] == ["ether1", "ether2"]


# --- login, quit ----------------------------------------------------------------------------------
def test_login(router):
    assert router.login("admin", "")
    assert not router.login("admin", "wrong") and not router.login("root", "")
    run(router, "/user/set", numbers="admin", password="pw")
    assert router.login("admin", "pw") and not router.login("admin", "")
    with pytest.raises(RosFatal):
        router.execute("/quit", {}, [])


# --- persistence --------------------------------------------------------------------------------------
def test_snapshot_restore_reset_and_on_change(router):
    changes = []
    router.on_change(lambda r, path: changes.append(path))
    add(router, IPSEC + "peer", name="p", address="198.51.100.2")
    add(router, "/ip/firewall/address-list", list="l", address="10.0.0.1")
    add(router, "/ip/firewall/address-list", list="l", address="10.0.0.2", timeout="1h")
    assert changes == [IPSEC + "peer", "/ip/firewall/address-list", "/ip/firewall/address-list"]
    router.log("system,info", "x")
    router.set_runtime_rows(IPSEC + "active-peers", [{"state": "established"}])
    snap = json.loads(json.dumps(router.snapshot()))      # JSON-able
    other = build_router("hub", interfaces=[{"name": "ether1"}, {"name": "ether2"}])
    other.restore(snap)
    assert [r["name"] for r in rows(other, IPSEC + "peer")] == ["p"]
    assert [r["address"] for r in rows(other, "/ip/firewall/address-list")] == ["10.0.0.1"]
    assert rows(other, "/log") == [] and rows(other, IPSEC + "active-peers") == []
    new_id = add(other, IPSEC + "peer", name="q", address="198.51.100.3")
    assert new_id not in [r[".id"] for r in rows(router, IPSEC + "peer")]    # counter restored too
    other.reset()
    assert rows(other, IPSEC + "peer") == []
    assert rows(other, IPSEC + "profile")[0]["name"] == "default"
    assert [r["name"] for r in rows(other, "/interface/ethernet")] == ["ether1", "ether2"]
    assert other.login("admin", "")


def test_unemulated_but_real_menu_is_distinguished(router):
    assert schema.routeros_has_path("/ip/dns")
    err = trap_of(router, "/ip/dns/print")
    assert err.message != "no such command prefix" and err.category == 0


def test_interface_rename_follows_references(router):
    add(router, "/interface/list", name="WAN")
    add(router, "/interface/list/member", list="WAN", interface="ether1")
    run(router, "/interface/ethernet/set", numbers="ether1", name="wan1")
    assert rows(router, "/ip/address")[0]["interface"] == "wan1"
    assert rows(router, "/interface/list/member")[0]["interface"] == "wan1"
    run(router, "/interface/set", numbers="wan1", name="uplink")
    assert rows(router, "/ip/address")[0]["interface"] == "uplink"
    err = trap_of(router, "/interface/list/member/add", list="WAN", interface="uplink")
    assert err.message.startswith("failure:")


def test_service_export(router):
    run(router, "/ip/service/set", numbers="telnet", disabled="yes")
    run(router, "/ip/service/set", numbers="api", address="10.0.0.0/8")
    text = router.export_text()
    assert "/ip service\nset telnet disabled=yes\nset api address=10.0.0.0/8\n" in text


def test_flush_and_kill_connections(router):
    changes = []
    router.on_change(lambda r, path: changes.append(path))
    router.set_runtime_rows(IPSEC + "installed-sa", [{"spi": "0x1", "state": "mature"}])
    router.set_runtime_rows(IPSEC + "active-peers", [{"state": "established"}])
    assert trap_of(router, IPSEC + "installed-sa/flush", bogus="1").message == "unknown parameter bogus"
    run(router, IPSEC + "installed-sa/flush")
    run(router, IPSEC + "active-peers/kill-connections")
    assert rows(router, IPSEC + "installed-sa") == [] and rows(router, IPSEC + "active-peers") == []
    assert changes == [IPSEC + "installed-sa", IPSEC + "active-peers"]


def test_copy_from_and_get(router):
    add(router, IPSEC + "profile", name="base", lifetime="8h", **{"dh-group": "ecp256"})
    add(router, IPSEC + "profile", name="copy", **{"copy-from": "base", "hash-algorithm": "sha256"})
    row = rows(router, IPSEC + "profile", ["name=copy"])[0]
    assert (row["lifetime"], row["dh-group"], row["hash-algorithm"]) == ("8h", "ecp256", "sha256")
    assert run(router, IPSEC + "profile/get", number="copy", **{"value-name": "lifetime"}).done == {"ret": "8h"}
    assert run(router, IPSEC + "settings/get", **{"value-name": "accounting"}).done == {"ret": "true"}


def test_ethernet_mac_addresses_are_stable_and_distinct(router):
    macs = [r["mac-address"] for r in rows(router, "/interface/ethernet")]
    assert len(set(macs)) == 2
    again = build_router("hub", interfaces=[{"name": "ether1"}, {"name": "ether2"}])
    assert [r["mac-address"] for r in rows(again, "/interface")] == macs


def test_tunnel_rename_through_interface_view_renames_dynamic_peer(router):
    add(router, "/interface/gre", name="gre1", **{"remote-address": "198.51.100.2", "ipsec-secret": "x"})
    run(router, "/interface/set", numbers="gre1", name="to-spoke")
    assert [r["name"] for r in rows(router, IPSEC + "peer")] == ["to-spoke"]
    assert rows(router, IPSEC + "identity")[0]["peer"] == "to-spoke"


def test_restore_into_newer_version_reports_running_version(router):
    add(router, IPSEC + "peer", name="p", address="198.51.100.2")
    upgraded = build_router("hub", version="7.24", interfaces=[{"name": "ether1"}, {"name": "ether2"}])
    upgraded.restore(router.snapshot())
    assert rows(upgraded, "/system/resource")[0]["version"] == "7.24 (stable)"
    assert [r["name"] for r in rows(upgraded, IPSEC + "peer")] == ["p"]


def test_firewall_reset_counters(router):
    a = add(router, FILTER, chain="input")
    b = add(router, FILTER, chain="input")
    for rule in (a, b):
        router.set_runtime_props(FILTER, rule, {"bytes": 100, "packets": 2})
    run(router, FILTER + "/reset-counters", numbers=a)
    counts = dict((r[".id"], (r["bytes"], r["packets"])) for r in rows(router, FILTER))
    assert counts[a] == ("0", "0") and counts[b] == ("100", "2")
    run(router, FILTER + "/reset-counters-all")
    assert all(r["bytes"] == "0" for r in rows(router, FILTER))


def test_export_terse_and_verbose(router):
    add(router, IPSEC + "peer", name="spoke1", address="198.51.100.2")
    terse = router.execute("/export", {"terse": ""}, []).done["ret"]
    assert "/ip ipsec peer add address=198.51.100.2/32 name=spoke1\n" in terse
    verbose = router.execute("/ip/ipsec/export", {"verbose": ""}, []).done["ret"]
    assert "exchange-mode=main" in verbose and "/ip address" not in verbose


# --- properties shown only where they apply (spec §2 identity) ----------------------------------------
def test_eap_methods_shows_only_for_eap_identities(router):
    add(router, IPSEC + "peer", name="p1", address="198.51.100.2")
    psk = add(router, IPSEC + "identity", peer="p1", secret="s")
    eap = add(router, IPSEC + "identity", peer="p1", **{"auth-method": "eap", "username": "u"})
    by_id = dict((r[".id"], r) for r in rows(router, IPSEC + "identity"))
    assert "eap-methods" not in by_id[psk] and by_id[eap]["eap-methods"] == "eap-tls"
    # switching to eap shows the default; export leaves it out even verbose for psk
    run(router, IPSEC + "identity/set", **{".id": psk, "auth-method": "eap"})
    assert rows(router, IPSEC + "identity", [".id=" + psk])[0]["eap-methods"] == "eap-tls"
    run(router, IPSEC + "identity/set", **{".id": psk, "auth-method": "pre-shared-key"})
    verbose = router.export_text(verbose=True)
    identity_lines = [line for line in verbose.splitlines() if line.startswith("add ") and "peer=p1" in line]
    assert len(identity_lines) == 2
    assert ["eap-methods=eap-tls" in line for line in identity_lines] == [False, True]


# --- /system/device-mode -------------------------------------------------------------------------------
@pytest.mark.parametrize("version,mode", [("7.12.2", "enterprise"), ("7.16.1", "enterprise"),
                                          ("7.18", "advanced"), ("7.22.2", "advanced")])
def test_device_mode_of_a_chr(version, mode):
    router = build_router("r", version=version)
    (row,) = rows(router, "/system/device-mode")
    assert row["mode"] == mode and row["ipsec"] == "true" and row["scheduler"] == "true"
    assert row["container"] == "false" and row["flagged"] == "false"
    # the switches are the update arguments of that version's inspect tree
    assert ("routerboard" in row) == (version >= "7.18")
    assert trap_of(router, "/system/device-mode/set", ipsec="no").message == "no such command"
    assert run(router, "/system/device-mode/get", **{"value-name": "mode"}).done == {"ret": mode}


def test_device_mode_update_waits_for_a_power_cycle(router):
    run(router, "/system/device-mode/update", ipsec="no", **{"activation-timeout": "1m"})
    assert rows(router, "/system/device-mode")[0]["ipsec"] == "true"     # not confirmed yet
    router.restore(json.loads(json.dumps(router.snapshot())))             # power cycle in time
    assert rows(router, "/system/device-mode")[0]["ipsec"] == "false"
    run(router, "/system/device-mode/update", ipsec="yes")
    router.clock += 301                                                   # default 5m passes
    router.restore(router.snapshot())
    assert rows(router, "/system/device-mode")[0]["ipsec"] == "false"
    assert trap_of(router, "/system/device-mode/update", ipsec="maybe").category == 1
    assert trap_of(router, "/system/device-mode/update", mode="enterprise").category == 1   # 7.17 renamed it
    assert trap_of(router, "/system/device-mode/update", bogus="1").message == "unknown parameter bogus"


def test_device_mode_update_to_home_turns_its_features_off(router):
    run(router, "/system/device-mode/update", mode="home")
    router.restore(router.snapshot())
    row = rows(router, "/system/device-mode")[0]
    assert row["mode"] == "home" and row["scheduler"] == "false" and row["ipsec"] == "true"


# --- scheduler start (MikroTik manual) --------------------------------------------------------------
def test_scheduler_starts_at_the_moment_of_add(router):
    router.clock = 3 * 3600 + 25 * 60 + 7.6
    add(router, "/system/scheduler", name="now", interval="2m")
    add(router, "/system/scheduler", name="boot", **{"start-time": "startup"})
    add(router, "/system/scheduler", name="later", **{"start-time": "04:00:00"})
    got = dict((r["name"], (r.get("start-date"), r.get("start-time"))) for r in rows(router, "/system/scheduler"))
    assert got == {"now": ("2026-01-01", "03:25:07"), "boot": (None, "startup"),
                   "later": ("2026-01-01", "04:00:00")}


# --- runtime properties do not survive a reboot ---------------------------------------------------
def test_runtime_properties_the_fabric_writes_are_not_saved(router):
    policy = add(router, IPSEC + "policy", **{"src-address": "10.0.0.0/24", "dst-address": "10.1.0.0/24"})
    watch = add(router, "/tool/netwatch", host="198.51.100.2")
    job = add(router, "/system/scheduler", name="j", interval="1m")
    router.set_runtime_props(IPSEC + "policy", policy, {"ph2-state": "established", "ph2-count": "1",
                                                        "active": "true"})
    router.set_runtime_props("/tool/netwatch", watch, {"status": "up", "since": "2026-01-01 00:00:10",
                                                       "done-tests": "3", "failed-tests": "1"})
    router.set_runtime_props("/system/scheduler", job, {"run-count": "2", "next-run": "2026-01-01 00:03:00"})
    snapshot = json.loads(json.dumps(router.snapshot()))
    saved = dict((path, [i["props"] for i in items]) for path, items in snapshot["tables"].items())
    for path, names in ((IPSEC + "policy", ("ph2-state", "ph2-count", "active")),
                        ("/tool/netwatch", ("status", "since", "done-tests", "failed-tests")),
                        ("/system/scheduler", ("run-count", "next-run"))):
        assert not [p for p in saved[path] if any(n in p for n in names)], path
    router.restore(snapshot)
    (restored,) = rows(router, IPSEC + "policy", [".id=" + policy])
    # the saved value is gone; a print shows a policy without phase 2 as no-phase2
    assert restored["ph2-state"] == "no-phase2" and restored["active"] == "false"
    (watched,) = rows(router, "/tool/netwatch")
    assert watched["status"] == "unknown" and "since" not in watched and "done-tests" not in watched
    assert "next-run" not in rows(router, "/system/scheduler")[0]


# --- /import over the API -----------------------------------------------------------------------------
def test_import_runs_an_rsc_file_from_file(router):
    text = ('/ip firewall address-list\nadd address=192.0.2.1 list=imported\n'
            '/system scheduler add name=imported interval=1h\n')
    add(router, "/file", name="cfg.rsc", contents=text)
    assert run(router, "/import", **{"file-name": "cfg.rsc"}).done == {}
    assert [r["address"] for r in rows(router, "/ip/firewall/address-list") if r["list"] == "imported"] == ["192.0.2.1"]
    assert [r["name"] for r in rows(router, "/system/scheduler")] == ["imported"]


def test_import_stops_at_the_failing_line_and_keeps_what_ran(router):
    add(router, "/file", name="bad.rsc", contents='/ip firewall address-list add address=192.0.2.2 list=half\n'
                                                   '/ip firewall address-list add address=192.0.2.2 list=half\n'
                                                   '/ip firewall address-list add address=192.0.2.3 list=half\n')
    err = trap_of(router, "/import", **{"file-name": "bad.rsc"})
    assert "already have such entry" in err.message and "line 2" in err.message
    assert [r["address"] for r in rows(router, "/ip/firewall/address-list") if r["list"] == "half"] == ["192.0.2.2"]


def test_import_arguments_and_missing_file(router):
    assert isinstance(trap_of(router, "/import", **{"file-name": "none.rsc"}), RosTrap)
    assert trap_of(router, "/import").message == "missing value(s) of argument(s) file-name"
    assert trap_of(router, "/import", **{"file-name": "x", "bogus": "1"}).message == "unknown parameter bogus"
    add(router, "/file", name="dry.rsc", contents="/ip firewall address-list add address=192.0.2.9 list=dry\n")
    run(router, "/import", **{"file-name": "dry.rsc", "dry-run": ""})
    assert not [r for r in rows(router, "/ip/firewall/address-list") if r["list"] == "dry"]
    old = build_router("old", version="7.12.2")
    assert trap_of(old, "/import", **{"file-name": "x", "dry-run": ""}).message == "unknown parameter dry-run"


@pytest.mark.parametrize("command,named", [
    ("/system/reboot", "/system/reboot"),                   # a command of /system, whose submenus the lab has
    ("/ip/hotspot/print", "/ip/hotspot"),                   # a RouterOS menu the lab lacks
    ("/tool/sniffer/quick", "/tool/sniffer"),
])
def test_routeros_menus_and_commands_the_lab_lacks_are_named(router, command, named):
    err = trap_of(router, command)
    assert (err.message, err.category) == ("roslab: %s is not emulated" % named, 0)


def test_menus_routeros_does_not_have_are_no_such_command_prefix(router):
    for command in ("/nosuch/print", "/interface/ipsec/add", "/ip/ipsec/remote-peers/print"):
        assert (trap_of(router, command).message, trap_of(router, command).category) == ("no such command prefix", 0)


@pytest.mark.parametrize("menu", ["/ip/firewall/filter", "/ip/firewall/nat", "/ip/firewall/raw",
                                  "/ip/firewall/mangle"])
@pytest.mark.parametrize("given, stored", [("10,5", "10,5:packet"), ("10,5:packet", "10,5:packet"),
                                           ("10/1m,5:bit", "10/1m,5:bit"), ("50", "50:packet")])
def test_firewall_limit_is_stored_with_its_mode(router, menu, given, stored):
    # manual CLI reference: count[/time][,burst][:packet|bit]; exports show limit=10,5:packet
    rule = add(router, menu, chain="x", action="passthrough" if menu != "/ip/firewall/nat" else "accept",
               limit=given)
    assert [r["limit"] for r in rows(router, menu) if r[".id"] == rule] == [stored]


@pytest.mark.parametrize("given", ["abc", "10,", "10:byte", "10/xyz,5", ""])
def test_firewall_limit_that_is_no_rate_is_refused(router, given):
    with pytest.raises(RosTrap) as info:
        add(router, "/ip/firewall/filter", chain="x", limit=given)
    assert info.value.message == "invalid value for argument limit"
    assert [r for r in rows(router, "/ip/firewall/filter") if r.get("chain") == "x"] == []


def test_system_resource_prints_what_a_chr_prints(router):
    # a 7.10 CHR's print (terraform-provider-routeros sample) has build-time and factory-software
    (row,) = rows(router, "/system/resource")
    assert row["factory-software"] == "7.1" and row["board-name"] == "CHR"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["build-time"])


def test_placing_before_the_builtin_counter_rule_is_refused_as_moving_it(router):
    # spec §1: moving the dynamic fasttrack counter rule answers "cannot move builtin" (7.23.x);
    # a place-before/destination naming it gets the same words
    (dummy,) = [r[".id"] for r in rows(router, "/ip/firewall/filter") if r.get("dynamic") == "true"]
    with pytest.raises(RosTrap) as info:
        add(router, "/ip/firewall/filter", chain="input", **{"place-before": dummy})
    assert info.value.message == "cannot move builtin"
    rule = add(router, "/ip/firewall/filter", chain="input")
    with pytest.raises(RosTrap) as info:
        run(router, "/ip/firewall/filter/move", numbers=rule, destination=dummy)
    assert info.value.message == "cannot move builtin"
