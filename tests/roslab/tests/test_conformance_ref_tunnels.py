"""Independent fidelity audit: route-based VPN and HA menus (routeros7-behaviour.md §4, §6), the
``/system/resource`` version and ``/export`` text, through unmodified librouteros.

See ``test_conformance_reference`` for the approach and the shared helpers.
"""

import itertools

import pytest

from test_conformance_reference import (CURRENT, FILTER, VERSIONS, VersionLab, add, by_id,
                                        expect_trap, raw, rows, run, unique)

GRE = "/interface/gre"
IPIP = "/interface/ipip"
EOIP = "/interface/eoip"
VRRP = "/interface/vrrp"
NETWATCH = "/tool/netwatch"
PEER = "/ip/ipsec/peer"
IDENTITY = "/ip/ipsec/identity"
POLICY = "/ip/ipsec/policy"

TUNNEL_DEFAULTS = {"mtu": "auto", "keepalive": "10s,10", "dscp": "inherit",
                   "clamp-tcp-mss": True, "dont-fragment": False, "allow-fast-path": True}

_remotes = itertools.count(1)


def remote():
    """A remote address no other tunnel in the session uses."""
    host = next(_remotes)
    return "100.70.%d.%d" % (host // 250, host % 250 + 1)


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    lab = VersionLab(tmp_path_factory.mktemp("reflab-tun"))
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def api(versions):
    return versions.api(CURRENT)


def tunnel_args(menu, **kwargs):
    kwargs.setdefault("name", unique("tun"))
    kwargs.setdefault("remote-address", remote())
    if menu == EOIP:
        kwargs.setdefault("tunnel-id", str(next(_remotes) % 65536))
    return kwargs


# ================================================================================================
# §4 / §6: there is no /interface/ipsec (nor xfrm before 7.25)


@pytest.mark.parametrize("version", VERSIONS)
def test_interface_ipsec_is_no_such_command_prefix(versions, version):
    api = versions.api(version)
    trap = expect_trap(api, "/interface/ipsec/add", name="ipsec-vpn1", mangling="yes",
                       **{"accept-untracked-peer": "yes"})
    assert trap.message == "no such command prefix"
    assert expect_trap(api, "/interface/ipsec/print").message == "no such command prefix"


@pytest.mark.parametrize("version", VERSIONS)
def test_no_interface_xfrm_in_stable_releases(versions, version):
    trap = expect_trap(versions.api(version), "/interface/xfrm/add", name="x1")
    assert trap.message == "no such command prefix"


# ================================================================================================
# GRE / IPIP / EoIP


@pytest.mark.parametrize("menu", [GRE, IPIP, EOIP])
def test_tunnel_defaults(api, menu):
    args = tunnel_args(menu)
    row = by_id(api, menu, add(api, menu, **args))
    assert {k: row.get(k) for k in TUNNEL_DEFAULTS} == TUNNEL_DEFAULTS
    assert row["remote-address"] == args["remote-address"]


@pytest.mark.parametrize("menu", [GRE, IPIP, EOIP])
def test_tunnel_remote_address_is_mandatory(api, menu):
    args = tunnel_args(menu)
    del args["remote-address"]
    expect_trap(api, menu + "/add", **args)
    assert rows(api, menu, "?name=" + args["name"]) == ()


def test_eoip_tunnel_id_is_mandatory(api):
    args = tunnel_args(GRE)  # no tunnel-id
    expect_trap(api, EOIP + "/add", **args)
    assert rows(api, EOIP, "?name=" + args["name"]) == ()


@pytest.mark.parametrize("menu", [GRE, IPIP, EOIP])
@pytest.mark.parametrize("field", ["actual-mtu", "running", "current-remote-address"])
def test_tunnel_read_only_fields(api, menu, field):
    trap = expect_trap(api, menu + "/add", **tunnel_args(menu, **{field: "1"}))
    assert trap.message == "unknown parameter " + field


@pytest.mark.parametrize("value", ["no", "inherit"])
def test_tunnel_dont_fragment_values(api, value):
    row = by_id(api, GRE, add(api, GRE, **tunnel_args(GRE, **{"dont-fragment": value})))
    assert row["dont-fragment"] == {"no": False}.get(value, value)


def dynamic_ipsec_for(api, address):
    peers = [r for r in rows(api, PEER) if r.get("address") == address + "/32"]
    names = {p["name"] for p in peers}
    identities = [r for r in rows(api, IDENTITY) if r.get("peer") in names]
    policies = [r for r in rows(api, POLICY) if r.get("dst-address") == address + "/32"]
    return peers, identities, policies


@pytest.mark.parametrize("menu", [GRE, IPIP, EOIP])
def test_ipsec_secret_creates_dynamic_peer_identity_and_transport_policy(api, menu):
    args = tunnel_args(menu, **{"ipsec-secret": "gre-psk", "allow-fast-path": "no",
                                "local-address": "198.51.100.1"})
    add(api, menu, **args)
    peers, identities, policies = dynamic_ipsec_for(api, args["remote-address"])
    assert [p["dynamic"] for p in peers] == [True]
    assert [i["dynamic"] for i in identities] == [True]
    assert [i.get("secret") for i in identities] == ["gre-psk"]
    assert [(p["dynamic"], p["tunnel"]) for p in policies] == [(True, False)]
    assert policies[0]["src-address"] == "198.51.100.1/32"


def test_tunnel_without_ipsec_secret_creates_no_ipsec_objects(api):
    args = tunnel_args(GRE)
    add(api, GRE, **args)
    assert dynamic_ipsec_for(api, args["remote-address"]) == ([], [], [])


def test_dynamic_ipsec_objects_follow_the_tunnel(api):
    args = tunnel_args(GRE, **{"ipsec-secret": "s1", "allow-fast-path": "no"})
    item = add(api, GRE, **args)
    api.path(GRE).remove(item)
    assert dynamic_ipsec_for(api, args["remote-address"]) == ([], [], [])


def test_guide_gre_export_pairing_is_accepted(api):
    # every real export pairs allow-fast-path=no with ipsec-secret
    args = tunnel_args(GRE, **{"allow-fast-path": "no", "ipsec-secret": "x"})
    row = by_id(api, GRE, add(api, GRE, **args))
    assert row["allow-fast-path"] is False


# ================================================================================================
# VRRP


def vrrp(api, **kwargs):
    kwargs.setdefault("name", unique("vrrp"))
    kwargs.setdefault("interface", "ether2")
    kwargs.setdefault("vrid", str(next(_remotes) % 255 + 1))
    return by_id(api, VRRP, add(api, VRRP, **kwargs))


def test_vrrp_defaults(api):
    name = unique("vrrp")
    row = by_id(api, VRRP, add(api, VRRP, name=name, interface="ether2"))
    expected = {"vrid": 1, "priority": 100, "interval": "1s", "preemption-mode": True,
                "authentication": "none", "version": 3}
    assert {k: row.get(k) for k in expected} == expected


def test_vrrp_interface_is_mandatory(api):
    name = unique("vrrp")
    expect_trap(api, VRRP + "/add", name=name, vrid="9")
    assert rows(api, VRRP, "?name=" + name) == ()


def test_vrrp_missing_interface(api):
    trap = expect_trap(api, VRRP + "/add", name=unique("vrrp"), interface="nope0")
    assert (trap.message, trap.category) == ("input does not match any value of interface", 1)


@pytest.mark.parametrize("arg,value", [
    ("authentication", "simple"), ("authentication", "ah"), ("version", "2"),
    ("v3-protocol", "ipv6"), ("preemption-mode", "no"), ("priority", "254"),
    ("on-master", ":log info master"), ("on-backup", ":log info backup"),
    ("on-fail", ":log info fail"), ("sync-connection-tracking", "yes")])
def test_vrrp_documented_args(api, arg, value):
    row = vrrp(api, **{arg: value})
    assert str(row[arg]) == {"no": "False", "yes": "True"}.get(value, value)


@pytest.mark.parametrize("field", ["master", "backup", "failure", "invalid", "running",
                                   "mac-address", "mtu"])
def test_vrrp_read_only_fields(api, field):
    trap = expect_trap(api, VRRP + "/add", name=unique("vrrp"), interface="ether2",
                       **{field: "1"})
    assert trap.message == "unknown parameter " + field


# ================================================================================================
# netwatch


def test_netwatch_defaults(api):
    row = by_id(api, NETWATCH, add(api, NETWATCH, host="10.10.0.1", comment=unique()))
    assert row["type"] == "simple"


def test_netwatch_host_is_mandatory(api):
    comment = unique("nw")
    expect_trap(api, NETWATCH + "/add", type="icmp", comment=comment)
    assert rows(api, NETWATCH, "?comment=" + comment) == ()


@pytest.mark.parametrize("kind", ["simple", "icmp", "tcp-conn", "http-get", "https-get", "dns"])
def test_netwatch_types(api, kind):
    row = by_id(api, NETWATCH, add(api, NETWATCH, host="10.10.0.2", type=kind, comment=unique()))
    assert row["type"] == kind


def test_netwatch_bad_type(api):
    trap = expect_trap(api, NETWATCH + "/add", host="10.10.0.3", type="ping")
    assert (trap.message, trap.category) == ("input does not match any value of type", 1)


@pytest.mark.parametrize("arg,value", [
    ("up-script", ":log info up"), ("down-script", ":log info down"),
    ("test-script", ":log info test"), ("interval", "30s"), ("timeout", "2s"),
    ("startup-delay", "5m"), ("start-delay", "10s")])
def test_netwatch_documented_args(api, arg, value):
    extra = {"type": "icmp"} if arg == "test-script" else {}
    row = by_id(api, NETWATCH, add(api, NETWATCH, host="10.10.0.4", comment=unique(),
                                   **{arg: value}, **extra))
    assert row[arg] == value


@pytest.mark.parametrize("field", ["status", "since", "done-tests", "failed-tests"])
def test_netwatch_read_only_fields(api, field):
    trap = expect_trap(api, NETWATCH + "/add", host="10.10.0.5", **{field: "1"})
    assert trap.message == "unknown parameter " + field


# ================================================================================================
# /system/resource and /export


@pytest.mark.parametrize("version", VERSIONS)
def test_system_resource_version_string(versions, version):
    (resource,) = rows(versions.api(version), "/system/resource")
    assert resource["version"] == "%s (stable)" % version


def export_text(api, command="/export"):
    found = [r["ret"] for r in raw(api, command) if "ret" in r]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_export_header_names_the_version(versions, version):
    first = export_text(versions.api(version)).splitlines()[0]
    assert first.startswith("# ") and first.endswith(" by RouterOS %s" % version)


def section(text, header):
    """The lines under one ``/menu`` header of an export (until the next header)."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("/"):
            inside = line == header
            continue
        if inside:
            lines.append(line)
    return lines


def test_export_lists_a_peer_in_its_section(api):
    name = unique("xpeer")
    add(api, PEER, name=name, address="100.71.0.1/32", **{"exchange-mode": "ike2"})
    lines = section(export_text(api), "/ip ipsec peer")
    assert "add address=100.71.0.1/32 exchange-mode=ike2 name=%s" % name in lines


def test_export_leaves_out_the_dynamic_fasttrack_rule(api):
    assert "special dummy rule" not in export_text(api)


def test_export_sets_the_changed_default_profile(api):
    (default,) = [r[".id"] for r in rows(api, "/ip/ipsec/profile", "?name=default")]
    run(api, "/ip/ipsec/profile/set", numbers=default, **{"dpd-interval": "8s"})
    try:
        lines = section(export_text(api), "/ip ipsec profile")
        assert any(line.startswith("set [") and "default=yes" in line
                   and "dpd-interval=8s" in line for line in lines)
    finally:
        run(api, "/ip/ipsec/profile/set", numbers=default, **{"dpd-interval": "2m"})


def test_export_quotes_values_with_spaces(api):
    marker = unique("q")
    add(api, FILTER, chain="forward", action="drop", comment="defconf: " + marker)
    lines = [line for line in section(export_text(api), "/ip firewall filter") if marker in line]
    assert len(lines) == 1 and 'comment="defconf: %s"' % marker in lines[0]


def test_export_leaves_out_dynamic_items(api):
    address, name = remote(), unique("dyn")
    add(api, GRE, **tunnel_args(GRE, **{"name": name, "remote-address": address,
                                        "ipsec-secret": "dyn", "allow-fast-path": "no"}))
    assert len(dynamic_ipsec_for(api, address)[0]) == 1
    timed = unique("timed")
    add(api, "/ip/firewall/address-list", list=timed, address="192.0.2.140", timeout="1h")
    text = export_text(api)
    for header in ("/ip ipsec peer", "/ip ipsec identity", "/ip ipsec policy"):
        assert not [line for line in section(text, header)
                    if address in line or "peer=%s " % name in line + " "], header
    assert timed not in text


@pytest.mark.parametrize("version", VERSIONS)
def test_device_mode_has_an_ipsec_flag(versions, version):
    # §2: "in 7.22.2 /system/device-mode has an ipsec flag"; every inspect tree 7.12.2..7.24 has
    # /system/device-mode (export, get, print, update) with update ipsec=
    (row,) = rows(versions.api(version), "/system/device-mode")
    assert "ipsec" in row


def test_export_shows_action_accept_of_filter_rules(api):
    comment = unique("xfilter")
    add(api, FILTER, chain="input", action="accept", protocol="udp",
        **{"dst-port": "500,4500", "comment": comment})
    lines = [line for line in section(export_text(api), "/ip firewall filter") if comment in line]
    assert len(lines) == 1
    assert "action=accept" in lines[0].split()


def test_policy_with_peer_exports_sa_addresses_as_unspecified(api):
    # §2 (FIELD, ambiguous): "When peer= is used they [sa-src/sa-dst] read back as :: in v7 exports"
    peer = unique("sa")
    add(api, "/ip/ipsec/peer", name=peer, address="100.72.0.1/32")
    add(api, "/ip/ipsec/policy", peer=peer, tunnel="yes",
        **{"src-address": "10.74.0.0/24", "dst-address": "10.75.0.0/24"})
    (line,) = [l for l in section(export_text(api), "/ip ipsec policy") if "peer=%s " % peer in l + " "]
    assert "sa-dst-address=::" in line.split() and "sa-src-address=::" in line.split()
