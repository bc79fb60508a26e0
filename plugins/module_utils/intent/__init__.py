# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tunnel intent — the first stage of intent -> plan -> apply -> observe.

Inputs are the inventory variables (plain data, or Ansible's lazy ``hostvars``); outputs are
normalised ``Tunnel`` objects or an ``IntentError`` naming the tunnel (or topology, or host) and the
field. Nothing here touches a router. The package's parts, in the order they build on each other:

- ``schema``: the field table (kinds, defaults, choices, ranges) that validation and the docs share;
- ``values``: scalar parsing (durations, versions, prefixes, addresses, secrets, host variables);
- ``crypto_suites``: presets and custom suites against what RouterOS accepts;
- ``model``: ``Endpoint``/``Tunnel`` and ``normalize_tunnel``;
- ``topologies``: hub_and_spoke / full_mesh expansion;
- ``fleet``: ``FleetIndex`` (every tunnel indexed once) and the checks between a host's tunnels.

This module re-exports the names callers use, so ``intent.FleetIndex`` reads as one API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.device.values import format_duration  # noqa: F401
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.fleet import (  # noqa: F401
    FleetIndex,
    check_host,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.model import (  # noqa: F401
    Endpoint,
    Tunnel,
    check_name,
    endpoint_host,
    normalize_tunnel,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.schema import (  # noqa: F401
    BACKUP_FIELDS,
    DESCRIPTION_MAX,
    DPD_MAX_SECONDS,
    ENDPOINT_FIELDS,
    FAILOVER_FIELDS,
    FEATURE_VERSIONS,
    HOST_VARS,
    LIFETIME_MAX_SECONDS,
    LIFETIME_MIN_SECONDS,
    MIN_ROUTEROS,
    NAME_MAX,
    NAME_RE,
    PSK_MIN_LENGTH,
    TOPOLOGY_FIELDS,
    TOPOLOGY_NAME_MAX,
    TOPOLOGY_TUNNEL_EXCLUDED,
    TUNNEL_FIELDS,
    VRRP_FIELDS,
    Field,
    IntentError,
    parse_duration,
    tunnel_scope,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.topologies import (  # noqa: F401
    expand_topologies,
    generated_name,
)
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent.values import (  # noqa: F401
    HostVarRef,
    HostvarsCache,
    check_secret,
    host_exists,
    host_var,
    host_version,
    parse_address,
    parse_prefix,
    parse_version,
)
