"""Shared by the engine's lab tests: repository root, lab topology, a librouteros connection."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if os.path.join(ROOT, ".collections") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, ".collections"))


HUB_AND_SPOKES = {
    "routers": {
        "hub": {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                              {"address": "10.10.0.1/24", "interface": "ether2"}]},
        "spoke1": {"version": "7.22.2", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                   "addresses": [{"address": "198.51.100.11/24", "interface": "ether1"},
                                 {"address": "10.11.0.1/24", "interface": "ether2"}]},
        "spoke2": {"version": "7.18", "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                   "addresses": [{"address": "198.51.100.12/24", "interface": "ether1"},
                                 {"address": "10.12.0.1/24", "interface": "ether2"}]},
    },
    "links": [["hub:ether1", "spoke1:ether1"], ["hub:ether1", "spoke2:ether1"]],
}


def connect(lab, name, timeout=5):
    import librouteros
    return librouteros.connect(host="127.0.0.1", port=lab.ports[name]["api"], username="admin",
                               password="", timeout=timeout)
