"""Engine-against-the-lab fixtures: roslab routers on free 127.0.0.1 ports, the checkout importable
as ansible_collections.ipsecfleet.routeros (see engine_lab_helpers)."""
import os
import sys

import pytest
# the lab is a test dependency (make setup installs it): a broken lab import fails, never skips
from roslab import control

sys.path.insert(0, os.path.dirname(__file__))

from engine_lab_helpers import HUB_AND_SPOKES  # noqa: E402


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = control.Lab.from_topology(HUB_AND_SPOKES, base_port=0,
                                    state_dir=str(tmp_path_factory.mktemp("lab")), save_delay=0.05)
    lab.start()
    yield lab
    lab.stop()
