# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ``HostPlan`` per host and task: the desired owned objects of one router, every section.

The host's tunnels are normalised once (``intent.FleetIndex`` restricted to the host), then each
feature builder reads the ``Tunnel`` model and adds its sections:

    ipsec     profiles, proposals, peers, identities, policies       (plan/ipsec.py)
    firewall  address_lists, raw, filter, nat, mangle + their blocks  (plan/firewall.py)
    ha        scripts, netwatch, vrrp, schedulers: failover switching   (plan/ha.py)
    route_based  gre/ipip interfaces, link addresses, routes          (plan/route_based.py)
    certificates  the fleet CA and the router's certificate          (plan/certificates.py)

A new feature (route-based interfaces, HA scripts, certificates, ...) is one more builder in
``BUILDERS``; the apply engine (apply/converge.py) converges every section the same way.

"Plan" here means the desired objects; the change set the engine computes from them against the
router is an ``apply.reconcile`` plan of operations.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent as intent_model
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device import menus
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import certificates as certificates_builder
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import firewall as firewall_builder
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ha as ha_builder
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import ipsec as ipsec_builder
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import remote_access as remote_access_builder
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import route_based as route_based_builder


class HostPlan(object):
    """The desired owned objects of one router, by section (menus.MENUS_BY_SECTION)."""

    def __init__(self, host, tunnels):
        self.host = host
        self.tunnels = list(tunnels)       # validated intent.Tunnel objects ending on the host
        self.sections = {}                 # section -> ordered module-format items
        self.blocks = {}                   # firewall item key -> placement block
        self.warnings = []
        self.notes = {}                    # builder facts worth reporting (e.g. the MSS and why)

    def add_section(self, section, items):
        if section not in menus.MENUS_BY_SECTION:
            raise ValueError("unknown section %r" % section)
        self.sections[section] = list(items)

    def subset(self, sections):
        """The desired items of ``sections`` only (what one role's task converges)."""
        return dict((s, self.sections.get(s, [])) for s in sections)


def build_ipsec(plan, options):
    certificate = certificates_builder.certificate_name(plan.host, plan.tunnels, options.get("pki")) \
        if certificates_builder.uses_certificates(plan.tunnels) else None
    sections = ipsec_builder.build_plan(plan.host, plan.tunnels, certificate)
    found = _remote_access_items(plan, options)
    if found:
        items, profile, proposal = found
        ipsec_builder.add_dynamic_peer(sections, plan.host, profile, proposal)
        for section in ipsec_builder.PLAN_SECTIONS:
            sections[section].extend(items.get(section, []))
    for section, items in sections.items():
        plan.add_section(section, items)
    for t in plan.tunnels:
        if t.weak_crypto:
            # the opt-in is explicit, but the operator hears about it on every run
            plan.warnings.append("%s: allow_weak_crypto: true applies weak crypto: %s"
                                 % (t.scope, "; ".join(t.weak_crypto)))


def build_firewall(plan, options):
    facts = options.get("firewall_tunnels")
    if facts is None:
        facts = [firewall_builder.facts_of(t, plan.host) for t in plan.tunnels]
        facts += [f for t in plan.tunnels for f in firewall_builder.backup_facts(t, plan.host)]
        ra = options.get("remote_access")
        if ra is not None:
            # road warriors: IKE/NAT-T and ESP from anywhere, the pool <-> split-include traffic as a tunnel's
            facts.append(firewall_builder.TunnelFacts(
                peer_address="0.0.0.0/0", local_prefixes=[str(n) for n in ra.split_include],
                remote_prefixes=[str(ra.pool)], enc_algorithms=tuple(ra.suite.proposal["enc_algorithms"]),
                auth_algorithms=tuple(ra.suite.proposal["auth_algorithms"]), nat_traversal=True))
    fw = firewall_builder.build_plan(facts, options.get("firewall_options") or {},
                                     options.get("firewall_overrides") or {})
    firewall_builder.add_vrrp_rules(fw, [t.vrrp[plan.host].interface for t in plan.tunnels if plan.host in t.vrrp])
    for section, items in fw.sections.items():
        plan.add_section(section, items)
    plan.blocks.update(fw.blocks)
    plan.warnings.extend(fw.warnings)
    if fw.mss is not None:
        plan.notes["mss"] = fw.mss
        plan.notes["mss_explanation"] = fw.mss_explanation


def build_ha(plan, options):
    for section, items in ha_builder.build_plan(plan.host, plan.tunnels).items():
        plan.add_section(section, items)


def build_route_based(plan, options):
    for section, items in route_based_builder.build_plan(plan.host, plan.tunnels).items():
        plan.add_section(section, items)
    tunnels = route_based_builder.notes(plan.host, plan.tunnels)
    if tunnels:
        plan.notes["route_based"] = tunnels


# feature -> (builder, sections it fills), in the order they run
def build_certificates(plan, options):
    plan.add_section("certificates", certificates_builder.build_items(
        plan.host, plan.tunnels, options.get("pki"), force=options.get("remote_access") is not None))


def _remote_access_items(plan, options):
    ra = options.get("remote_access")
    if ra is None:
        return {}
    profile = ipsec_builder.suite_profile(ra.suite)
    proposal = ipsec_builder.suite_proposal(ra.suite)
    certificate = certificates_builder.own_certificate_name(plan.host, options.get("pki"), ra)
    return remote_access_builder.hub_items(ra, profile["name"], proposal["name"], certificate), profile, proposal


def build_remote_access(plan, options):
    """Road-warrior clients on this hub (plan/remote_access.py): its pool and mode-config. Their
    identities, templates and policy group are IPsec items (build_ipsec adds them), so a run of the
    ipsec feature alone keeps them."""
    found = _remote_access_items(plan, options)
    for section in remote_access_builder.SECTIONS:
        plan.add_section(section, found[0].get(section, []) if found else [])


BUILDERS = (
    ("ipsec", build_ipsec, ipsec_builder.PLAN_SECTIONS),
    ("firewall", build_firewall, firewall_builder.SECTIONS),
    ("ha", build_ha, ha_builder.SECTIONS),
    ("route_based", build_route_based, route_based_builder.SECTIONS),
    ("remote_access", build_remote_access, remote_access_builder.SECTIONS),
    ("certificates", build_certificates, certificates_builder.SECTIONS),
)
FEATURE_SECTIONS = dict((name, sections) for name, _build, sections in BUILDERS)
# what each feature converges, in the words of the module docs (tools/gen_module_docs.py writes them
# into ipsec_site's and ipsec_info's ``features`` option; a unit test keeps the keys equal to BUILDERS)
FEATURE_DOCS = {
    "ipsec": "the IPsec menus (phase 1 and 2: profiles, peers, identities, proposals, policies, groups)",
    "firewall": "the C(/ip/firewall) items around them (filter, NAT, raw, mangle, address lists)",
    "ha": "the failover scripts, netwatch, VRRP and schedulers of high-availability tunnels",
    "route_based": ("the GRE/IPIP interfaces, link addresses and static routes of route-based tunnels "
                    "(C(mode=gre) or C(mode=ipip) in the intent)"),
    "remote_access": "the address pool and mode-config of a remote-access hub (C(ipsec_remote_access))",
    "certificates": ("the C(/certificate) entries of certificate-authenticated tunnels (uploaded through "
                     "C(/file) and imported before the IPsec menus change, stale ones removed after them)"),
}


def build_host_plan(host, tunnels, features=None, **options):
    """Run the builders of ``features`` (default: all) over the host's validated tunnels.

    ``options``: ``firewall_options``/``firewall_overrides`` (the ipsec_firewall knobs), and
    ``firewall_tunnels`` (explicit TunnelFacts or option mappings instead of the intent's tunnels).
    Raises intent.IntentError or plan.firewall.PlanError.
    """
    plan = HostPlan(host, tunnels)
    for name, build, _sections in BUILDERS:
        if features is None or name in features:
            build(plan, options)
    return plan


def intent_tunnels(host, tunnels, hostvars, topologies=None, groups=None):
    """The validated tunnels that end on ``host`` (only its own tunnels are expanded and checked)."""
    index = intent_model.FleetIndex(tunnels, hostvars, topologies, groups, only_host=host)
    if not intent_model.host_exists(hostvars, host):
        raise intent_model.IntentError("host '%s': not in the inventory" % host)
    return index.tunnels_of(host)


def plan_from_intent(host, tunnels, hostvars, topologies=None, groups=None, features=None, **options):
    """Normalise the host's intent once and build its HostPlan.

    ``options["pki"]`` may be a callable: given the host's validated tunnels, it returns the PKI
    material (the controller builds certificates only for hosts with certificate tunnels)."""
    validated = intent_tunnels(host, tunnels, hostvars, topologies, groups)
    options.setdefault("remote_access", remote_access_builder.parse(host, hostvars))
    if callable(options.get("pki")):
        wanted = certificates_builder.uses_certificates(validated) or options["remote_access"] is not None
        options["pki"] = options["pki"](validated) if wanted else None
    return build_host_plan(host, validated, features=features, **options)
