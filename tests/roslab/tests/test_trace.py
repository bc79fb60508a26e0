"""Fabric.trace on hand-built routers: the RouterOS packet flow (filter forward, srcnat in
postrouting, the IPsec policy lookup on the post-NAT packet, raw notrack, FastTrack) decides whether
LAN-to-LAN traffic leaves through the tunnel with its own source, or masqueraded and in clear."""

import pytest

from roslab.fabric import Fabric
from roslab.menus import build_router
from roslab.trace import format_trace

HUB_WAN, SPOKE_WAN = "198.51.100.1", "198.51.100.2"
HUB_HOST, SPOKE_HOST = "10.10.0.50", "10.20.0.50"

# RouterOS v7 defconf (reference §3): the filter rules that matter for the path, and its masquerade
DEFCONF_FORWARD = [
    dict(chain="forward", action="accept", ipsec_policy="in,ipsec", comment="defconf: accept in ipsec policy"),
    dict(chain="forward", action="accept", ipsec_policy="out,ipsec", comment="defconf: accept out ipsec policy"),
    dict(chain="forward", action="fasttrack-connection", connection_state="established,related",
         comment="defconf: fasttrack"),
    dict(chain="forward", action="accept", connection_state="established,related,untracked",
         comment="defconf: accept established,related, untracked"),
    dict(chain="forward", action="drop", connection_state="invalid", comment="defconf: drop invalid"),
    dict(chain="forward", action="drop", connection_state="new", connection_nat_state="!dstnat",
         in_interface_list="WAN", comment="defconf: drop all from WAN not DSTNATed"),
]
PLAIN_MASQUERADE = dict(chain="srcnat", action="masquerade", out_interface_list="WAN", comment="masquerade")
DEFCONF_MASQUERADE = dict(chain="srcnat", action="masquerade", ipsec_policy="out,none", out_interface_list="WAN",
                          comment="defconf: masquerade")
# the collection's NAT bypass (docs/firewall.md, fw-nat-bypass), above any masquerade
BYPASS = dict(chain="srcnat", action="accept", ipsec_policy="out,ipsec",
              comment="ipsecfleet:fw-nat-bypass accept out ipsec policy")


def run(router, command, **attributes):
    return router.execute(command, {k.replace("_", "-"): v for k, v in attributes.items()}, [])


def add(router, menu, rule):
    return run(router, "/ip/firewall/%s/add" % menu, **rule).done["ret"]


def tunnel(router, remote_wan, local_lan, remote_lan):
    run(router, "/ip/ipsec/profile/add", name="ike", enc_algorithm="aes-256", hash_algorithm="sha256",
        dh_group="ecp256")
    run(router, "/ip/ipsec/proposal/add", name="esp", enc_algorithms="aes-256-cbc", auth_algorithms="sha256",
        pfs_group="ecp256")
    run(router, "/ip/ipsec/peer/add", name="other", address=remote_wan + "/32", profile="ike", exchange_mode="ike2")
    run(router, "/ip/ipsec/identity/add", peer="other", secret="s3cret")
    return run(router, "/ip/ipsec/policy/add", peer="other", src_address=local_lan, dst_address=remote_lan,
               tunnel="yes", proposal="esp").done["ret"]


def wan_lan_lists(router):
    for name in ("WAN", "LAN"):
        run(router, "/interface/list/add", name=name)
    run(router, "/interface/list/member/add", list="WAN", interface="ether1")
    run(router, "/interface/list/member/add", list="LAN", interface="ether2")


@pytest.fixture
def net():
    build = build_router
    interfaces = [{"name": "ether1"}, {"name": "ether2"}]
    hub = build(name="hub", version="7.22.2", interfaces=interfaces,
                addresses=[{"address": HUB_WAN + "/24", "interface": "ether1"},
                           {"address": "10.10.0.1/24", "interface": "ether2"}])
    spoke = build(name="spoke", version="7.22.2", interfaces=interfaces,
                  addresses=[{"address": SPOKE_WAN + "/24", "interface": "ether1"},
                             {"address": "10.20.0.1/24", "interface": "ether2"}])
    fabric = Fabric({"hub": hub, "spoke": spoke}, [["hub:ether1", "spoke:ether1"]])
    policies = {"hub": tunnel(hub, SPOKE_WAN, "10.10.0.0/24", "10.20.0.0/24"),
                "spoke": tunnel(spoke, HUB_WAN, "10.20.0.0/24", "10.10.0.0/24")}
    for router in (hub, spoke):
        wan_lan_lists(router)
        for rule in DEFCONF_FORWARD:
            add(router, "filter", rule)
    fabric.tick(5)
    assert hub.items("/ip/ipsec/active-peers")[0]["state"] == "established"
    return fabric, hub, spoke, policies


def lan_to_lan(fabric, **kwargs):
    return fabric.trace("hub", HUB_HOST, SPOKE_HOST, "tcp", 443, **kwargs)


def chain_of(result, table, chain):
    return next(entry for entry in result["chains"] if (entry["table"], entry["chain"]) == (table, chain))


def test_masquerade_without_bypass_rewrites_the_source_and_the_packet_leaves_in_clear(net):
    fabric, hub, _spoke, _policies = net
    masquerade = add(hub, "nat", PLAIN_MASQUERADE)
    result = lan_to_lan(fabric)
    nat = chain_of(result, "nat", "srcnat")
    assert (nat["action"], nat["rule"]) == ("masquerade", masquerade)
    assert result["nat"] == "masquerade"
    assert result["src_after_nat"] == HUB_WAN                # the out-interface's address
    assert result["ipsec"] is None                           # no policy holds 198.51.100.1 -> 10.20.0.0/24
    assert result["result"] == "clear"
    assert "no IPsec policy matches 198.51.100.1 -> 10.20.0.50" in result["reason"]
    # the forward chain still saw the pre-NAT packet, which a policy would encrypt
    forward = chain_of(result, "filter", "forward")
    assert forward["comment"] == "defconf: accept out ipsec policy"


def test_collections_bypass_above_the_masquerade_keeps_the_source_and_encrypts(net):
    fabric, hub, _spoke, policies = net
    masquerade = add(hub, "nat", PLAIN_MASQUERADE)
    bypass = run(hub, "/ip/firewall/nat/add", place_before=masquerade, **BYPASS).done["ret"]
    assert hub.items("/ip/firewall/nat")[0][".id"] == bypass
    result = lan_to_lan(fabric)
    assert (chain_of(result, "nat", "srcnat")["rule"], result["nat"]) == (bypass, None)
    assert result["src_after_nat"] == HUB_HOST
    assert result["result"] == "encrypted"
    assert result["ipsec"]["policy"] == policies["hub"]
    outbound = next(sa for sa in hub.items("/ip/ipsec/installed-sa") if sa["src-address"] == HUB_WAN)
    assert result["ipsec"]["sa"] == {"src": HUB_WAN, "dst": SPOKE_WAN, "spi": outbound["spi"],
                                     "peer": "other", "natt": False}


def test_defconf_masquerade_with_ipsec_policy_out_none_spares_tunnel_traffic(net):
    fabric, hub, _spoke, policies = net
    masquerade = add(hub, "nat", DEFCONF_MASQUERADE)
    result = lan_to_lan(fabric)
    nat = chain_of(result, "nat", "srcnat")
    assert nat["rule"] is None and nat["action"] == "accept"   # out,none does not hold for it
    assert result["src_after_nat"] == HUB_HOST and result["result"] == "encrypted"
    assert result["ipsec"]["policy"] == policies["hub"]
    # ... while traffic no policy covers is still masqueraded and leaves in clear
    internet = fabric.trace("hub", HUB_HOST, SPOKE_WAN, "tcp", 443)
    assert (chain_of(internet, "nat", "srcnat")["rule"], internet["src_after_nat"]) == (masquerade, HUB_WAN)
    assert internet["result"] == "clear" and internet["route"]["via"] == "connected"


def test_fasttrack_takes_established_tunnel_traffic_out_of_ipsec_unless_raw_notrack(net):
    fabric, hub, _spoke, policies = net
    add(hub, "nat", DEFCONF_MASQUERADE)
    # a fasttrack rule above defconf's ipsec accepts (the order the manual warns about)
    run(hub, "/ip/firewall/filter/add", chain="forward", action="fasttrack-connection",
        connection_state="established,related", comment="early fasttrack",
        place_before=hub.items("/ip/firewall/filter")[1][".id"])
    assert lan_to_lan(fabric)["result"] == "encrypted"         # new: fasttrack does not match it
    established = lan_to_lan(fabric, state="established")
    assert established["fasttracked"] is True
    assert established["result"] == "clear" and "fasttracked" in established["reason"]
    assert chain_of(established, "filter", "forward")["comment"] == "early fasttrack"
    # raw notrack for the prefix pair: untracked packets are never fasttracked nor NATed
    notrack = add(hub, "raw", dict(chain="prerouting", action="notrack", src_address="10.10.0.0/24",
                                   dst_address="10.20.0.0/24"))
    result = lan_to_lan(fabric, state="established")
    assert chain_of(result, "raw", "prerouting")["rule"] == notrack
    assert result["connection_state"] == "untracked" and result["fasttracked"] is False
    assert chain_of(result, "nat", "srcnat")["action"] == "not-evaluated"
    assert result["result"] == "encrypted" and result["ipsec"]["policy"] == policies["hub"]


def test_a_forward_drop_and_a_missing_sa_are_reported(net):
    fabric, hub, spoke, _policies = net
    drop = run(hub, "/ip/firewall/filter/add", chain="forward", action="drop", dst_address="10.20.0.0/24",
               place_before=hub.items("/ip/firewall/filter")[1][".id"]).done["ret"]
    result = lan_to_lan(fabric)
    assert result["result"] == "dropped" and result["reason"] == "filter forward rule %s" % drop
    assert not any(entry["table"] == "nat" for entry in result["chains"])
    run(hub, "/ip/firewall/filter/remove", **{".id": drop})
    fabric.router_down("spoke")          # the SA goes with the far end
    fabric.tick(300)
    result = lan_to_lan(fabric)
    assert result["result"] == "dropped" and "out-no-states" in result["reason"]


def test_trace_is_a_question_counters_do_not_move(net):
    fabric, hub, _spoke, _policies = net
    add(hub, "nat", PLAIN_MASQUERADE)
    before = [dict(row) for row in hub.items("/ip/firewall/filter")]
    lan_to_lan(fabric)
    assert hub.items("/ip/firewall/filter") == before


def test_input_and_output_paths(net):
    fabric, hub, _spoke, _policies = net
    add(hub, "filter", dict(chain="input", action="accept", protocol="tcp", dst_port="8728",
                            in_interface_list="LAN", comment="api from LAN"))
    drop = add(hub, "filter", dict(chain="input", action="drop", in_interface_list="!LAN"))
    api = fabric.trace("hub", HUB_HOST, "10.10.0.1", "tcp", 8728)
    assert api["path"] == "input" and api["result"] == "local"
    assert chain_of(api, "filter", "input")["comment"] == "api from LAN"
    wan = fabric.trace("hub", SPOKE_WAN, HUB_WAN, "tcp", 8728)
    assert wan["result"] == "dropped" and chain_of(wan, "filter", "input")["rule"] == drop
    # the router's own LAN address to the remote LAN: output chain, the tunnel policy holds it
    own = fabric.trace("hub", "10.10.0.1", SPOKE_HOST, "icmp")
    assert own["path"] == "output" and own["result"] == "encrypted" and own["src_port"] is None
    assert [entry["chain"] for entry in own["chains"]] == ["output", "output", "srcnat"]
    # from its WAN address no policy holds it, and the lab has no default route to take it out
    assert fabric.trace("hub", HUB_WAN, SPOKE_HOST, "icmp")["result"] == "unreachable"
    text = format_trace(api)
    assert text.splitlines()[0].startswith("hub: tcp 10.10.0.50:49152 -> 10.10.0.1:8728 (new), path input")
    assert text.splitlines()[-1] == "local: accepted by filter input"


def test_unknown_state_or_unreachable_destination(net):
    fabric, _hub, _spoke, _policies = net
    with pytest.raises(ValueError):
        lan_to_lan(fabric, state="bogus")
    assert fabric.trace("hub", HUB_HOST, "192.0.2.9", "udp", 53)["result"] == "unreachable"


def test_traffic_from_the_remote_lan_arrives_decrypted_and_goes_to_the_lan_in_clear(net):
    fabric, hub, _spoke, policies = net
    add(hub, "nat", DEFCONF_MASQUERADE)
    result = fabric.trace("hub", SPOKE_HOST, HUB_HOST, "tcp", 22)
    inbound = next(sa for sa in hub.items("/ip/ipsec/installed-sa") if sa["dst-address"] == HUB_WAN)
    assert result["arrived"]["via"] == "ipsec" and result["arrived"]["interface"] == "ether1"
    assert result["arrived"]["policy"] == policies["hub"]
    assert result["arrived"]["sa"]["spi"] == inbound["spi"] and result["arrived"]["sa"]["src"] == SPOKE_WAN
    assert chain_of(result, "filter", "forward")["comment"] == "defconf: accept in ipsec policy"
    # out of the LAN interface: no masquerade (out-interface-list=WAN), no policy, in clear
    assert (result["route"]["out_interface"], result["src_after_nat"], result["result"]) == \
        ("ether2", SPOKE_HOST, "clear")
    assert "decrypted by SA %s -> %s" % (SPOKE_WAN, HUB_WAN) in format_trace(result)
    # a host on the hub's own LAN did not come through the tunnel
    assert lan_to_lan(fabric)["arrived"] == {"via": "interface", "interface": "ether2"}
