# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet summaries from ipsec_info results: the status table (text), the troubleshooting view of one
tunnel (both ends side by side) and the HTML report - one self-contained file: a topology drawn
here as inline SVG (routers and tunnels coloured by state), the status table, the audit findings
and the drift. No script, no external resource: it renders the same with no network.

Pure functions over the results (dicts as ipsec_info returns them, or a failed task's result).

Kept Python 3.8+ compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
from html import escape as _escape

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.observe import diagnosis

STATUS_COLUMNS = (("router", "router"), ("tunnel", "tunnel"), ("remote_host", "remote"), ("state", "state"),
                  ("uptime", "uptime"), ("sas", "SAs in/out"), ("bytes", "bytes in/out"), ("algorithms", "SA algorithms"),
                  ("last_error", "last error"), ("diagnosis", "diagnosis"))
COLOURS = {"up": "#2e7d32", "down": "#c62828", "unknown": "#9e9e9e"}


def esc(value):
    return _escape("" if value is None else str(value), quote=True)


def _result_host(result, fallback=None):
    return result.get("host") or result.get("_host") or fallback


def status_rows(results):
    """Flat status rows of every router (``results``: ipsec_info results, failed ones included)."""
    rows = []
    for index, result in enumerate(results or []):
        if not isinstance(result, dict):
            continue
        host = _result_host(result, "router %d" % index)
        if "tunnels" not in result:  # an until loop that ran out of retries marks a readable result failed
            rows.append({"router": host, "tunnel": "-", "remote_host": "-", "state": "unreachable", "uptime": "-",
                         "sas": "-", "bytes": "-", "algorithms": "-", "last_error": result.get("msg") or "no result",
                         "diagnosis": "the router could not be read", "up": False})
            continue
        for row in result["tunnels"]:
            rows.append(dict(row, algorithms="; ".join(row.get("algorithms") or []) or "-",
                             sas="%s/%s" % (row.get("sas_in", 0), row.get("sas_out", 0)),
                             bytes="%s/%s" % (row.get("bytes_in", 0), row.get("bytes_out", 0)),
                             diagnosis=row.get("diagnosis") or ("-" if row.get("up") else "no cause found")))
    return rows


def _truncate(text, width):
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[:width - 3] + "..."


def status_table(results, width=60):
    """The fleet status table as lines of text (one per tunnel end, a header first)."""
    rows = status_rows(results)
    cells = [[title for _key, title in STATUS_COLUMNS]]
    for row in rows:
        cells.append([_truncate(row.get(key, "-") if row.get(key) is not None else "-", width)
                      for key, _title in STATUS_COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(STATUS_COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in cells]
    up = sum(1 for row in rows if row.get("up"))
    lines.append("%d of %d tunnel ends up" % (up, len(rows)))
    return lines


def problems(results):
    """'router: tunnel - diagnosis' for every tunnel end that is not up."""
    return ["%s: %s - %s (%s)" % (row["router"], row["tunnel"], row.get("state"), row.get("diagnosis"))
            for row in status_rows(results) if not row.get("up")]


# --- troubleshooting: one tunnel, both ends --------------------------------------------------------

def next_steps(cause, local, remote):
    """RouterOS commands worth running next for a cause (the guide's print commands, corrected for v7)."""
    steps = ['/log print where topics~"ipsec"', "/ip ipsec active-peers print detail"]
    if cause in ("peer_unreachable", "peer_dead", "ike_blocked_by_firewall", "natt_problem", "one_end_only",
                 "not_configured", None):
        steps += ["/ping %s src-address=%s count=3" % (remote, local),
                  "/ip firewall filter print where chain=input",
                  "/tool sniffer quick ip-address=%s port=500,4500" % remote]
    if cause in ("proposal_mismatch_phase1", "psk_mismatch", "identity_mismatch", "identity_missing"):
        steps += ["/ip ipsec profile print detail", "/ip ipsec identity print detail",
                  "/system logging add topics=ipsec,!packet (debug detail names the rejected algorithms)"]
    if cause in ("proposal_mismatch_phase2", "selector_mismatch", "ph2_stuck"):
        steps += ["/ip ipsec policy print detail", "/ip ipsec proposal print detail"]
    if cause in ("esp_not_received", "nat_not_bypassed", "fasttrack_bypass", "mtu_fragmentation"):
        steps += ["/ip ipsec installed-sa print", "/ip ipsec statistics print",
                  "/ip firewall nat print where chain=srcnat", "/ip firewall raw print"]
    return steps


def troubleshoot_lines(tunnel, ends, pair_findings, offline=()):
    """Both ends of ``tunnel`` side by side: ``ends`` = [(host, status row or None, error)], the pair
    diagnosis {host: findings} and the offline findings for the tunnel. Lines of text."""
    fields = (("state", "state"), ("uptime", "uptime"), ("local_address", "address"), ("ph2_states", "ph2-state"),
              ("sas", "SAs in/out"), ("bytes", "bytes in/out"), ("algorithms", "algorithms"),
              ("last_error", "last error"))
    table = [["", ends[0][0], ends[1][0]]]
    for key, title in fields:
        line = [title]
        for _host, row, error in ends:
            if row is None:
                line.append(error or "-")
                continue
            if key == "sas":
                value = "%s/%s" % (row.get("sas_in"), row.get("sas_out"))
            elif key == "bytes":
                value = "%s/%s" % (row.get("bytes_in"), row.get("bytes_out"))
            else:
                value = row.get(key)
                if isinstance(value, list):
                    value = ", ".join(str(v) for v in value) or "-"
            line.append(_truncate(value if value not in (None, "") else "-", 70))
        table.append(line)
    widths = [max(len(str(line[i])) for line in table) for i in range(3)]
    lines = ["tunnel %s" % tunnel] + ["  ".join(str(c).ljust(widths[i]) for i, c in enumerate(line)).rstrip()
                                      for line in table]
    for host, row, _error in ends:
        findings = pair_findings.get(host) or []
        best = diagnosis.primary(findings)
        lines.append("")
        lines.append("%s: %s" % (host, "up" if row and row.get("up") else (best["title"] if best else "no cause found")))
        for item in findings:
            lines.append("  - %s [%s]" % (item["title"], item["cause"]))
            for evidence in item["evidence"][:3]:
                lines.append("      evidence: %s" % _truncate(evidence, 150))
            lines.append("      fix: %s" % item["fix"])
        if row is not None and not row.get("up"):
            lines.append("  next steps on %s:" % host)
            for step in next_steps(best["cause"] if best else None, row.get("local_address"), row.get("remote_address")):
                lines.append("      %s" % step)
    if offline:
        lines.append("")
        lines.append("from the inventory alone:")
        for item in offline:
            lines.append("  - %s: %s" % (item["title"], "; ".join(item["evidence"])))
    return lines


# --- the HTML report ---------------------------------------------------------------------------------

def topology(results):
    """Routers and tunnels for the picture: ({router: state}, [(tunnel, a, b, state)]).

    A tunnel is up when every end that reported says up, down when one says down, unknown when
    no end could be read; a router is down when it could not be read or one of its tunnels is down."""
    routers, tunnels = {}, {}
    for index, result in enumerate(results or []):
        host = _result_host(result, "router %d" % index)
        if "tunnels" not in result:  # an until loop that ran out of retries marks a readable result failed
            routers[host] = "down"
            continue
        routers.setdefault(host, "up")
        for row in result["tunnels"]:
            a, b = sorted((host, row.get("remote_host") or row.get("remote_address")))
            entry = tunnels.setdefault(row["tunnel"], {"a": a, "b": b, "states": []})
            entry["states"].append("up" if row.get("up") else "down")
            routers.setdefault(row.get("remote_host") or row.get("remote_address"), "unknown")
    edges = []
    for name in sorted(tunnels):
        entry = tunnels[name]
        states = entry["states"]
        state = "unknown" if not states else ("up" if all(s == "up" for s in states) else "down")
        edges.append((name, entry["a"], entry["b"], state))
        if state == "down":
            for end in (entry["a"], entry["b"]):
                if routers.get(end) == "up":
                    routers[end] = "degraded"
    return routers, edges


def _layout(routers, edges, size):
    """Positions: the routers with most tunnels (hubs) in the middle, the others on a circle."""
    degree = dict((r, 0) for r in routers)
    for _name, a, b, _state in edges:
        degree[a] = degree.get(a, 0) + 1
        degree[b] = degree.get(b, 0) + 1
    ordered = sorted(routers, key=lambda r: (-degree.get(r, 0), r))
    centre = size / 2.0
    hubs = [r for r in ordered if degree.get(r, 0) > 1 and degree[r] >= max(degree.values()) / 2.0][:8] \
        if len(ordered) > 2 else []
    others = [r for r in ordered if r not in hubs]
    positions = {}
    for i, router in enumerate(hubs):
        angle = 2 * math.pi * i / max(len(hubs), 1)
        radius = 0 if len(hubs) == 1 else size * 0.12
        positions[router] = (centre + radius * math.cos(angle), centre + radius * math.sin(angle))
    for i, router in enumerate(others):
        angle = 2 * math.pi * i / max(len(others), 1) - math.pi / 2
        radius = size * 0.40
        positions[router] = (centre + radius * math.cos(angle), centre + radius * math.sin(angle))
    return positions


def topology_svg(results, size=720):
    routers, edges = topology(results)
    positions = _layout(routers, edges, size)
    small = len(routers) > 60
    node_radius = 5 if small else 14
    parts = ['<svg id="topology" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="tunnel topology">' % (size, size, size, size),
             '<rect width="100%" height="100%" fill="#fafafa"/>']
    for name, a, b, state in edges:
        (x1, y1), (x2, y2) = positions[a], positions[b]
        parts.append('<line class="tunnel %s" data-tunnel="%s" data-state="%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                     'stroke="%s" stroke-width="%d"%s><title>%s: %s</title></line>'
                     % (state, esc(name), state, x1, y1, x2, y2, COLOURS[state], 1 if small else 3,
                        ' stroke-dasharray="6,4"' if state == "down" else "", esc(name), state))
    for router in sorted(routers):
        state = routers[router]
        colour = {"up": COLOURS["up"], "degraded": "#ef6c00", "down": COLOURS["down"]}.get(state, COLOURS["unknown"])
        x, y = positions[router]
        parts.append('<g class="router %s" data-router="%s" data-state="%s"><circle cx="%.1f" cy="%.1f" r="%d" '
                     'fill="%s" stroke="#263238" stroke-width="1"/><title>%s: %s</title>'
                     % (state, esc(router), state, x, y, node_radius, colour, esc(router), state))
        if not small:
            parts.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" font-family="sans-serif">%s</text>'
                         % (x, y + node_radius + 14, esc(router)))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body{font-family:sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin-top:.5em}
th,td{border:1px solid #cfd8dc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eceff1}
tr.up td.state{background:#c8e6c9}tr.down td.state{background:#ffcdd2}
td.sev-critical,td.sev-high{background:#ffcdd2}td.sev-medium{background:#ffe0b2}td.sev-low{background:#fff9c4}
.legend span{display:inline-block;margin-right:1.2em}
.swatch{display:inline-block;width:1em;height:.6em;margin-right:.3em;vertical-align:middle}
.summary{font-size:1em}
"""


def _table(element_id, headers, rows, row_class=None, cell_class=None):
    out = ['<table id="%s"><thead><tr>%s</tr></thead><tbody>'
           % (element_id, "".join("<th>%s</th>" % esc(h) for _k, h in headers))]
    for row in rows:
        css = row_class(row) if row_class else ""
        cells = []
        for key, _title in headers:
            value = row.get(key)
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            cls = cell_class(key, row) if cell_class else key
            cells.append('<td class="%s">%s</td>' % (esc(cls), esc("-" if value in (None, "") else value)))
        out.append('<tr class="%s">%s</tr>' % (esc(css), "".join(cells)))
    out.append("</tbody></table>")
    return "".join(out)


def leftover_rows(results):
    """One row per router with owned items the intent no longer has (ipsec_info ``leftovers``)."""
    rows = []
    for result in results or []:
        found = result.get("leftovers") or {}
        if found.get("count"):
            host = _result_host(result)
            rows.append({"host": host, "tunnels": ", ".join(found.get("tunnels") or []) or "-",
                         "count": found["count"], "items": "; ".join(found.get("items") or []),
                         "message": (found.get("message") or "").replace("<router>", host)})
    return rows


def html_report(results, inventory_findings=(), title="IPsec fleet report", generated=None, leftovers=()):
    """One self-contained HTML page: summary, topology (inline SVG), status table, audit, drift, leftovers
    (of ``results`` and of ``leftovers``: ipsec_info results of routers the intent no longer names)."""
    rows = status_rows(results)
    routers, edges = topology(results)
    down = [e for e in edges if e[3] == "down"]
    audit_rows = []
    for result in results or []:
        for item in ((result.get("audit") or {}).get("findings") or []):
            failing = item in ((result.get("audit") or {}).get("failing") or [])
            audit_rows.append(dict(item, host=_result_host(result), fails="yes" if failing else "no",
                                   owned="collection" if item.get("owned") else "by hand"))
    for item in inventory_findings or ():
        audit_rows.append(dict(item, host=item.get("host") or "inventory", fails=item.get("fails", "-"),
                               owned="inventory"))
    drift_rows = []
    for result in results or []:
        for entry in result.get("drift") or []:
            fields = "; ".join("%s: router %s, intent %s" % (f["field"], f["router"], f["intent"])
                               if f["router"] != "secret differs" else "%s: secret differs" % f["field"]
                               for f in entry.get("fields") or [])
            drift_rows.append({"host": _result_host(result), "menu": entry["menu"], "key": entry["key"],
                               "what": entry["what"], "fields": fields})
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>%s</title><style>%s</style></head><body>" % (esc(title), CSS),
             "<h1>%s</h1>" % esc(title)]
    if generated:
        parts.append('<p class="generated">generated %s</p>' % esc(generated))
    parts.append('<p class="summary" id="summary">%d routers, %d tunnels: %d up, %d down, %d unknown; %d audit findings; '
                 '%d drifted items</p>' % (len(routers), len(edges), sum(1 for e in edges if e[3] == "up"), len(down),
                                           sum(1 for e in edges if e[3] == "unknown"), len(audit_rows), len(drift_rows)))
    parts.append("<h2>Topology</h2>")
    legend = "".join('<span><span class="swatch" style="background:%s"></span>%s</span>' % (COLOURS[s], s)
                     for s in ("up", "down", "unknown"))
    parts.append('<p class="legend">%s</p>' % legend)
    parts.append(topology_svg(results))
    parts.append("<h2>Status</h2>")
    headers = STATUS_COLUMNS[:-2] + (("last_error", "last error"), ("diagnosis", "diagnosis"), ("fix", "fix"))
    parts.append(_table("status", headers, rows, row_class=lambda r: "up" if r.get("up") else "down"))
    parts.append("<h2>Audit</h2>")
    if audit_rows:
        audit_headers = (("host", "router"), ("severity", "severity"), ("rule", "rule"), ("object", "object"),
                         ("owned", "made by"), ("message", "finding"), ("fix", "fix"), ("fails", "fails the run"))
        parts.append(_table("audit", audit_headers, audit_rows,
                            cell_class=lambda key, r: "sev-" + r["severity"] if key == "severity" else key))
    else:
        parts.append('<p id="audit">no findings</p>')
    parts.append("<h2>Drift</h2>")
    if drift_rows:
        parts.append(_table("drift", (("host", "router"), ("menu", "menu"), ("key", "item"), ("what", "what"),
                                      ("fields", "differences")), drift_rows))
    else:
        parts.append('<p id="drift">no drift: every router matches the intent</p>')
    parts.append("<h2>Leftovers</h2>")
    left = leftover_rows(list(results or []) + list(leftovers or []))
    if left:
        parts.append(_table("leftovers", (("host", "router"), ("tunnels", "tunnels not in the intent"),
                                          ("count", "owned items"), ("items", "items"), ("message", "what to do")), left))
    else:
        parts.append('<p id="leftovers">no leftovers: no router carries owned items the intent no longer has</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
