"""The fabric's IPsec engine: phase-1 exchanges between lab routers, SAs, children, rekeys, DPD, and
the runtime rows RouterOS shows for them (active-peers, installed-sa, policy ph2-state).

A mixin of ``roslab.fabric.Fabric``: it uses the fabric's network (``route``, ``_exchange``), its
clock and its routers; the negotiation rules themselves are in ``roslab.ike``.
"""

from __future__ import annotations

import ipaddress

from roslab import firewall_eval, ike, schema
from roslab.clock import format_duration, parse_duration
from roslab.ike import Side, log_line, truthy

PHASE1_TIMEOUT = 30.0          # seconds before "phase1 negotiation failed due to time up"
RETRANSMIT = 5.0               # an unanswered IKE exchange is retried this often until the timeout
IKEV2_DPD_RETRIES = 5          # IKEv2 ignores dpd-maximum-failures (reference §2)
NEGOTIATION_RETRY = 30.0       # a refused negotiation (notify) is tried again after this
IPSEC = "/ip/ipsec/"


def _host(spec):
    """The single address of a peer `address` (``1.2.3.4`` or ``1.2.3.4/32``), else None."""
    try:
        network = ipaddress.ip_network(str(spec), strict=False)
    except ValueError:
        return None
    if network.num_addresses != 1:
        return None
    return str(network.network_address)


def _pool_addresses(pool):
    """The addresses of an /ip/pool's ``ranges`` (``a-b`` ranges and prefixes, comma separated)."""
    for part in str(pool.get("ranges", "")).split(","):
        part = part.strip()
        if "-" in part:
            first, last = (ipaddress.ip_address(x) for x in part.split("-", 1))
            while first <= last:
                yield str(first)
                first += 1
        elif part:
            for address in ipaddress.ip_network(part, strict=False).hosts():
                yield str(address)


def _hex(rng, digits):
    return "%0*x" % (digits, rng.getrandbits(4 * digits))


class Child:
    def __init__(self, i_policy, details, spi_i, spi_r, now):
        self.i_policy_id = i_policy[".id"]
        self.r_policy_id = (details["responder_policy"] or details["template"] or {}).get(".id")
        self.details = details
        self.spi_i = spi_i                # SPI of the SA into the initiator (chosen by the initiator)
        self.spi_r = spi_r                # SPI of the SA into the responder
        self.added = now
        self.lifetime = details["lifetime"]
        self.bytes = {"i": 0, "r": 0}     # bytes received by each side through this child
        self.packets = {"i": 0, "r": 0}
        self.ids = {}                     # (router, direction) -> installed-sa .id
        self.rekeys = 0
        self.fingerprint = None


class IkeSa:
    """One phase-1 SA between an initiator router's peer and a responder router."""

    def __init__(self, i_router, i_peer, r_router, outcome, i_addr, r_addr, port, natt, rng, now):
        d = outcome.details
        self.i_router, self.r_router = i_router, r_router
        self.i_peer_name = i_peer["name"]
        self.r_peer_name = d["responder_peer"]["name"]
        self.i_addr, self.r_addr = i_addr, r_addr
        self.port = port
        self.natt = natt
        self.details = d
        self.version = d["version"]
        self.established = now
        self.rekeyed = now
        self.lifetime = d["lifetime"]
        self.spii, self.spir = _hex(rng, 16), _hex(rng, 16)
        self.children = {}                # initiator policy id -> Child
        self.auth_child_done = False      # IKEv2: the IKE_AUTH child has been tried
        self.child_failures = {}          # initiator policy id -> fingerprint already reported
        self.alive = {i_router: True, r_router: True}
        # DPD: when each side stopped hearing the other (None: the peer answers), and its timers
        self.silent_since = {i_router: None, r_router: None}
        self.dpd = {i_router: None, r_router: None}        # (interval, rounds) or None: disabled
        self.ids = {}                     # router -> active-peers .id
        self.fingerprint = None
        self.bytes = {i_router: [0, 0, 0, 0], r_router: [0, 0, 0, 0]}   # rx-bytes, tx-bytes, rx-packets, tx-packets
        # mode-config: what the responder handed the initiator (address, split-include, dns) or None
        self.mode_config = None

    def side(self, router):
        return "i" if router == self.i_router else "r"

    def other(self, router):
        return self.r_router if router == self.i_router else self.i_router

    def peer_name(self, router):
        return self.i_peer_name if router == self.i_router else self.r_peer_name

    def address(self, router):
        return self.i_addr if router == self.i_router else self.r_addr


class Attempt:
    """An initiator's phase-1 exchange in progress (waiting for an answer)."""

    def __init__(self, started, cookie):
        self.started = started
        self.deadline = started + PHASE1_TIMEOUT
        self.next_try = started
        self.cookie = cookie
        self.logged = set()               # failure keys already logged during this attempt
        # what active-peers shows while waiting: state, addresses, the responder's cookie if any
        self.stage = None
        self.where = None
        self.cookie_r = "0000000000000000"
        self.row_id = None


class IpsecMixin:
    """IKE/IPsec between the fabric's routers (see the module docstring)."""

    def _ipsec_times(self):
        for attempt in self.attempts.values():
            yield attempt.next_try
        for when in self.retry_at.values():
            yield when
        for sa in self.sas:
            yield sa.rekeyed + sa.lifetime
            if all(sa.alive.values()):
                for child in sa.children.values():
                    yield child.added + child.lifetime
            for name in sa.alive:
                due = self._dpd_due(sa, name)
                if due is not None:
                    yield due

    def _apply_runtime_removals(self):
        """SAs removed through the API: an IKE SA killed on one end is deleted on both (delete
        notify); a flushed child SA goes and phase 2 is negotiated again (CREATE_CHILD_SA)."""
        removed, self._runtime_removed = self._runtime_removed, set()
        for name, menu in removed:
            present = {row.get(".id") for row in self._items(self.routers[name], menu)}
            for sa in list(self.sas):
                if not sa.alive.get(name):
                    continue
                if menu == IPSEC + "active-peers" and sa.ids.get(name) not in present:
                    self._teardown(sa)
                    continue
                if menu == IPSEC + "installed-sa":
                    for policy_id, child in list(sa.children.items()):
                        ids = [child.ids.get((name, direction)) for direction in ("in", "out")]
                        if any(i is not None and i not in present for i in ids):
                            del sa.children[policy_id]

    def _side(self, name):
        router = self.routers[name]
        menus = {}
        for menu in (IPSEC + "peer", IPSEC + "profile", IPSEC + "proposal", IPSEC + "identity",
                     IPSEC + "policy", "/certificate"):
            menus[menu] = self._items(router, menu)
        # the certificates themselves (PEM), for chain, date and identity checks
        menus["/certificate"] = router.certificate_rows()
        return Side(name, menus, now=router.datetime())

    def _dpd_settings(self, sa, name, side):
        """(dpd-interval seconds, unanswered rounds before the peer is dead) or None (disable-dpd)."""
        peer = side.peer(sa.peer_name(name))
        profile = (side.profile(peer["profile"]) if peer else None) or {}
        value = profile.get("dpd-interval", "8s")
        if value in ("disable-dpd", "0s", "0"):
            return None
        try:
            interval = parse_duration(value)
        except ValueError:
            return None
        rounds = IKEV2_DPD_RETRIES if sa.version == 2 else int(profile.get("dpd-maximum-failures", "4") or 4)
        return interval, rounds

    @staticmethod
    def _dpd_due(sa, name):
        """When ``name`` declares its silent peer dead: ``rounds`` DPD intervals after it went quiet.

        DPD is event-driven in the lab: a side only needs a timer while its peer does not answer
        (a change of links, routers or firewalls makes the fabric look again)."""
        if not sa.alive.get(name) or sa.dpd.get(name) is None or sa.silent_since.get(name) is None:
            return None
        interval, rounds = sa.dpd[name]
        return sa.silent_since[name] + interval * rounds

    def _sa_fingerprint(self, sa, sides):
        def part(side, peer_name):
            peer = side.peer(peer_name)
            if peer is None:
                return None
            profile = side.profile(peer["profile"])
            # configuration only: current-address (a resolved DNS name) is what the fabric writes
            peer = dict((k, v) for k, v in peer.items() if k != "current-address")
            return (sorted(peer.items()), [sorted(i.items()) for i in side.identities(peer_name)],
                    sorted((profile or {}).items()))
        return (part(sides[sa.i_router], sa.i_peer_name), part(sides[sa.r_router], sa.r_peer_name))

    def _initiator_policies(self, side, peer_name):
        out = []
        for policy in side.policies():
            if policy.get("peer") == peer_name and not truthy(policy["template"]) \
                    and policy.get("action") == "encrypt" and not truthy(policy.get("invalid", "false")):
                out.append(policy)
        return out

    @staticmethod
    def _policy_fingerprint(policy):
        runtime = {"ph2-state", "active", "ph2-count", "invalid", "bytes", "packets"}
        return tuple(sorted((k, v) for k, v in (policy or {}).items() if k not in runtime))

    def _prune_sas(self):
        self.sas = [sa for sa in self.sas if any(sa.alive.values())]

    def _kill(self, sa, name, reason_line=None):
        """``name`` drops its half of ``sa`` (killing ike2 SA …)."""
        if not sa.alive.get(name):
            return
        sa.alive[name] = False
        if reason_line:
            self._log(name, reason_line)
        self._log(name, log_line("killing-ike2-sa", peer=sa.peer_name(name), local=sa.address(name),
                                 local_port=sa.port, remote=sa.address(sa.other(name)), remote_port=sa.port,
                                 spii=sa.spii, spir=sa.spir))

    def _teardown(self, sa):
        """Both ends delete the SA (a delete notify reaches the other side)."""
        for name in (sa.i_router, sa.r_router):
            self._kill(sa, name)
        self._prune_sas()

    def _ipsec(self, now):
        sides = {name: self._side(name) for name in self.routers if name not in self.down_routers}
        self._check_sas(now, sides)
        initiating = set()
        for name, side in sides.items():
            for peer in side.rows(IPSEC + "peer", ike.PEER_DEFAULTS):
                if truthy(peer["passive"]):
                    continue
                target = _host(peer.get("address", ""))
                if target is None and peer.get("address") in self.dns:
                    # a DNS name: RouterOS resolves it and shows the result as current-address
                    target = self.dns[peer["address"]]
                    if peer.get("current-address") != target:
                        self.routers[name].set_runtime_props(IPSEC + "peer", peer[".id"], {"current-address": target})
                if target is None:
                    continue      # a subnet, or a name the lab's DNS does not know: it only responds
                key = (name, peer["name"])
                if any(sa.alive.get(name) and sa.peer_name(name) == peer["name"] for sa in self.sas):
                    continue
                if self._held_by_responder(name, peer, target):
                    continue
                initiating.add(key)
                self._initiate(now, name, side, peer, target, sides)
        # peers that stopped initiating (removed, passive, established) forget their exchanges
        for table in (self.attempts, self.retry_at):
            for key in [k for k in table if k not in initiating]:
                del table[key]
        self._prune_sas()

    def _held_by_responder(self, name, peer, target):
        """Another router already initiated to us for this peer pair (one SA per pair)."""
        for sa in self.sas:
            if sa.r_router == name and sa.alive.get(name) and sa.r_peer_name == peer["name"]:
                return True
        return False

    def _initiate(self, now, name, side, peer, target, sides):
        key = (name, peer["name"])
        retry = self.retry_at.get(key)
        if retry is not None and now < retry:
            return
        self.retry_at.pop(key, None)
        attempt = self.attempts.get(key)
        if attempt is None:
            attempt = self.attempts[key] = Attempt(now, _hex(self.rng, 16))
        if now < attempt.next_try:
            return
        local = peer.get("local-address")
        route = self.route(name, target, local or None)
        i_addr = local or (route.src_ip if route else self._source_for(name, target))
        if not side.identities(peer["name"]):
            # RouterOS checks its own identity before sending anything
            self._log(name, log_line("initiator-no-identity", peer=peer["name"]))
            del self.attempts[key]
            self.retry_at[key] = now + NEGOTIATION_RETRY
            return
        port = int(peer.get("port", "500") or 500)
        ok, failed = (False, None)
        if route is not None and port in (500, 4500):
            ok, failed = self._exchange(name, target, i_addr, "udp", port)
        if ok and route.dst_router in sides:
            self._negotiate(now, name, side, peer, target, i_addr, route, sides, attempt, port)
            return
        self._wait(now, key, attempt, "message-1-sent", i_addr or "0.0.0.0", 500, target, port)

    def _wait(self, now, key, attempt, stage, local, local_port, remote, remote_port):
        """No answer (yet): retransmit until the phase-1 timeout, then log `time up` and start over."""
        if now >= attempt.deadline:
            self._log(key[0], log_line("time-up", local=local, local_port=local_port, remote=remote,
                                       remote_port=remote_port, cookie_i=attempt.cookie, cookie_r=attempt.cookie_r))
            attempt = self.attempts[key] = Attempt(now, _hex(self.rng, 16))
            attempt.next_try = now + RETRANSMIT
            return
        attempt.stage = stage
        attempt.where = (local, remote, remote_port)
        attempt.next_try = min(now + RETRANSMIT, attempt.deadline)

    def _negotiate(self, now, name, side, peer, target, i_addr, route, sides, attempt, port):
        key = (name, peer["name"])
        r_name = route.dst_router
        r_side = sides[r_name]
        outcome = ike.negotiate_phase1(side, peer, i_addr, r_side, target, 500, 500)
        if not outcome.ok:
            for line in outcome.responder_logs:
                if (r_name, line) not in attempt.logged:
                    self._log(r_name, line)
                    attempt.logged.add((r_name, line))
            if outcome.silent:
                # the initiator hears nothing more: it retransmits until `time up`. With no
                # matching peer the responder never answered; after a failed IKEv1 authentication
                # it answered the first exchanges (its cookie is known)
                if outcome.failure != "no-peer" and attempt.cookie_r == "0000000000000000":
                    attempt.cookie_r = _hex(self.rng, 16)
                stage = "message-1-sent" if outcome.failure == "no-peer" else "message-3-sent"
                self._wait(now, key, attempt, stage, i_addr, 500, target, port)
                return
            for line in outcome.initiator_logs:
                self._log(name, line)
            del self.attempts[key]
            self.retry_at[key] = now + NEGOTIATION_RETRY
            return
        natt = False
        if name in self.nat or r_name in self.nat:
            natt = outcome.details["nat_traversal"]
            if natt:
                ok, _failed = self._exchange(name, target, i_addr, "udp", 4500)
                if not ok:
                    if attempt.cookie_r == "0000000000000000":
                        attempt.cookie_r = _hex(self.rng, 16)
                    self._wait(now, key, attempt, "message-3-sent", i_addr, 4500, target, 4500)
                    return
        del self.attempts[key]
        # the responder replaces what it still holds for this peer (initial contact)
        for old in list(self.sas):
            if {old.i_router, old.r_router} == {name, r_name} and \
                    old.peer_name(r_name) == outcome.details["responder_peer"]["name"]:
                for end in (old.i_router, old.r_router):
                    old.alive[end] = False
        self._prune_sas()
        sa = IkeSa(name, peer, r_name, outcome, i_addr, target, 4500 if natt else 500, natt, self.rng, now)
        sa.fingerprint = self._sa_fingerprint(sa, sides)
        self.sas.append(sa)
        for line in outcome.responder_logs:
            self._log(r_name, line)
        self._log_established(sa)
        self._assign_mode_config(sa)
        self._children(now, sa, sides)

    def _assign_mode_config(self, sa):
        """Mode-config (routeros7-behaviour.md §2): a responder identity naming a ``responder=yes``
        mode-config hands an initiator that requests one (identity ``mode-config=request-only``) an
        address from its ``address-pool`` (or its fixed ``address``), the split-include prefixes and
        DNS. The lowest free address of the pool, per responder; none left: no address."""
        r_identity = sa.details["responder_identity"]
        i_identity = sa.details["initiator_identity"]
        name = r_identity.get("mode-config", "none")
        if name in (None, "", "none") or i_identity.get("mode-config", "none") in (None, "", "none"):
            return
        responder = self.routers[sa.r_router]
        config = next((row for row in self._items(responder, IPSEC + "mode-config")
                       if row.get("name") == name and truthy(row.get("responder", "false"))), None)
        if config is None:
            return
        taken = set(other.mode_config["address"] for other in self.sas
                    if other is not sa and other.r_router == sa.r_router and other.mode_config
                    and any(other.alive.values()))
        address = config.get("address")
        if not address:
            pool = next((row for row in self._items(responder, "/ip/pool")
                         if row.get("name") == config.get("address-pool")), None)
            address = next((a for a in _pool_addresses(pool) if a not in taken), None) if pool else None
            if address is None:
                self._log(sa.r_router, log_line("mode-config-pool-empty", name=config.get("address-pool")))
                return
        split = [p for p in str(config.get("split-include", "")).split(",") if p] or ["0.0.0.0/0"]
        dns = [d for d in str(config.get("static-dns", "")).split(",") if d]
        sa.mode_config = {"address": address, "split": split, "dns": dns}

    def _mode_config_policies(self, side, sa):
        """The initiator's policies generated from a mode-config reply: its address to each
        split-include prefix, from the template of its identity's policy-template-group."""
        identity = sa.details["initiator_identity"]
        if not sa.mode_config or identity.get("generate-policy", "no") == "no":
            return []
        group = identity.get("policy-template-group", "default")
        template = next((p for p in side.policies() if truthy(p["template"]) and p.get("group", "default") == group),
                        {})
        out = []
        for prefix in sa.mode_config["split"]:
            out.append({".id": "mode-config:%s:%s" % (sa.mode_config["address"], prefix),
                        "src-address": sa.mode_config["address"] + "/32", "dst-address": prefix, "tunnel": "true",
                        "proposal": template.get("proposal", "default"), "action": "encrypt", "dynamic": "true"})
        return out

    def _log_established(self, sa):
        for name, label in ((sa.i_router, "I"), (sa.r_router, "R")):
            values = dict(peer=sa.peer_name(name), local=sa.address(name), local_port=sa.port,
                          remote=sa.address(sa.other(name)), remote_port=sa.port, spii=sa.spii, spir=sa.spir)
            if sa.version == 2:
                self._log(name, log_line("new-ike2-sa", side=label, **values))
            else:
                self._log(name, log_line("ph1-established-v1", **values))

    def _children(self, now, sa, sides):
        """Negotiate phase 2 for every initiator policy without a current child SA."""
        i_side, r_side = sides[sa.i_router], sides[sa.r_router]
        policies = self._initiator_policies(i_side, sa.i_peer_name) + self._mode_config_policies(i_side, sa)
        wanted = {policy[".id"]: policy for policy in policies}
        r_policies = {p[".id"]: p for p in r_side.policies()}
        for policy_id in list(sa.children):
            child = sa.children[policy_id]
            current = self._child_fingerprint(i_side, wanted.get(policy_id), r_side,
                                              r_policies.get(child.r_policy_id))
            if policy_id not in wanted or current != child.fingerprint:
                del sa.children[policy_id]
        for policy_id, policy in wanted.items():
            if policy_id in sa.children:
                continue
            # IKEv2: the first child rides IKE_AUTH (no PFS exchange); later ones are CREATE_CHILD_SA
            first_child = sa.version == 2 and not sa.auth_child_done
            sa.auth_child_done = True
            outcome = ike.negotiate_child(i_side, policy, r_side, sa.details, sa.i_addr, sa.r_addr,
                                          first_child=first_child)
            matched = (outcome.details or {}).get("responder_policy") or (outcome.details or {}).get("template")
            fingerprint = self._child_fingerprint(i_side, policy, r_side, matched)
            if outcome.ok:
                child = Child(policy, outcome.details, "0x%08X" % self.rng.getrandbits(32),
                              "0x%08X" % self.rng.getrandbits(32), now)
                child.fingerprint = fingerprint
                sa.children[policy_id] = child
                sa.child_failures.pop(policy_id, None)
                for line in outcome.responder_logs:
                    self._log(sa.r_router, line)
                if sa.version == 1:
                    self._log(sa.i_router, log_line("ph2-established-v1", mode="Tunnel" if child.details["tunnel"]
                                                    else "Transport", remote=sa.r_addr, remote_port=sa.port,
                                                    local=sa.i_addr, local_port=sa.port, spi=child.spi_i))
                continue
            failure_key = (fingerprint, tuple(sorted(r_policies)))
            if sa.child_failures.get(policy_id) == failure_key:
                continue
            sa.child_failures[policy_id] = failure_key
            for line in outcome.responder_logs:
                self._log(sa.r_router, line)
            for line in outcome.initiator_logs:
                self._log(sa.i_router, line)

    def _rekey_child(self, now, sa, policy_id, child, sides):
        """A phase-2 rekey is a fresh exchange with PFS (IKEv2 CREATE_CHILD_SA, IKEv1 quick mode)."""
        i_side, r_side = sides[sa.i_router], sides[sa.r_router]
        policy = next((p for p in i_side.policies() if p[".id"] == policy_id), None)
        if policy is None:
            return False
        outcome = ike.negotiate_child(i_side, policy, r_side, sa.details, sa.i_addr, sa.r_addr)
        if not outcome.ok:
            return False      # the child goes; _children tries a new one and logs why it fails
        child.added = now
        child.lifetime = outcome.details["lifetime"]
        child.rekeys += 1
        child.spi_i = "0x%08X" % self.rng.getrandbits(32)
        child.spi_r = "0x%08X" % self.rng.getrandbits(32)
        child.ids = {}
        return True

    def _child_fingerprint(self, i_side, policy, r_side, r_policy):
        i_prop = i_side.proposal((policy or {}).get("proposal", "default"))
        r_prop = r_side.proposal((r_policy or {}).get("proposal", "default"))
        return (self._policy_fingerprint(policy), self._policy_fingerprint(r_policy),
                tuple(sorted((i_prop or {}).items())), tuple(sorted((r_prop or {}).items())))

    def _check_sas(self, now, sides):
        for sa in list(self.sas):
            both = all(name in sides for name in (sa.i_router, sa.r_router))
            if both and all(sa.alive.values()):
                if self._sa_fingerprint(sa, sides) != sa.fingerprint:
                    self._teardown(sa)
                    continue
            # DPD, per side: does the other end still answer on the IKE port?
            for name in (sa.i_router, sa.r_router):
                if not sa.alive.get(name) or name not in sides:
                    continue
                sa.dpd[name] = self._dpd_settings(sa, name, sides[name])
                other = sa.other(name)
                answered = sa.alive.get(other) and other not in self.down_routers and \
                    self._exchange(name, sa.address(other), sa.address(name), "udp", sa.port)[0]
                if answered:
                    sa.silent_since[name] = None
                    continue
                if sa.silent_since[name] is None:
                    sa.silent_since[name] = now
                due = self._dpd_due(sa, name)
                if due is not None and now >= due:
                    self._kill(sa, name, log_line("dpd-dead", remote=sa.address(other)))
            if not any(sa.alive.values()):
                continue
            if not all(sa.alive.values()):
                # a half-open SA (the other end rebooted or was killed) expires with its lifetime
                if now >= sa.rekeyed + sa.lifetime:
                    for name in (sa.i_router, sa.r_router):
                        self._kill(sa, name)
                continue
            # lifetimes: rekey when both ends can still talk, else the SA expires
            talk = both and self._exchange(sa.i_router, sa.r_addr, sa.i_addr, "udp", sa.port)[0]
            if now >= sa.rekeyed + sa.lifetime:
                if talk:
                    sa.rekeyed = now
                    sa.spii, sa.spir = _hex(self.rng, 16), _hex(self.rng, 16)
                else:
                    self._teardown(sa)
                    continue
            for policy_id, child in list(sa.children.items()):
                if now >= child.added + child.lifetime:
                    if talk and self._rekey_child(now, sa, policy_id, child, sides):
                        continue
                    del sa.children[policy_id]
            if both:
                self._children(now, sa, sides)
        self._prune_sas()

    def _first_policy(self, router, src, dst):
        """The first enabled, valid, non-template policy of ``router`` whose selectors hold src/dst."""
        for policy in self._side(router).policies():
            if truthy(policy["template"]) or truthy(policy.get("invalid", "false")):
                continue
            if firewall_eval.address_in(policy.get("src-address", "0.0.0.0/0"), src) and \
                    firewall_eval.address_in(policy.get("dst-address", "0.0.0.0/0"), dst):
                return policy
        return None

    def _count_statistic(self, name, field, count=1):
        router = self.routers[name]
        rows = self._items(router, IPSEC + "statistics")
        current = int((rows[0] if rows else {}).get(field, "0") or 0)
        try:
            router.set_runtime_props(IPSEC + "statistics", None, {field: str(current + count)})
        except (KeyError, AttributeError):
            pass

    def _child_for(self, router, src, dst):
        for sa in self.sas:
            if not all(sa.alive.values()) or router not in (sa.i_router, sa.r_router):
                continue
            side = self._side(router)
            policies = {p[".id"]: p for p in side.policies()}
            for policy_id, child in sa.children.items():
                own_id = policy_id if router == sa.i_router else child.r_policy_id
                policy = policies.get(own_id)
                if policy is None and router == sa.r_router and child.details.get("template"):
                    # a policy generated from a template: the initiator's selectors, mirrored
                    i_policy = {p[".id"]: p for p in self._side(sa.i_router).policies()}.get(policy_id)
                    policy = dict(i_policy or {}, **{"src-address": (i_policy or {}).get("dst-address"),
                                                     "dst-address": (i_policy or {}).get("src-address")})
                if policy and firewall_eval.address_in(policy.get("src-address", "0.0.0.0/0"), src) and \
                        firewall_eval.address_in(policy.get("dst-address", "0.0.0.0/0"), dst):
                    return sa, child, policy
        return None, None, None

    def _write_runtime(self, name, clear=False):
        router = self.routers[name]
        now = self.clock.now
        peers, sas_rows, policy_state = [], [], {}
        if not clear:
            for sa in self.sas:
                if not sa.alive.get(name) or name not in (sa.i_router, sa.r_router):
                    continue
                peers.append(self._active_peer_row(router, sa, name, now))
                for child in sa.children.values():
                    sas_rows.extend(self._installed_sa_rows(router, sa, child, name, now))
                    own = child.i_policy_id if name == sa.i_router else child.r_policy_id
                    if own is not None:
                        policy_state[own] = policy_state.get(own, 0) + 1
        if not clear:
            for (owner, _peer), attempt in self.attempts.items():
                if owner == name and attempt.stage:
                    peers.append(self._pending_peer_row(router, attempt, now))
        self._set_rows(name, router, IPSEC + "active-peers", peers)
        self._set_rows(name, router, IPSEC + "installed-sa", sas_rows)
        for policy in self._items(router, IPSEC + "policy"):
            if truthy(policy.get("template", "false")):
                continue
            count = policy_state.get(policy[".id"], 0)
            props = {"ph2-state": "established" if count else "no-phase2", "active": "true" if count else "false",
                     "ph2-count": str(count)}
            if any(policy.get(k) != v for k, v in props.items()):
                try:
                    router.set_runtime_props(IPSEC + "policy", policy[".id"], props)
                except KeyError:
                    pass

    def _set_rows(self, name, router, menu, rows):
        # compare with what the router holds now (a restore or an API flush may have changed it)
        if self._items(router, menu) == rows:
            return
        router.set_runtime_rows(menu, rows)

    def _active_peer_row(self, router, sa, name, now):
        if name not in sa.ids:
            sa.ids[name] = self._new_id(router)
        rx_bytes, tx_bytes, rx_packets, tx_packets = sa.bytes[name]
        other = sa.other(name)
        # `id`: the identity the remote end presented (its my-id: address, fqdn, DN, …)
        remote_id = sa.details.get("responder_id" if name == sa.i_router else "initiator_id") or ("", "")
        row = {".id": sa.ids[name], "id": str(remote_id[1]), "local-address": sa.address(name),
               "remote-address": sa.address(other), "port": str(sa.port),
               "side": "initiator" if name == sa.i_router else "responder", "state": "established",
               "uptime": format_duration(now - sa.established),
               "last-seen": format_duration(self._last_seen(sa, name, now)),
               "ph2-total": str(len(sa.children)), "spii": sa.spii, "spir": sa.spir,
               "rx-bytes": str(rx_bytes), "tx-bytes": str(tx_bytes), "rx-packets": str(rx_packets),
               "tx-packets": str(tx_packets), "natt-peer": "true" if sa.natt else "false",
               "responder": "false" if name == sa.i_router else "true", "dynamic-address": "false"}
        if sa.mode_config and name == sa.r_router:
            row["dynamic-address"] = sa.mode_config["address"]     # the address this peer was given
        return self._with_ppk(router, row)

    @staticmethod
    def _with_ppk(router, row):
        # 7.21+ active-peers carry `ppk` (flag P, spec §2); the lab negotiates no PPK
        if schema.has_feature(router.version, "ppk"):
            row["ppk"] = "false"
        return row

    def _pending_peer_row(self, router, attempt, now):
        """An exchange still waiting for its answer (state as RouterOS names its steps)."""
        if attempt.row_id is None:
            attempt.row_id = self._new_id(router)
        local, remote, port = attempt.where
        return self._with_ppk(router, {".id": attempt.row_id, "local-address": local, "remote-address": remote, "port": str(port),
                "side": "initiator", "state": attempt.stage, "uptime": format_duration(now - attempt.started),
                "ph2-total": "0", "spii": attempt.cookie, "spir": attempt.cookie_r, "rx-bytes": "0",
                "tx-bytes": "0", "rx-packets": "0", "tx-packets": "0", "natt-peer": "false",
                "responder": "false", "dynamic-address": "false"})

    @staticmethod
    def _last_seen(sa, name, now):
        if sa.silent_since.get(name) is not None:
            return now - sa.silent_since[name]
        settings = sa.dpd.get(name)
        # a quiet tunnel hears the peer at every DPD exchange
        return (now - sa.established) % settings[0] if settings else now - sa.established

    def _installed_sa_rows(self, router, sa, child, name, now):
        enc, key_size, auth = ike.sa_algorithms(child.details)
        me, other = sa.address(name), sa.address(sa.other(name))
        suffix = ":4500" if sa.natt else ""
        side = sa.side(name)
        inbound_spi = child.spi_i if side == "i" else child.spi_r
        outbound_spi = child.spi_r if side == "i" else child.spi_i
        soft = child.lifetime * 0.8
        rows = []
        for direction, spi, src, dst in (("in", inbound_spi, other, me), ("out", outbound_spi, me, other)):
            id_key = (name, direction)
            if id_key not in child.ids:
                child.ids[id_key] = self._new_id(router)
            counted = child.bytes[side] if direction == "in" else child.bytes["r" if side == "i" else "i"]
            packets = child.packets[side] if direction == "in" else child.packets["r" if side == "i" else "i"]
            rows.append({".id": child.ids[id_key], "spi": spi, "src-address": src + suffix,
                         "dst-address": dst + suffix, "state": "mature", "auth-algorithm": auth,
                         "enc-algorithm": enc, "enc-key-size": str(key_size),
                         "addtime": self.clock.datetime(child.added).strftime("%Y-%m-%d %H:%M:%S"),
                         "expires-in": format_duration(max(0.0, child.added + child.lifetime - now)),
                         "add-lifetime": "%s/%s" % (format_duration(soft), format_duration(child.lifetime)),
                         "current-bytes": str(counted), "current-packets": str(packets),
                         "replay": "128", "invalid-packets": "0",
                         "seen-traffic": "true" if counted else "false",
                         "ESP": "true" if child.details["ipsec-protocols"] == "esp" else "false",
                         "AH": "true" if child.details["ipsec-protocols"] == "ah" else "false",
                         "hw-aead": "false"})
        return rows
