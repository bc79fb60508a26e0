"""Value normalisation: every RouterOS spelling of a value compares equal, different values do not."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import (
    normalize,
    parse_duration,
    same_value,
    to_text,
)


@pytest.mark.parametrize("text,seconds", [
    ("1d", 86400), ("30m", 1800), ("1h30m", 5400), ("2w1d", 15 * 86400), ("8s", 8),
    ("00:30:00", 1800), ("1d 02:00:00", 93600), ("90", 90), ("500ms", 0.5),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "1h30", "disable-dpd"])
def test_parse_duration_rejects(text):
    assert parse_duration(text) is None


def test_booleans_compare_across_spellings():
    for yes in (True, "yes", "true"):
        assert normalize("passive", yes) == "true"
    for no in (False, "no", "false"):
        assert normalize("passive", no) == "false"
    assert normalize("passive", True) != normalize("passive", False)


def test_durations_compare_by_meaning():
    assert normalize("lifetime", "1h30m") == normalize("lifetime", "01:30:00") == normalize("lifetime", 5400)
    assert normalize("lifetime", "1h") != normalize("lifetime", "1d")
    assert normalize("dpd-interval", "disable-dpd") == "disable-dpd"


def test_enum_lists_ignore_order_but_not_content():
    assert normalize("enc-algorithm", "aes-256,aes-128") == normalize("enc-algorithm", ["aes-128", "aes-256"])
    assert normalize("enc-algorithm", "aes-256") != normalize("enc-algorithm", "aes-256,aes-128")


def test_prefixes():
    assert normalize("address", "203.0.113.5") == normalize("address", "203.0.113.5/32")
    assert normalize("src-address", "10.1.0.7/24") == "10.1.0.0/24"
    assert normalize("dst-address", "2001:db8::1") == "2001:db8::1/128"
    assert normalize("src-address", "!10.0.0.0/8") == "!10.0.0.0/8"
    assert normalize("address", "Vpn.Example.net") == "vpn.example.net"
    assert normalize("address", "10.0.0.0/24") != normalize("address", "10.0.1.0/24")


def test_integers_from_librouteros():
    assert normalize("port", 500) == normalize("port", "500")
    assert to_text(500) == "500" and to_text(True) == "yes" and to_text(["a", "b"]) == "a,b"


def test_absent_value_equals_routeros_default():
    assert same_value("/ip/ipsec/peer", "exchange-mode", "main", None)
    assert same_value("/ip/ipsec/peer", "send-initial-contact", True, None)
    assert not same_value("/ip/ipsec/peer", "exchange-mode", "ike2", None)
    assert not same_value("/ip/ipsec/peer", "local-address", "192.0.2.1", None)
