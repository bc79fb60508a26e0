# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Topologies: ``ipsec_topologies`` (hub_and_spoke, full_mesh) expanded into raw tunnels, and the
deterministic names of generated tunnels."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import hashlib
import re

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.model import check_name
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import (
    ENDPOINT_BY_NAME,
    NAME_MAX,
    TOPOLOGY_BY_NAME,
    TOPOLOGY_NAME_MAX,
    TOPOLOGY_TUNNEL_EXCLUDED,
    TUNNEL_BY_NAME,
    IntentError,
    check_known,
    check_type,
    fail,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.values import MISSING, HostVarRef, host_exists, host_var

# --- topologies ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _safe_label(text):
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", label) or "x"


def generated_name(*parts):
    """Deterministic tunnel name from topology and host names, within NAME_MAX."""
    name = "-".join(_safe_label(p) for p in parts)
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()[:8]
    return name[:NAME_MAX - 9].rstrip("-") + "-" + digest


def _group_hosts(scope, field, groups, name):
    if not isinstance(name, str):
        fail(scope, field, "must be a group name, got %s" % type(name).__name__)
    if groups is None or name not in groups:
        fail(scope, field, "unknown group %r" % name)
    hosts = groups[name]
    if not hosts:
        fail(scope, field, "group %r is empty" % name)
    return list(hosts)


def _endpoint_overrides(scope, field, value):
    if value is None:
        return {}
    value = check_type(scope, field, "dict", value)
    for key in value:
        if key == "host":
            fail(scope, field + ".host", "is set by the topology")
        if key not in ENDPOINT_BY_NAME:
            fail(scope, "%s.%s" % (field, key), "unknown endpoint field (known: %s)"
                 % ", ".join(sorted(k for k in ENDPOINT_BY_NAME if k != "host")))
    return value


def expand_topologies(topologies, groups, hostvars, only_host=None):
    """Generated tunnels: a list of (raw tunnel mapping, topology name).

    With ``only_host``, only the tunnels that end on that host are generated (the topologies are still
    checked whole): planning one spoke of a large fleet costs O(its tunnels), not O(fleet).
    """
    if topologies is None:
        return []
    if not isinstance(topologies, (list, tuple)):
        raise IntentError("ipsec_topologies: must be a list, got %s" % type(topologies).__name__)
    generated = []
    seen = set()
    allowed = set(TOPOLOGY_BY_NAME) | (set(TUNNEL_BY_NAME) - set(TOPOLOGY_TUNNEL_EXCLUDED))
    for index, topo in enumerate(topologies):
        if not isinstance(topo, dict):
            raise IntentError("ipsec_topologies[%d]: must be a mapping" % index)
        name = topo.get("name")
        scope = "topology '%s'" % (name if isinstance(name, str) else "#%d" % index)
        if name is None:
            fail(scope, "name", "is required")
        check_name(scope, "name", name, TOPOLOGY_NAME_MAX)
        if name in seen:
            fail(scope, "name", "is used by two topologies")
        seen.add(name)
        check_known(scope, topo, allowed, "topology")
        kind = topo.get("type")
        defaults = dict((k, v) for k, v in topo.items() if k in TUNNEL_BY_NAME)
        auth = defaults.get("auth")
        if kind == "hub_and_spoke":
            for unused in ("members", "member_endpoint"):
                if unused in topo:
                    fail(scope, unused, "belongs to full_mesh, not hub_and_spoke")
            generated.extend(_expand_hub_and_spoke(scope, name, topo, defaults, auth, groups, hostvars, only_host))
        elif kind == "full_mesh":
            for unused in ("hub", "spokes", "hub_endpoint", "spoke_endpoint"):
                if unused in topo:
                    fail(scope, unused, "belongs to hub_and_spoke, not full_mesh")
            if isinstance(auth, dict) and "psk_var" in auth:
                fail(scope, "auth.psk_var", "is only valid in a hub_and_spoke topology (a mesh tunnel "
                     "has no spoke); give auth.psk")
            members = _group_hosts(scope, "members", groups, topo.get("members"))
            if len(set(members)) < 2:
                fail(scope, "members", "group %r needs at least two hosts for a mesh" % topo["members"])
            overrides = _endpoint_overrides(scope, "member_endpoint", topo.get("member_endpoint"))
            ordered = sorted(set(members))
            n = len(ordered)
            for i, left in enumerate(ordered):
                if only_host is not None and only_host != left and only_host not in ordered[i + 1:]:
                    continue
                for j in range(i + 1, n):
                    right = ordered[j]
                    if only_host is not None and only_host not in (left, right):
                        continue
                    raw = dict(defaults)
                    raw["name"] = generated_name(name, left, right)
                    raw["a"] = dict(overrides, host=left)
                    raw["b"] = dict(overrides, host=right)
                    if "tunnel_pool" in defaults:
                        # the pair's position in the sorted list of every pair of the mesh
                        raw["tunnel_slot"] = i * n - i * (i + 1) // 2 + (j - i - 1)
                    generated.append((raw, name))
        else:
            fail(scope, "type", "must be hub_and_spoke or full_mesh, got %r" % (kind,))
    return generated


def _spoke_slots(scope, spokes, hostvars, only=None):
    """spoke -> its slot in the topology's tunnel_pool: host var ipsec_tunnel_slot, else its position
    among the sorted spokes. Two spokes on one slot are refused (where every spoke is read: the fleet
    and a hub; planning one spoke reads only its own variable)."""
    slots, owners = {}, {}
    for position, spoke in enumerate(spokes):
        if only is not None and spoke != only:
            continue
        pinned = host_var(hostvars, spoke, "ipsec_tunnel_slot")
        if pinned is MISSING or pinned is None:
            slot = position
        else:
            slot = check_type("host '%s'" % spoke, "ipsec_tunnel_slot", "int", pinned)
            if slot < 0:
                fail("host '%s'" % spoke, "ipsec_tunnel_slot", "must be 0 or more, got %d" % slot)
        if slot in owners:
            fail(scope, "tunnel_pool", "spokes %s and %s both take slot %d (set ipsec_tunnel_slot on one of "
                 "them)" % (owners[slot], spoke, slot))
        owners[slot] = spoke
        slots[spoke] = slot
    return slots


def _expand_hub_and_spoke(scope, name, topo, defaults, auth, groups, hostvars, only_host=None):
    hub = topo.get("hub")
    if hub is None:
        fail(scope, "hub", "is required for hub_and_spoke")
    if not isinstance(hub, str):
        fail(scope, "hub", "must be a host or group name, got %s" % type(hub).__name__)
    if groups is not None and hub in groups:
        hubs = _group_hosts(scope, "hub", groups, hub)
    elif host_exists(hostvars, hub):
        hubs = [hub]
    else:
        fail(scope, "hub", "%r is neither an inventory host nor a group" % hub)
    if topo.get("spokes") is None:
        fail(scope, "spokes", "is required for hub_and_spoke")
    spokes = _group_hosts(scope, "spokes", groups, topo["spokes"])
    hub_over = _endpoint_overrides(scope, "hub_endpoint", topo.get("hub_endpoint"))
    spoke_over = _endpoint_overrides(scope, "spoke_endpoint", topo.get("spoke_endpoint"))
    psk_var = auth.get("psk_var") if isinstance(auth, dict) else None
    if psk_var is not None and not isinstance(psk_var, str):
        fail(scope, "auth.psk_var", "must be a host variable name")
    if isinstance(auth, dict) and psk_var is not None and "psk" in auth:
        fail(scope, "auth", "give psk or psk_var, not both")
    hub_set = set(hubs)
    # a hub listed among the spokes is still only a hub
    spoke_set = set(spokes) - hub_set
    if not spoke_set:
        fail(scope, "spokes", "group %r has no host other than the hub" % topo["spokes"])
    backup = defaults.get("backup")
    backup_host = backup.get("host") if isinstance(backup, dict) else None
    slots = None
    if "tunnel_pool" in defaults:
        slots = _spoke_slots(scope, sorted(spoke_set), hostvars,
                             only_host if only_host in spoke_set else None)
    hub_index = dict((h, i) for i, h in enumerate(sorted(hub_set)))
    if only_host is not None and only_host != backup_host:   # a backup router holds every tunnel
        if only_host in hub_set:
            hub_set = set([only_host])
        elif only_host in spoke_set:
            spoke_set = set([only_host])
        else:
            return []
    out = []
    for h in sorted(hub_set):
        for s in sorted(spoke_set):
            raw = dict(defaults)
            raw["name"] = generated_name(name, h, s)
            raw["a"] = dict(hub_over, host=h)
            raw["b"] = dict(spoke_over, host=s)
            if slots is not None:
                # every spoke owns len(hubs) consecutive slots, one per hub: both ends compute the same
                raw["tunnel_slot"] = slots[s] * len(hub_index) + hub_index[h]
            if psk_var is not None:
                tunnel_auth = dict((k, v) for k, v in auth.items() if k != "psk_var")
                # read when the tunnel is validated: planning one spoke must not template every
                # other spoke's secret
                tunnel_auth["psk"] = HostVarRef(s, psk_var)
                raw["auth"] = tunnel_auth
            out.append((raw, name))
    return out
