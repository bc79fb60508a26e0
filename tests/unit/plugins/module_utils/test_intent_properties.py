"""Properties of the intent checks and the plan, on generated inputs."""
import ipaddress

from hypothesis import given, settings, strategies as st

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.fleet import _check_selector_overlaps
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_plan
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import IntentError

from test_intent_fixtures import PSK


class FakeTunnel(object):
    """Just what the overlap check reads: a name and the host's selectors."""

    origin = None

    def __init__(self, name, pairs):
        self.name = name
        self.pairs = pairs

    def selectors(self, host):
        return self.pairs


# small address space so that overlaps are frequent: 10.0.<0..3>.0/<22..26>
prefixes = st.builds(lambda third, length: ipaddress.ip_network("10.0.%d.0/%d" % (third, length), strict=False),
                     st.integers(0, 3), st.integers(22, 26))
tunnels = st.lists(st.lists(st.tuples(prefixes, prefixes), min_size=1, max_size=3), min_size=1, max_size=6)


def brute_force_conflict(groups):
    flat = [(i, src, dst) for i, pairs in enumerate(groups) for src, dst in pairs]
    for x in range(len(flat)):
        for y in range(x + 1, len(flat)):
            if flat[x][1].overlaps(flat[y][1]) and flat[x][2].overlaps(flat[y][2]):
                return True
    return False


@settings(max_examples=300, deadline=None)
@given(tunnels)
def test_sweep_finds_a_conflict_exactly_when_brute_force_does(groups):
    fakes = [FakeTunnel("t%d" % i, pairs) for i, pairs in enumerate(groups)]
    try:
        _check_selector_overlaps("host 'h'", "h", fakes)
        found = False
    except IntentError:
        found = True
    assert found == brute_force_conflict(groups)


sites = st.lists(st.integers(1, 250), min_size=2, max_size=6, unique=True)


@settings(max_examples=40, deadline=None)
@given(sites, st.sampled_from(["full_mesh", "hub_and_spoke"]), st.booleans())
def test_generated_fleets_plan_consistently(numbers, kind, hub_passive):
    hosts = ["site%d" % n for n in numbers]
    hostvars = dict((h, {"ipsec_wan_address": "192.0.2.%d" % n, "ipsec_lan_prefixes": ["10.%d.0.0/16" % n],
                         "routeros_version": "7.22.2"}) for h, n in zip(hosts, numbers))
    groups = {"members": hosts, "hubs": hosts[:1], "spokes": hosts[1:]}
    if kind == "full_mesh":
        topo = {"name": "m", "type": "full_mesh", "members": "members", "auth": {"psk": PSK}}
        expected_tunnels = len(hosts) * (len(hosts) - 1) // 2
    else:
        topo = {"name": "h", "type": "hub_and_spoke", "hub": "hubs", "spokes": "spokes", "auth": {"psk": PSK},
                "hub_endpoint": {"passive": hub_passive}}
        expected_tunnels = len(hosts) - 1
    plans = ipsec_plan.plan_fleet([], hostvars, [topo], groups)  # includes the cross-host consistency proof
    assert sum(len(p["peers"]) for p in plans.values()) == 2 * expected_tunnels
    for host, plan in plans.items():
        # every peer of a host points at another site, each at most once
        addresses = [p["address"] for p in plan["peers"]]
        assert len(set(addresses)) == len(addresses)
        assert hostvars[host]["ipsec_wan_address"] + "/32" not in addresses
        assert all(p["src_address"] == hostvars[host]["ipsec_lan_prefixes"][0] for p in plan["policies"])
        assert plan == ipsec_plan.plan_host(host, [], hostvars, [topo], groups)
