"""Shared roslab fixtures: labs started in-process on free ports with a per-test state dir.

    def test_x(lab):             # hub + spoke1 (real routers), started, stopped after the test
        api = connect(lab, "hub")   # `connect` fixture; or the `api` fixture (librouteros, hub)

    def test_y(make_lab):
        lab = make_lab({"routers": {"a": {"version": "7.12.2"}}}, api_ssl=False)
"""

import pytest

from labfixtures import TWO_ROUTERS, lab_api
from roslab.control import Lab
from roslab.menus import build_router


@pytest.fixture
def make_lab(tmp_path):
    """Factory: ``make_lab(topology=None, routers=None, **Lab options)`` -> a started Lab."""
    labs = []

    def make(topology=None, routers=None, **options):
        options.setdefault("state_dir", tmp_path / ("lab%d" % len(labs)))
        options.setdefault("save_delay", 0.05)
        if options.get("router_factory") is None:
            options["router_factory"] = build_router
        if routers is not None:
            lab = Lab.with_routers(routers, base_port=0, **options)
        else:
            lab = Lab.from_topology(topology or TWO_ROUTERS, base_port=0, **options)
        labs.append(lab)
        return lab.start()

    yield make
    for lab in labs:
        lab.stop()


@pytest.fixture
def lab(make_lab):
    return make_lab()


@pytest.fixture(name="connect")
def connect_fixture():
    """``connect(lab, name="hub", tls=False, **librouteros options)``."""
    return lab_api


@pytest.fixture
def api(lab):
    connection = lab_api(lab)
    yield connection
    connection.close()
