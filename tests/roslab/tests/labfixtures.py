"""Constants and helpers shared by the lab's tests.

A normal module, imported by name: ``conftest`` is not importable by tests (tests/unit and
tests/roslab/tests each have one, and only one of them can own the module name).
"""

import os
import pathlib

import pytest

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
    kwargs.setdefault("username", "admin")
    kwargs.setdefault("password", "")
    return librouteros.connect(host="127.0.0.1", port=ports["api_ssl" if tls else "api"], **kwargs)


def one_router(name="hub"):
    """A lab router (7.22.2) with ether1 on 198.51.100.1/24 and an empty ether2, driven in-process."""
    from roslab.menus import build_router

    return build_router(name, interfaces=[{"name": "ether1"}, {"name": "ether2"}],
                        addresses=[{"address": "198.51.100.1/24", "interface": "ether1"}])


def run(router, command, queries=(), **attrs):
    return router.execute(command, attrs, list(queries))


def add(router, menu, **attrs):
    return router.execute(menu + "/add", attrs, []).done["ret"]


def rows(router, menu, queries=(), **attrs):
    return router.execute(menu + "/print", attrs, list(queries)).rows


# both ends of TWO_ROUTERS' IKEv2 tunnel: router, peer address, local LAN, remote LAN, passive
TUNNEL_ENDS = (("hub", "198.51.100.2", "10.10.0.0/24", "10.20.0.0/24", "yes"),
               ("spoke1", "198.51.100.1", "10.20.0.0/24", "10.10.0.0/24", "no"))


def configure_tunnel(lab):
    """A matching IKEv2 tunnel between hub (passive) and spoke1, configured through each router's
    API by hand (not by the collection)."""
    for name, remote, local_lan, remote_lan, passive in TUNNEL_ENDS:
        api = lab_api(lab, name)
        try:
            api.path("ip", "ipsec", "profile").add(name="ike", **{"enc-algorithm": "aes-256", "dh-group": "ecp256"})
            api.path("ip", "ipsec", "proposal").add(name="esp", **{"pfs-group": "ecp256"})
            api.path("ip", "ipsec", "peer").add(name="other", address=remote + "/32", profile="ike",
                                                passive=passive, **{"exchange-mode": "ike2"})
            api.path("ip", "ipsec", "identity").add(peer="other", secret="lab-secret")
            api.path("ip", "ipsec", "policy").add(peer="other", tunnel="yes", proposal="esp",
                                                  **{"src-address": local_lan, "dst-address": remote_lan})
        finally:
            api.close()


# RouterOS's own reference material (inspect trees) lives in shared/ beside the checkout; CI runs
# with a copy of shared/ there, so a missing tree is a failure in CI and a skip (saying where) only
# on a developer machine without it. ROSLAB_REFERENCE_DIR names another place (a CI that keeps
# shared/ elsewhere).
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
REFERENCE_DIR = pathlib.Path(os.environ.get("ROSLAB_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")


def reference_file(*parts):
    """The path of a reference file under ``../shared/reference``; missing: fail in CI, else skip."""
    path = REFERENCE_DIR.joinpath(*parts)
    if not path.exists():
        message = ("reference material %s not found (shared/reference beside the checkout, or set "
                   "ROSLAB_REFERENCE_DIR)" % path)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
