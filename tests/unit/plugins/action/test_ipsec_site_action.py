"""ipsec_site fills the options a task leaves out from the inventory variables the roles read, and
refuses to converge a router that ends no tunnel (overridden would empty it)."""
import pytest

from ansible_collections.ipsecfleet.routeros.plugins.action.ipsec_site import INVENTORY_DEFAULTS, inventory_arguments
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply import site_engine
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan


def lookup_in(variables):
    return variables.get


def test_task_arguments_win_over_inventory_variables():
    args = inventory_arguments({"state": "merged", "hostname": "10.0.0.1"},
                               lookup_in({"ipsec_site_state": "deleted", "ansible_host": "192.0.2.1",
                                          "inventory_hostname": "r1"}))
    assert args["state"] == "merged" and args["hostname"] == "10.0.0.1"


def test_connection_follows_the_roles_variables():
    args = inventory_arguments({}, lookup_in({"inventory_hostname": "r1", "ansible_host": "192.0.2.1",
                                              "routeros_api_port": 18728, "routeros_api_tls_port": 18729,
                                              "ipsec_firewall_management_sources": ["127.0.0.1/32"]}))
    assert (args["hostname"], args["port"], args["username"], args["password"]) == ("192.0.2.1", 18728, "admin", "")
    assert args["management_sources"] == ["127.0.0.1/32"]
    assert "state" not in args  # the module's own default (overridden) applies
    tls = inventory_arguments({}, lookup_in({"inventory_hostname": "r1", "ipsec_api_tls": True,
                                             "routeros_api_port": 18728, "routeros_api_tls_port": 18729}))
    assert (tls["hostname"], tls["port"], tls["tls"]) == ("r1", 18729, True)
    explicit = inventory_arguments({}, lookup_in({"inventory_hostname": "r1", "ipsec_api_hostname": "gw.example",
                                                  "ipsec_api_port": 8729, "routeros_api_port": 18728}))
    assert (explicit["hostname"], explicit["port"]) == ("gw.example", 8729)


def test_every_inventory_default_names_a_module_option():
    spec = site_engine.argument_spec()
    assert [option for option, _variable in INVENTORY_DEFAULTS if option not in spec] == []


def test_sections_follow_the_features_in_builder_order():
    assert site_engine.sections_of(["firewall"]) == list(host_plan.FEATURE_SECTIONS["firewall"])
    assert site_engine.sections_of(["firewall", "ipsec"]) == (list(host_plan.FEATURE_SECTIONS["ipsec"])
                                                              + list(host_plan.FEATURE_SECTIONS["firewall"]))


@pytest.mark.parametrize("state", site_engine.CONVERGING_STATES)
def test_a_router_without_tunnels_is_refused_before_connecting(state):
    def connect():
        raise AssertionError("must not connect")
    params = {"state": state, "features": list(site_engine.FEATURES)}
    with pytest.raises(site_engine.SiteError, match="ends no tunnel.*state=deleted"):
        site_engine.run(params, connect, host_plan.HostPlan("lonely", []))
