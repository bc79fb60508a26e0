"""Make the checkout importable as ansible_collections.ipsecfleet.routeros for unit tests."""
import os
import sys

_COLLECTIONS = os.path.join(os.path.dirname(__file__), "..", "..", ".collections")
sys.path.insert(0, os.path.abspath(_COLLECTIONS))
