"""docs/from-the-guide.md: every intent it shows (each yaml block with ipsec_tunnels) validates
for the two routers it describes, and every command block of the seed guide it discusses is
quoted there."""
import os
import re

import yaml

from ansible_collections.ipsecfleet.routeros.plugins.filter import ipsec_plan

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "docs", "from-the-guide.md")
PSK = "from-the-guide-test-key-0123456789"
HOSTVARS = {
    "hq-gw": {"inventory_hostname": "hq-gw", "ipsec_wan_address": "198.51.100.1",
              "ipsec_lan_prefixes": ["192.168.10.0/24"], "routeros_version": "7.22.2"},
    "branch-gw": {"inventory_hostname": "branch-gw", "ipsec_wan_address": "203.0.113.50",
                  "ipsec_lan_prefixes": ["192.168.20.0/24"], "routeros_version": "7.22.2"},
}


def blocks(kind):
    with open(DOC) as handle:
        text = handle.read()
    return re.findall(r"```%s\n(.*?)```" % kind, text, re.S)


def test_every_intent_on_the_page_validates():
    intents = [yaml.safe_load(b.replace("{{ vault_psk_hq_branch }}", PSK)) for b in blocks("yaml")
               if "ipsec_tunnels:" in b]
    assert len(intents) >= 4
    for intent in intents:
        summary = ipsec_plan.ipsec_validate(intent["ipsec_tunnels"], HOSTVARS)
        assert sorted(summary["hosts"]) == ["branch-gw", "hq-gw"], intent
        assert PSK not in repr(summary)


def test_the_guide_errors_are_named():
    with open(DOC) as handle:
        text = handle.read()
    for wrong in ("/interface ipsec", "peer-address", "remote-peers", "sa-dst-address", "Backup IPsec peer"):
        assert wrong in text, wrong
