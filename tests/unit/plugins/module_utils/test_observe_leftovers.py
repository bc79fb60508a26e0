"""Leftovers (observe.drift.leftovers): the owned items a drift says the intent no longer has, with
the tunnels their keys name; how report.html_report lists them."""
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import drift
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import report


def entry(menu, key, what="not in the intent"):
    return {"section": menu.rsplit("/", 1)[1], "menu": menu, "key": key, "what": what}


def test_tunnel_of_key():
    assert drift.tunnel_of_key("peer/hq-b7") == "hq-b7"
    assert drift.tunnel_of_key("peer/hq-b7/backup") == "hq-b7"
    assert drift.tunnel_of_key("policy/hq-b7/1a2b3c4d") == "hq-b7"
    assert drift.tunnel_of_key("route/gre-1/0011aabb") == "gre-1"
    assert drift.tunnel_of_key("ha/hq-b7/primary") == "hq-b7"
    for shared in ("peer/dynamic", "proposal/aes256gcm", "fw-peer-198.51.100.12", "peer", "ipsecfleet-p1"):
        assert drift.tunnel_of_key(shared) is None, shared


def test_leftovers_name_the_tunnels_not_in_the_intent():
    entries = [entry("/ip/ipsec/peer", "peer/old"), entry("/ip/ipsec/policy", "policy/old/1a2b3c4d"),
               entry("/ip/firewall/address-list", "fw-peer-198.51.100.12"),
               entry("/ip/ipsec/identity", "identity/kept", what="changed")]
    found = drift.leftovers(entries, ["kept"], named=False)
    assert found["count"] == 3 and found["tunnels"] == ["old"] and not found["named"]
    assert found["items"][0] == "/ip/ipsec/peer peer/old: not in the intent"
    assert found["message"].startswith("3 owned item(s) of tunnel(s) not in the intent (old)")
    assert "run playbooks/decommission.yml -l <router>" in found["message"]
    named = drift.leftovers(entries[2:], ["kept"])
    assert named["tunnels"] == [] and named["count"] == 1
    assert named["message"] == "1 owned item(s) the intent no longer has; site.yml removes them"


def test_no_leftovers():
    found = drift.leftovers([entry("/ip/ipsec/peer", "peer/kept", what="missing")], ["kept"])
    assert found == {"items": [], "tunnels": [], "count": 0, "named": True, "message": ""}


def test_report_lists_leftovers_of_named_and_unnamed_routers():
    left = drift.leftovers([entry("/ip/ipsec/peer", "peer/old")], [], named=False)
    html = report.html_report([{"host": "hub", "tunnels": [], "leftovers": drift.leftovers([], [])}],
                              leftovers=[{"host": "b7", "leftovers": left}, {"_host": "b8", "skipped": True}])
    assert '<table id="leftovers"' in html
    assert '<td class="host">b7</td><td class="tunnels">old</td>' in html
    assert "run playbooks/decommission.yml -l b7" in html and "b8" not in html
    assert '<p id="leftovers">no leftovers' in report.html_report([], leftovers=[])
