"""MTU/MSS of GRE/IPIP over ESP transport mode: worked examples done by hand (docs/route-based.md)."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import mtu


def test_plain_tunnels_match_routeros_actual_mtu():
    # RouterOS prints actual-mtu 1476 for GRE and 1480 for IPIP on a 1500-byte WAN (reference section 4)
    assert mtu.tunnel_mtu(1500, "gre")[0] == 1476
    assert mtu.tunnel_mtu(1500, "ipip")[0] == 1480


@pytest.mark.parametrize("encapsulation, enc, auth, natt, expected", [
    # 1500 - 20 IP - 8 UDP - 8 ESP - 16 IV - 16 ICV = 1432 -> 1424 (16) - 2 = 1422 - 4 GRE = 1418
    ("gre", "aes-256-cbc", "sha256", True, 1418),
    # 1500 - 20 - 8 - 16 - 16 = 1440 (already aligned) - 2 = 1438 - 4 = 1434
    ("gre", "aes-256-cbc", "sha256", False, 1434),
    # 1500 - 20 - 8 - 8 - 16 tag = 1448 (4-aligned) - 2 = 1446 - 4 = 1442
    ("gre", "aes-256-gcm", "null", False, 1442),
    # same with NAT-T: 1440 - 2 = 1438 - 4 = 1434
    ("gre", "aes-256-gcm", "null", True, 1434),
    # IPIP adds no header: 1446
    ("ipip", "aes-256-gcm", "null", False, 1446),
    # 1500 - 20 - 8 - 8 - 16 - 12 (sha1-96) = 1436 -> 1424 - 2 = 1422 - 4 = 1418
    ("gre", "aes-128-cbc", "sha1", True, 1418),
    # 3des: 8-byte IV and blocks: 1500 - 20 - 8 - 8 - 8 - 12 = 1444 -> 1440 - 2 = 1438 - 0 = 1438
    ("ipip", "3des", "sha1", True, 1438),
])
def test_worked_examples(encapsulation, enc, auth, natt, expected):
    value, explanation = mtu.tunnel_mtu(1500, encapsulation, enc, auth, natt)
    assert value == expected
    assert explanation.endswith("MTU %d" % expected)


def test_ipv6_outer_costs_twenty_more_bytes_before_alignment():
    # 1500 - 40 - 8 - 8 - 16 = 1428 (4-aligned) - 2 = 1426 - 4 = 1422
    assert mtu.tunnel_mtu(1500, "gre", "aes-256-gcm", "null", False, outer_ip_version=6)[0] == 1422


def test_mss_from_mtu_for_both_inner_families():
    assert mtu.mss_for_mtu(1418) == 1378
    assert mtu.mss_for_mtu(1418, inner_ip_version=6) == 1358


def test_worst_pair_of_a_proposal_wins():
    # aes-256-cbc/sha512 (32-byte ICV) is the tightest of these: 1500-20-8-8-16-32 = 1416 -> 1408 - 2 - 4
    value, explanation = mtu.worst_tunnel_mtu(1500, "gre", ["aes-256-gcm", "aes-256-cbc"], ["sha256", "sha512"])
    assert value == 1402
    assert "aes-256-cbc/sha512" in explanation


def test_aead_only_proposal_has_no_separate_icv():
    assert mtu.worst_tunnel_mtu(1500, "gre", ["aes-128-gcm"], [], nat_traversal=False)[0] == 1442


def test_small_wan_mtu_is_refused_with_the_arithmetic():
    with pytest.raises(mtu.MtuError, match="below 576"):
        mtu.tunnel_mtu(600, "gre", "aes-256-cbc", "sha256")


@pytest.mark.parametrize("kwargs, message", [
    ({"encapsulation": "eoip"}, "encapsulation must be one of gre, ipip"),
    ({"encapsulation": "gre", "enc": "rot13"}, "unknown ESP encryption algorithm"),
    ({"encapsulation": "gre", "enc": "aes-256-cbc", "auth": "crc"}, "unknown ESP auth algorithm"),
    ({"encapsulation": "gre", "outer_ip_version": 5}, "outer_ip_version must be 4 or 6"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(mtu.MtuError, match=message):
        mtu.tunnel_mtu(1500, **kwargs)
