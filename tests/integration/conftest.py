"""Engine-against-the-lab fixtures: roslab routers on free 127.0.0.1 ports, the checkout importable
as ansible_collections.ipsecfleet.routeros (see engine_lab_helpers)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from engine_lab_helpers import HUB_AND_SPOKES  # noqa: E402


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    control = pytest.importorskip("roslab.control")
    pytest.importorskip("roslab.menus")
    lab = control.Lab.from_topology(HUB_AND_SPOKES, base_port=0,
                                    state_dir=str(tmp_path_factory.mktemp("lab")), save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()
