"""The fabric's other services: netwatch probes, VRRP master election, the scheduler and scripts
on the lab clock. A mixin of ``roslab.fabric.Fabric`` (it uses the fabric's network and routers).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress

from roslab.clock import parse_duration
from roslab.ike import log_line, truthy
from roslab.script import ScriptError

SCHEDULER_STARTUP_DELAY = 3.0  # start-time=startup runs 3s after boot (MikroTik manual, scheduler)


class ServicesMixin:
    """Netwatch, VRRP and the scheduler (see the module docstring)."""

    def _netwatch_times(self):
        for state in self.netwatch_state.values():
            yield state["next"]

    def _vrrp_times(self):
        for state in self.vrrp_state.values():
            if state.get("pending") is not None:
                yield state["pending"]

    def _scheduler_times(self):
        now = self.clock.now
        for state in self.scheduler_state.values():
            if state.get("next") is not None and state["next"] >= now - 1e-9:
                yield state["next"]

    def _step_script(self, name, origin, steps, boot=None):
        # a script paused in :delay dies with its router (a reboot does not resume it)
        boot = self.generation[name] if boot is None else boot
        if name in self.down_routers or boot != self.generation[name]:
            return
        self._sync_router_clocks()
        try:
            delay = next(steps)
        except StopIteration:
            return
        except ScriptError as error:
            self.script_errors.append((name, origin, error))
            self._log(name, log_line("script-error", error=error))
            if origin.startswith("scheduler:"):
                self._log(name, log_line("scheduler-failed", name=origin.split(":", 1)[1]))
            return
        self.clock.call_later(delay, lambda: self._step_script(name, origin, steps, boot))

    def _source_of(self, name, text):
        """A scheduler's on-event: a /system/script name runs that script, anything else is source."""
        for row in self._items(self.routers[name], "/system/script"):
            if row.get("name") == text.strip():
                return "/system script run %s" % row["name"]
        return text

    def _netwatch(self, now):
        for name, router in self.routers.items():
            if name in self.down_routers:
                continue
            seen = set()
            for row in self._items(router, "/tool/netwatch"):
                key = (name, row[".id"])
                seen.add(key)
                if truthy(row.get("disabled", "false")):
                    self.netwatch_state.pop(key, None)
                    continue
                # RouterOS takes 1s..; a smaller value would stall the lab clock
                interval = max(1.0, parse_duration(row.get("interval", "10s") or "10s"))
                state = self.netwatch_state.get(key)
                if state is None:
                    delay = parse_duration(row.get("start-delay", "0s") or "0s")
                    state = self.netwatch_state[key] = {"status": "unknown", "next": now + delay, "done": 0,
                                                        "failed": 0, "first": True}
                if now < state["next"]:
                    continue
                state["next"] = now + interval
                up = self._probe(name, row)
                state["done"] += 1
                if not up:
                    state["failed"] += 1
                status = "up" if up else "down"
                props = {"done-tests": str(state["done"]), "failed-tests": str(state["failed"])}
                if status != state["status"]:
                    first = state.pop("first", False)
                    state["status"] = status
                    props.update({"status": status,
                                  "since": self.clock.datetime().strftime("%Y-%m-%d %H:%M:%S")})
                    self._log(name, log_line("netwatch-event", status=status,
                                                type=row.get("type", "simple"), host=row.get("host")))
                    ignore = truthy(row.get("ignore-initial-%s" % status, "false")) and first
                    script = row.get("%s-script" % status, "")
                    if script and not ignore:
                        self.run_script(name, script, "netwatch:%s" % row.get("host"))
                try:
                    router.set_runtime_props("/tool/netwatch", row[".id"], props)
                except KeyError:
                    pass
            for key in [k for k in self.netwatch_state if k[0] == name and k not in seen]:
                del self.netwatch_state[key]

    def _probe(self, name, row):
        kind = row.get("type", "simple")
        host = row.get("host", "")
        if kind in ("simple", "icmp"):
            return self.reachable(name, host, "icmp")
        if kind == "tcp-conn":
            return self.reachable(name, host, "tcp", int(row.get("port", "80") or 80))
        # http-get, https-get, dns: a TCP connection to the service port is what the lab can check
        port = {"http-get": 80, "https-get": 443, "dns": 53}.get(kind, 80)
        return self.reachable(name, host, "tcp" if kind != "dns" else "udp", int(row.get("port", port) or port))

    def _vrrp(self, now):
        groups = {}
        live_keys = set()
        for name, router in self.routers.items():
            if name in self.down_routers:
                continue
            running = {row["name"] for row in self._items(router, "/interface")
                       if not truthy(row.get("disabled", "false")) and truthy(row.get("running", "true"))}
            for row in self._items(router, "/interface/vrrp"):
                key = (name, row[".id"])
                if truthy(row.get("disabled", "false")) or row.get("interface") not in running:
                    if key in self.vrrp_state:
                        self._vrrp_props(name, row, "init")
                        del self.vrrp_state[key]
                        self._address_cache.clear()
                    continue
                live_keys.add(key)
                segment = frozenset(self._segment(name, row["interface"]))
                # routers only hear advertisements of the same version and authentication
                authentication = row.get("authentication", "none")
                group_key = (min(segment), row.get("vrid", "1"), row.get("version", "3"), authentication,
                             row.get("password", "") if authentication != "none" else "")
                groups.setdefault(group_key, []).append((name, row))
        for key in [k for k in self.vrrp_state if k not in live_keys]:
            del self.vrrp_state[key]
            self._address_cache.clear()
        for members in groups.values():
            self._elect(now, members)

    def _vrrp_rank(self, name, row):
        addresses = [a[0].ip for a in self._addresses(name) if a[1] == row["interface"]]
        return (int(row.get("priority", "100")), max(addresses) if addresses else ipaddress.ip_address("0.0.0.0"))

    def _elect(self, now, members):
        states = {}
        for name, row in members:
            key = (name, row[".id"])
            if key not in self.vrrp_state:
                self.vrrp_state[key] = {"state": "backup", "since": now, "pending": None}
                self._address_cache.clear()
                self._vrrp_props(name, row, "backup")
                if row.get("on-backup"):
                    self.run_script(name, row["on-backup"], "vrrp:%s" % row.get("name"))
            states[key] = self.vrrp_state[key]
        ranked = sorted(members, key=lambda m: self._vrrp_rank(*m), reverse=True)
        masters = [(name, row) for name, row in members if states[(name, row[".id"])]["state"] == "master"]
        best_name, best_row = ranked[0]
        best_key = (best_name, best_row[".id"])
        if masters:
            current = masters[0]
            for extra in masters[1:]:
                self._vrrp_transition(now, extra, "backup")
            if current[0] != best_name and truthy(best_row.get("preemption-mode", "true")) and \
                    self._vrrp_rank(*current) < self._vrrp_rank(best_name, best_row):
                self._vrrp_transition(now, current, "backup")
                self._vrrp_transition(now, (best_name, best_row), "master")
            for name, row in members:
                states[(name, row[".id"])]["pending"] = None
            return
        # no master heard: the best backup takes over after the master-down interval
        interval = parse_duration(best_row.get("interval", "1s") or "1s")
        priority = int(best_row.get("priority", "100"))
        master_down = 3 * interval + (256 - priority) / 256.0 * interval
        for name, row in members:
            if (name, row[".id"]) != best_key:
                states[(name, row[".id"])]["pending"] = None
        state = states[best_key]
        if state["pending"] is None:
            state["pending"] = max(now, state["since"]) + master_down
        if now >= state["pending"]:
            self._vrrp_transition(now, (best_name, best_row), "master")

    def _vrrp_transition(self, now, member, new_state):
        name, row = member
        state = self.vrrp_state[(name, row[".id"])]
        if state["state"] == new_state:
            return
        state.update({"state": new_state, "since": now, "pending": None})
        self._address_cache.clear()      # addresses on the VRRP interface move with the master role
        self._vrrp_props(name, row, new_state)
        script = row.get("on-master" if new_state == "master" else "on-backup")
        if script:
            self.run_script(name, script, "vrrp:%s" % row.get("name"))

    def _vrrp_props(self, name, row, state):
        props = {"master": "true" if state == "master" else "false",
                 "backup": "true" if state == "backup" else "false",
                 "running": "true" if state == "master" else "false"}
        try:
            self.routers[name].set_runtime_props("/interface/vrrp", row[".id"], props)
        except (KeyError, AttributeError):
            pass

    def _scheduler(self, now):
        for name, router in self.routers.items():
            if name in self.down_routers:
                continue
            seen = set()
            for row in self._items(router, "/system/scheduler"):
                key = (name, row[".id"])
                seen.add(key)
                fingerprint = (row.get("start-date"), row.get("start-time"), row.get("interval"),
                               row.get("disabled"))
                state = self.scheduler_state.get(key)
                if state is None or state["fingerprint"] != fingerprint:
                    state = self.scheduler_state[key] = {"fingerprint": fingerprint,
                                                         "runs": int(row.get("run-count", "0") or 0),
                                                         "next": self._first_run(name, row, now)}
                    self._scheduler_props(router, row, state)
                if state["next"] is None or now < state["next"] - 1e-9:
                    continue
                interval = parse_duration(row.get("interval", "0s") or "0s")
                state["runs"] += 1
                state["next"] = state["next"] + interval if interval > 0 else None
                while interval > 0 and state["next"] is not None and state["next"] <= now:
                    state["next"] += interval
                self._scheduler_props(router, row, state)
                self.run_script(name, self._source_of(name, row.get("on-event", "")),
                                "scheduler:%s" % row.get("name"))
            for key in [k for k in self.scheduler_state if k[0] == name and k not in seen]:
                del self.scheduler_state[key]

    def _first_run(self, name, row, now):
        if truthy(row.get("disabled", "false")):
            return None
        interval = parse_duration(row.get("interval", "0s") or "0s")
        start_time = row.get("start-time", "startup")
        if start_time == "startup":
            first = self.booted.get(name, 0.0) + SCHEDULER_STARTUP_DELAY
            if first < now and interval <= 0:
                return None
        else:
            start = _parse_start(row.get("start-date"), start_time, self.clock.datetime())
            first = self.clock.lab_time(start)
            if first < now - 1e-9 and interval <= 0:
                return None
        # a start at or before now (the moment of add, which RouterOS fills in) runs one interval on
        while interval > 0 and first <= now + 1e-9:
            first += interval
        return first

    def _scheduler_props(self, router, row, state):
        props = {"run-count": str(state["runs"])}
        props["next-run"] = self.clock.datetime(state["next"]).strftime("%Y-%m-%d %H:%M:%S") \
            if state["next"] is not None else None
        try:
            router.set_runtime_props("/system/scheduler", row[".id"], props)
        except (KeyError, AttributeError):
            pass


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}


def _parse_start(start_date, start_time, today):
    """Scheduler start-date (``2026-11-27`` or the older ``nov/27/2026``) and start-time (``HH:MM:SS``)."""
    if start_date:
        text = start_date.strip().lower()
        if "/" in text:
            month, day, year = text.split("/")
            date = _dt.date(int(year), _MONTHS[month[:3]], int(day))
        else:
            date = _dt.date.fromisoformat(text)
    else:
        date = today.date()
    hours, minutes, seconds = (int(float(part)) for part in (start_time.split(":") + ["0", "0"])[:3])
    return _dt.datetime.combine(date, _dt.time(hours, minutes, seconds))
