"""roslab: a RouterOS 7 API emulator for testing the ipsecfleet.routeros collection.

Layers (imports point from the later layers to the earlier ones only):
protocol -> schema -> store -> menus -> script -> fabric -> control (+ cli).
See tests/roslab/README.md for the contract between the layers.
"""

__version__ = "0.1.0"
