# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Observation filters over ipsec_info results and the inventory intent (documented in the .yml files
beside): ipsec_status_table, ipsec_report_html, ipsec_audit_intent, ipsec_offline_check,
ipsec_troubleshoot. The work is in plugins/module_utils/observe."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.errors import AnsibleFilterError

from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent as intent_model
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import audit
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import diagnosis
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import report
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan import host_plan


def _results(value):
    """ipsec_info results as a list; a mapping host -> result names the hosts of failed results too."""
    if isinstance(value, dict):
        value = [dict(result, _host=host) if isinstance(result, dict)
                 else {"_host": host, "failed": True, "msg": "no result"} for host, result in value.items()]
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError("ipsecfleet: expected a list of ipsec_info results, got %s" % type(value).__name__)
    return [dict(r) if isinstance(r, dict) else {"failed": True, "msg": "no result"} for r in value]


def ipsec_status_table(results):
    """The fleet status table, one line per tunnel end."""
    return report.status_table(_results(results))


def ipsec_report_html(results, inventory_findings=None, title="IPsec fleet report", generated=None, leftovers=None):
    """One self-contained HTML page (topology SVG, status, audit, drift, leftovers)."""
    return report.html_report(_results(results), inventory_findings or [], title=title, generated=generated,
                              leftovers=_results(leftovers or {}))


def _intent_of(hostvars, host):
    variables = hostvars[host]
    return variables.get("ipsec_tunnels") or [], variables.get("ipsec_topologies")


def ipsec_audit_intent(ipsec_tunnels, hostvars, topologies=None, groups=None, policy=None):
    """The inventory audit of the whole fleet: {findings, failing, summary}."""
    try:
        rules = audit.load_policy(policy or None)
        tunnels, _per_host = intent_model.FleetIndex(ipsec_tunnels or [], hostvars, topologies, groups).validate_all()
    except (audit.PolicyError, intent_model.IntentError) as exc:
        raise AnsibleFilterError("ipsecfleet: %s" % exc)
    hosts = set(e.host for t in tunnels for e in (t.a, t.b))
    variables = dict((h, dict(hostvars[h])) for h in hosts)
    found = audit.audit_intent(tunnels, variables, rules)
    reported, failing = audit.apply_policy(found, rules)
    for item in reported:
        item["fails"] = "yes" if item in failing else "no"
    return {"findings": reported, "failing": failing, "summary": audit.summary(reported)}


def _digest(secret):
    return hashlib.sha256(("ipsecfleet-offline\0" + (secret or "")).encode("utf-8")).hexdigest()


def ipsec_offline_check(hosts, hostvars, groups=None):
    """Which tunnel ends cannot agree, from each host's own intent variables (no router)."""
    views, problems = {}, []
    for host in hosts:
        raw, topologies = _intent_of(hostvars, host)
        try:
            tunnels = host_plan.intent_tunnels(host, raw, hostvars, topologies, groups)
        except intent_model.IntentError as exc:
            problems.append({"cause": "invalid_intent", "title": "the intent this host is given is invalid",
                             "evidence": [str(exc)], "fix": "fix the inventory", "tunnel": None, "hosts": [host],
                             "peer": None, "severity": "error"})
            continue
        views[host] = dict((t.name, diagnosis.tunnel_facts(t, _digest)) for t in tunnels)
    return problems + diagnosis.offline_check(views)


def ipsec_troubleshoot(results, tunnel, offline=None):
    """Both ends of one tunnel side by side, the pair diagnosis and next steps (lines of text).
    ``results``: the ipsec_info results (raw_state=true) of the tunnel's two ends."""
    results = _results(results)
    ends = []
    for result in results:
        row = next((r for r in result.get("tunnels") or [] if r.get("tunnel") == tunnel), None)
        ends.append((result.get("host") or result.get("_host") or "?", row,
                     result.get("msg") if "tunnels" not in result else None, result))
    if len(ends) != 2:
        raise AnsibleFilterError("ipsecfleet: ipsec_troubleshoot needs the results of the tunnel's two ends, got %d"
                                 % len(ends))
    pair = []
    for index, (host, row, _error, result) in enumerate(ends):
        other_row = ends[1 - index][1]
        local = (row or {}).get("local_address") or (other_row or {}).get("remote_address")
        remote = (row or {}).get("remote_address") or (other_row or {}).get("local_address")
        state = result.get("state")
        selectors = [(p.get("src_address"), p.get("dst_address")) for p in result.get("policies") or []
                     if p.get("peer") == (row or {}).get("peer")]
        pair.append({"host": host, "state": state, "local": local, "remote": remote, "selectors": selectors,
                     "configured": bool(row) and row.get("state") != "not configured"})
    findings = diagnosis.diagnose_tunnel(pair)
    return report.troubleshoot_lines(tunnel, [(h, r, e) for h, r, e, _res in ends], findings,
                                     [f for f in offline or [] if f.get("tunnel") == tunnel])


class FilterModule(object):
    """ipsecfleet.routeros observation filters."""

    def filters(self):
        return {
            "ipsec_status_table": ipsec_status_table,
            "ipsec_report_html": ipsec_report_html,
            "ipsec_audit_intent": ipsec_audit_intent,
            "ipsec_offline_check": ipsec_offline_check,
            "ipsec_troubleshoot": ipsec_troubleshoot,
        }
