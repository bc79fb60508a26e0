"""Constants and helpers shared by the lab's tests.

A normal module, imported by name: ``conftest`` is not importable by tests (tests/unit and
tests/roslab/tests each have one, and only one of them can own the module name).
"""

TWO_ROUTERS = {
    "routers": {
        "hub": {"version": "7.22.2",
                "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                "addresses": [{"address": "198.51.100.1/24", "interface": "ether1"},
                              {"address": "10.10.0.1/24", "interface": "ether2"}]},
        "spoke1": {"version": "7.22.2",
                   "interfaces": [{"name": "ether1"}, {"name": "ether2"}],
                   "addresses": [{"address": "198.51.100.2/24", "interface": "ether1"},
                                 {"address": "10.20.0.1/24", "interface": "ether2"}]},
    },
    "links": [["hub:ether1", "spoke1:ether1"]],
}


def lab_api(lab, name="hub", tls=False, **kwargs):
    """An unmodified librouteros connection to a lab router (admin, empty password)."""
    import librouteros

    ports = lab.ports[name]
    if tls:
        context = lab.client_ssl_context()
        kwargs["ssl_wrapper"] = lambda sock: context.wrap_socket(sock, server_hostname="127.0.0.1")
    kwargs.setdefault("timeout", 10)
    return librouteros.connect(host="127.0.0.1", port=ports["api_ssl" if tls else "api"],
                               username="admin", password="", **kwargs)
