# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout health gate (playbooks/rollout.yml) as pure functions over gathered state.

After a batch of routers converged, the gate waits for every tunnel of the batch whose other end
has also been rolled out: an established IKE peer (``/ip/ipsec/active-peers``) and a mature SA
each way (``/ip/ipsec/installed-sa``) at BOTH ends. A tunnel whose other end comes in a later
batch is pending: it is reported, not waited for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch


def _address(value):
    """An address as RouterOS prints it in active-peers / installed-sa, without a NAT-T port."""
    text = str(value or "")
    if text.count(":") == 1:  # IPv4 with port (198.51.100.1:4500); IPv6 has several colons
        return text.split(":", 1)[0]
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:4500
        return text[1:text.index("]")]
    return text


def gate_checks(tunnels, host, rolled):
    """What the gate waits for after ``host`` converged.

    ``tunnels``: ``ipsec_validate``'s ``tunnels`` (name, a, b, a_address, b_address,
    a_local_address, b_local_address); ``rolled``: the routers converged so far (this batch
    included). Returns ``{"checks": [...], "pending": [...]}``: one check per tunnel end (router,
    tunnel, local and remote address) of every tunnel of ``host`` whose other end was rolled out,
    and the names of the tunnels whose other end was not.
    """
    rolled = set(rolled or ())
    checks, pending = [], []
    for tunnel in tunnels or ():
        if host not in (tunnel["a"], tunnel["b"]):
            continue
        other = tunnel["b"] if tunnel["a"] == host else tunnel["a"]
        if other not in rolled:
            pending.append({"tunnel": tunnel["name"], "router": other})
            continue
        for end, far in (("a", "b"), ("b", "a")):
            checks.append({"tunnel": tunnel["name"], "router": tunnel[end], "remote_router": tunnel[far],
                           "local": tunnel.get(end + "_local_address") or tunnel[end + "_address"],
                           "remote": tunnel[far + "_address"]})
    return {"checks": checks, "pending": pending}


def tunnels_down(checks, router, peers=None, sas=None):
    """The problems of ``router``'s ends among ``checks``, given its printed rows.

    ``peers``: ``/ip/ipsec/active-peers`` rows (None: not read, not checked); ``sas``:
    ``/ip/ipsec/installed-sa`` rows (None: not checked). Returns one text per problem, naming the
    tunnel, the router and the address; an empty list means every end of ``router`` is up.
    """
    problems = []
    established = set()
    for row in peers or ():
        if row.get("state") == "established":
            established.add(_address(row.get("remote-address")))
    mature = set()
    for row in sas or ():
        if row.get("state") == "mature":
            mature.add((_address(row.get("src-address")), _address(row.get("dst-address"))))
    for check in checks or ():
        if check["router"] != router:
            continue
        where = "tunnel %s at %s" % (check["tunnel"], router)
        if peers is not None and check["remote"] not in established:
            problems.append("%s: IKE not established with %s" % (where, check["remote"]))
        if sas is not None:
            for src, dst in ((check["local"], check["remote"]), (check["remote"], check["local"])):
                if (src, dst) not in mature:
                    problems.append("%s: no mature SA %s -> %s" % (where, src, dst))
    return problems


def rollout_order(summary, hosts=None, tunnels=None):
    """The routers of a rollout, in rollout order: the routers with the most tunnels (hubs) first,
    then by name.

    ``summary``: ``ipsec_validate``'s result. ``hosts``: only these routers (None: all of them);
    ``tunnels``: only routers that end a tunnel whose name matches one of these shell patterns
    (a list or a comma-separated string; None, "" or "*": every tunnel).
    """
    if isinstance(tunnels, str):
        tunnels = [t.strip() for t in tunnels.split(",") if t.strip()]
    per_host = dict((host, counts.get("peers", 0)) for host, counts in summary["hosts"].items())
    chosen = set(per_host)
    if hosts is not None:
        chosen &= set(hosts)
    if tunnels and "*" not in tunnels:
        ending = set()
        for tunnel in summary["tunnels"]:
            if any(fnmatch.fnmatchcase(tunnel["name"], pattern) for pattern in tunnels):
                ending.update((tunnel["a"], tunnel["b"]))
        chosen &= ending
    return sorted(chosen, key=lambda host: (-per_host[host], host))
