"""Per-menu behaviour and the ``Router`` that ``protocol`` and the fabric talk to.

Built-in items (spec §7): the default IPsec profile (2m/5), proposal, policy group, template policy,
mode-config ``request-only``, IPsec settings, the dynamic fasttrack counter rule at the top of the
filter table, user ``admin`` with an empty password, ``/ip/service`` api/api-ssl …
GRE/IPIP/EoIP with ``ipsec-secret`` own a dynamic peer, identity and transport policy (spec §4).
``/interface`` is a view over the interface type menus. ``/export`` renders the configuration as a
RouterOS ``.rsc`` script.
"""

import copy
import datetime
import ipaddress

from roslab import certificates, schema
from roslab.clock import format_duration
from roslab.errors import RosFatal, RosTrap
from roslab.schema import trap
from roslab.store import Item, Result, Store

IPSEC = "/ip/ipsec/"
FILTER = "/ip/firewall/filter"
CERTIFICATE = "/certificate"
# the /certificate name of the lab's api-ssl certificate (roslab.tls)
API_SSL_CERTIFICATE = "roslab-api-ssl"
# /certificate import reply counters: the console's summary after an import (FIELD, MikroTik
# manual "Certificates" examples); that the API sends them as !done attributes is UNCONFIRMED
# argument names (RouterOS 7.22.2 deep inspect, /certificate/import and /certificate/sign; the
# generated tables carry add/set/print/... only)
CERT_IMPORT_ARGS = frozenset(("file-name", "passphrase", "name", "no-key-export", "trusted", "trust-store",
                              "as-value"))
CERT_SIGN_ARGS = frozenset(("number", "ca", "ca-crl-host", "ca-on-smart-card", "name", "as-value", "append",
                            "do", "duration", "file", "freeze-frame-interval", "interval", "once",
                            "without-paging"))
IMPORT_COUNTERS = ("certificates-imported", "private-keys-imported", "files-imported",
                   "decryption-failures", "keys-with-no-certificate")
TUNNEL_MENUS = ("/interface/gre", "/interface/ipip", "/interface/eoip")
# /interface lists these menus' items, with their RouterOS `type`
INTERFACE_MENUS = (
    ("/interface/ethernet", "ether"),
    ("/interface/gre", "gre-tunnel"),
    ("/interface/ipip", "ipip-tunnel"),
    ("/interface/eoip", "eoip-tunnel"),
    ("/interface/vrrp", "vrrp"),
)
# the IP protocol a tunnel's dynamic transport policy protects (EoIP rides on GRE)
TUNNEL_PROTOCOL = {"/interface/gre": "gre", "/interface/ipip": "ipencap", "/interface/eoip": "gre"}
# spec §1: a menu the emulator knows RouterOS has, that the lab does not implement
NOT_EMULATED = "roslab: %s is not emulated"

# /ip/service defaults (MikroTik manual, IP services)
SERVICE_MAX_SESSIONS = "20"   # manual "Services": max-sessions default 20 (7.16+)
SERVICES = (("telnet", "23"), ("ftp", "21"), ("www", "80"), ("ssh", "22"), ("www-ssl", "443"),
            ("api", "8728"), ("winbox", "8291"), ("api-ssl", "8729"))
# /system/resource of a CHR (board-name and architecture as CHRs report them)
RESOURCE = {"uptime": "0s", "free-memory": "872415232", "total-memory": "1073741824", "cpu": "QEMU",
            "cpu-count": "2", "cpu-frequency": "2400", "cpu-load": "1", "free-hdd-space": "80000000",
            "total-hdd-space": "94371840", "architecture-name": "x86_64", "board-name": "CHR",
            "platform": "MikroTik",
            # a CHR's print also has these (terraform-provider-routeros datasource_system_resource.go,
            # sampled on a 7.10 CHR: factory-software "7.1", build-time "Jun/15/2023 05:17:29");
            # RouterOS prints dates as yyyy-mm-dd from 7.11 on, the lab's versions are 7.12+. The
            # build date itself is a stand-in: the lab has no real build
            "factory-software": "7.1", "build-time": "2026-01-01 00:00:00"}
STATISTICS_FIELDS = (
    "in-errors", "in-buffer-errors", "in-header-errors", "in-no-states", "in-state-protocol-errors",
    "in-state-mode-errors", "in-state-sequence-errors", "in-state-expired", "in-state-mismatches",
    "in-state-invalid", "in-template-mismatches", "in-no-policies", "in-policy-blocked",
    "in-policy-errors", "out-errors", "out-bundle-errors", "out-bundle-check-errors", "out-no-states",
    "out-state-protocol-errors", "out-state-mode-errors", "out-state-sequence-errors",
    "out-state-expired", "out-policy-blocked", "out-policy-dead", "out-policy-errors",
)
# properties /export leaves out unless `show-sensitive` (RouterOS 7 exports hide them by default)
SENSITIVE = ("secret", "password", "ipsec-secret", "ppk-secret")
# manual "User", "Default groups" (/user group print): the three system groups and their policies
USER_GROUPS = (
    ("read", "local,telnet,ssh,reboot,read,test,winbox,password,web,sniff,sensitive,api,romon,rest-api,"
             "!ftp,!write,!policy"),
    ("write", "local,telnet,ssh,reboot,read,write,test,winbox,password,web,sniff,sensitive,api,romon,rest-api,"
              "!ftp,!policy"),
    ("full", "local,telnet,ssh,ftp,reboot,read,write,policy,test,winbox,password,web,sniff,sensitive,api,romon,"
             "rest-api"),
)
# the default logging rules, in order, as verbose exports print them (set 0..3): info, error and
# warning to memory, critical to echo (the console)
LOGGING_RULES = (("info", "memory"), ("error", "memory"), ("warning", "memory"), ("critical", "echo"))
# commands that change the configuration (the write policy); every other command reads
WRITE_VERBS = frozenset(("add", "set", "remove", "move", "enable", "disable", "comment", "unset", "reset",
                         "edit", "import", "update", "flush", "kill-connections", "reset-counters",
                         "reset-counters-all", "run"))
# the API's answer to a command the user's group has no policy for (issue 14 capture; the category
# a router sends with it is not known, so none is sent)
NOT_ENOUGH_PERMISSIONS = "not enough permissions (9)"
# export section order (dependencies first, as RouterOS exports)
EXPORT_ORDER = (
    "/interface/ethernet", "/interface/eoip", "/interface/gre", "/interface/ipip", "/interface/vrrp",
    "/interface/list", "/ip/pool", "/ip/ipsec/mode-config", "/ip/ipsec/policy/group", "/ip/ipsec/profile",
    "/ip/ipsec/peer", "/ip/ipsec/proposal", "/interface/list/member", "/ip/address",
    "/ip/firewall/address-list", "/ip/firewall/filter", "/ip/firewall/mangle", "/ip/firewall/nat",
    "/ip/firewall/raw", "/ip/ipsec/identity", "/ip/ipsec/policy", "/ip/ipsec/settings", "/ip/route",
    "/ip/service", "/system/identity", "/system/scheduler", "/system/script", "/tool/netwatch",
)
FASTTRACK_COMMENT = "special dummy rule to show fasttrack counters"
# the routers' calendar: lab time 0 is what /system/clock shows at factory state
LAB_EPOCH = datetime.datetime(2026, 1, 1, 0, 0, 0)

# /import arguments (every inspect tree 7.12.2..7.24; dry-run from the 7.16.1 tree)
IMPORT_ARGS = ("file-name", "verbose", "from-line")
IMPORT_DRY_RUN = "7.16.1"

DEVICE_MODE = "/system/device-mode"
# update arguments that are not feature switches
DEVICE_MODE_NON_FEATURES = frozenset((
    "activation-timeout", "append", "as-value", "do", "duration", "file", "interval", "once",
    "without-paging", "mode", "flagged", "flagging-enabled", "freeze-frame-interval",
    "authorized-public-key-hash"))
# MikroTik manual, Device-mode: `print` of advanced mode lists every feature yes except these;
# enterprise (advanced's name before 7.17) allows everything but container; home disables the
# listed ones. basic and rose: no evidence of their switches (an update to them changes only `mode`).
DEVICE_MODE_OFF = {"advanced": ("traffic-gen", "container", "install-any-version", "partitions"),
                   "enterprise": ("container",),
                   "home": ("scheduler", "socks", "fetch", "bandwidth-test", "traffic-gen", "sniffer", "romon",
                            "proxy", "hotspot", "email", "zerotier", "container")}
# 7.17 renamed enterprise to advanced and added basic/rose (the 7.18 tree is the first with their
# switches install-any-version/partitions/routerboard); inspect 7.22.2 completes these modes
DEVICE_MODE_RENAMED = "7.18"
DEVICE_MODE_VALUES = {"new": ("advanced", "basic", "home", "rose"), "old": ("enterprise", "home")}
DEVICE_MODE_ACTIVATION = 300     # manual: activation-timeout default 5m, range 10s..1d


# RouterOS 7 default configuration firewall, in order, verbatim from real exports (see
# Router._install_defconf for the sources)
DEFCONF_FILTER = (
    {"chain": "input", "action": "accept", "connection-state": "established,related,untracked",
     "comment": "defconf: accept established,related,untracked"},
    {"chain": "input", "action": "drop", "connection-state": "invalid", "comment": "defconf: drop invalid"},
    {"chain": "input", "action": "accept", "protocol": "icmp", "comment": "defconf: accept ICMP"},
    {"chain": "input", "action": "accept", "dst-address": "127.0.0.1",
     "comment": "defconf: accept to local loopback (for CAPsMAN)"},
    {"chain": "input", "action": "drop", "in-interface-list": "!LAN", "comment": "defconf: drop all not coming from LAN"},
    {"chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec", "comment": "defconf: accept in ipsec policy"},
    {"chain": "forward", "action": "accept", "ipsec-policy": "out,ipsec", "comment": "defconf: accept out ipsec policy"},
    {"chain": "forward", "action": "fasttrack-connection", "connection-state": "established,related",
     "comment": "defconf: fasttrack"},
    {"chain": "forward", "action": "accept", "connection-state": "established,related,untracked",
     "comment": "defconf: accept established,related, untracked"},
    {"chain": "forward", "action": "drop", "connection-state": "invalid", "comment": "defconf: drop invalid"},
    {"chain": "forward", "action": "drop", "connection-state": "new", "connection-nat-state": "!dstnat",
     "in-interface-list": "WAN", "comment": "defconf: drop all from WAN not DSTNATed"},
)
DEFCONF_NAT = (
    {"chain": "srcnat", "action": "masquerade", "ipsec-policy": "out,none", "out-interface-list": "WAN",
     "comment": "defconf: masquerade"},
)


class Router(Store):
    """One emulated RouterOS router (see tests/roslab/README.md for the contract)."""

    def __init__(self, name, version=schema.DEFAULT_VERSION, interfaces=(), addresses=(), identity=None,
                 defconf=False, api_certificate=None):
        Store.__init__(self, version)
        self.name = name
        self.clock = 0.0
        self._hardware = [dict(i) for i in interfaces]
        self._addresses = [dict(a) for a in addresses]
        self._identity = identity or name
        self._defconf = bool(defconf)
        # (cert PEM, key PEM) the lab provisions for api-ssl, or None: the factory's certificate=none
        self._api_certificate = tuple(api_certificate) if api_certificate else None
        self._install_factory()
        for address in self._addresses:
            self.execute("/ip/address/add", address, [])

    # -- factory state --------------------------------------------------------------------------
    def _builtin(self, path, props, builtin=True):
        sch = self.schema(path)
        if sch is None:
            return None
        full = {}
        if sch.key and sch.key in props:
            full[sch.key] = props[sch.key]
        for name, value in sch.defaults.items():
            full.setdefault(name, value)
        full.update(props)
        for name, value in sch.readonly.items():
            full.setdefault(name, value)
        item = Item(self.new_id(), full, builtin=builtin)
        self.table(path).items.append(item)
        return item

    def _install_factory(self):
        self.tables = {}
        self.next_id = 1
        for index, hw in enumerate(self._hardware):
            props = {"name": hw["name"], "default-name": hw.get("default-name", hw["name"]),
                     # locally administered, stable per router and port
                     "mac-address": "02:%02X:%02X:00:00:%02X" % (sum(map(ord, self.name)) % 256,
                                                                len(self.name) % 256, index + 1)}
            props.update(dict((k, v) for k, v in hw.items() if k not in ("name", "default-name")))
            self._builtin("/interface/ethernet", props, builtin=False)
        for name in ("all", "dynamic", "none", "static"):
            self._builtin("/interface/list", {"name": name, "builtin": "true"})
        # spec §2 / §7: the default profile as every real v7 export shows it
        self._builtin(IPSEC + "profile", {"name": "default", "dpd-interval": "2m", "dpd-maximum-failures": "5",
                                          "default": "true"})
        self._builtin(IPSEC + "proposal", {"name": "default", "default": "true"})
        self._builtin(IPSEC + "policy/group", {"name": "default", "default": "true"})
        self._builtin(IPSEC + "policy", {"group": "default", "src-address": "::/0", "dst-address": "::/0",
                                         "protocol": "all", "proposal": "default", "template": "true",
                                         "default": "true"})
        self._builtin(IPSEC + "mode-config", {"name": "request-only", "responder": "false",
                                              "use-responder-dns": "exclusively", "default": "true"})
        self._builtin(IPSEC + "settings", {})
        self._builtin(IPSEC + "statistics", dict((f, "0") for f in STATISTICS_FIELDS))
        # spec §3: the dynamic counter rule, top of the filter table
        self._builtin(FILTER, {"chain": "forward", "action": "passthrough", "comment": FASTTRACK_COMMENT,
                               "dynamic": "true"})
        for topics, action in LOGGING_RULES:
            self._builtin("/system/logging", {"topics": topics, "action": action, "default": "true"})
        for group, policy in USER_GROUPS:
            self._builtin("/user/group", {"name": group, "policy": policy, "skin": "default"})
        self._builtin("/user", {"name": "admin", "group": "full", "password": ""}, builtin=False)
        for name, port in SERVICES:
            self._builtin("/ip/service", self._service_factory(name, port))
        if self._api_certificate:
            self._install_api_certificate()
        self._builtin("/system/identity", {"name": self._identity})
        self._builtin("/system/clock", {"time": "00:00:00", "date": "2026-01-01"})
        resource = dict(RESOURCE)
        resource["version"] = schema.version_string(self.version)
        self._builtin("/system/resource", resource)
        self._builtin(DEVICE_MODE, self._device_mode_factory())
        if self._defconf:
            self._install_defconf()

    def _install_defconf(self):
        """RouterOS 7's default configuration (a SOHO router's ``defconf`` script, re-applied by a
        reset), as far as the lab has the menus: the WAN/LAN interface lists, the firewall filter and
        the masquerade, in their order, added through the same commands a client would use.

        Sources: routeros7-behaviour.md §3 "v7 default config" (the IPsec forward accepts, FastTrack,
        the masquerade with ``ipsec-policy=out,none``) and real ``/export`` files of RouterOS 7
        routers in their default configuration (7.20.1 and others: the rules and comments below,
        verbatim). Differences: the first ethernet port is the WAN member and the other ports are LAN
        members directly (defconf bridges them; the lab has no bridge); the fasttrack rule has no
        ``hw-offload`` (only devices with switch-chip offload have it; the 7.22.2 CHR tree lacks it);
        DHCP, DNS and the 192.168.88.1 address are left to the topology."""
        ports = [hw["name"] for hw in self._hardware]
        for name in ("WAN", "LAN"):
            self.execute("/interface/list/add", {"name": name, "comment": "defconf"}, [])
        for index, port in enumerate(ports):
            self.execute("/interface/list/member/add",
                         {"interface": port, "list": "WAN" if index == 0 else "LAN", "comment": "defconf"}, [])
        for rule in DEFCONF_FILTER:
            self.execute(FILTER + "/add", dict(rule), [])
        for rule in DEFCONF_NAT:
            self.execute("/ip/firewall/nat/add", dict(rule), [])

    def _service_factory(self, name, port):
        """An ``/ip/service`` row at factory state (manual "Services" defaults; ``max-sessions``
        exists where the version's set command has it)."""
        props = {"name": name, "port": port, "disabled": "false", "address": "", "certificate": "none",
                 "tls-version": "any", "vrf": "main"}
        if "max-sessions" in self.schema("/ip/service").command_args("set"):
            props["max-sessions"] = SERVICE_MAX_SESSIONS
        return props

    def _install_api_certificate(self):
        """The lab's api-ssl certificate as an operator installs one: imported with its key into
        ``/certificate`` and named on the service (``/ip service set api-ssl certificate=``)."""
        cert_pem, key_pem = self._api_certificate
        self._builtin(CERTIFICATE, {"name": API_SSL_CERTIFICATE, "x509": cert_pem, "x509-key": key_pem},
                      builtin=False)
        for item in self.table("/ip/service").items:
            if item.props.get("name") == "api-ssl":
                item.props["certificate"] = API_SSL_CERTIFICATE

    def api_ssl(self):
        """What api-ssl speaks now: ``{"certificate": (cert PEM, key PEM) or None, "tls_version"}``.

        ``certificate=none`` is anonymous DH (manual "Services"). A named certificate without its
        private key cannot be presented; the lab then falls back to anonymous DH (UNCONFIRMED: what
        RouterOS does with such a setting is not in the reference material).
        """
        row = next((i.props for i in self.table("/ip/service").items if i.props.get("name") == "api-ssl"), {})
        pair = None
        name = row.get("certificate") or "none"
        if name != "none":
            item = next((i for i in self.table(CERTIFICATE).items if i.props.get("name") == name), None)
            if item is not None and item.props.get("x509") and item.props.get("x509-key"):
                pair = (item.props["x509"], item.props["x509-key"])
        return {"certificate": pair, "tls_version": row.get("tls-version") or "any"}

    def max_sessions(self, service):
        """How many API sessions ``service`` (api, api-ssl) admits at once; None: no limit known."""
        row = next((i.props for i in self.table("/ip/service").items if i.props.get("name") == service), {})
        value = row.get("max-sessions")
        return int(value) if value and value.isdigit() else None

    # -- /system/device-mode --------------------------------------------------------------------
    def _device_mode_new_names(self):
        return schema.version_key(self.version) >= schema.version_key(DEVICE_MODE_RENAMED)

    def _device_mode_features(self):
        sch = self.schema(DEVICE_MODE)
        return sorted(a for a in sch.command_args("update") if a not in DEVICE_MODE_NON_FEATURES)

    def _device_mode_factory(self):
        """What a CHR prints: advanced (enterprise before 7.17), as the manual's print shows it."""
        mode = "advanced" if self._device_mode_new_names() else "enterprise"
        props = {"mode": mode}
        if self._device_mode_new_names():
            # manual print (7.17+); older trees' get completions are not known
            props["allowed-versions"] = "7.13+,6.49.8+"
        props.update({"flagged": "false", "flagging-enabled": "true"})
        for feature in self._device_mode_features():
            props[feature] = "false" if feature in DEVICE_MODE_OFF[mode] else "true"
        props["attempt-count"] = "0"
        return props

    def _cmd_update(self, path, sch, attrs, queries):
        """``/system/device-mode/update``: RouterOS applies it only once the owner confirms it in
        person (reset/mode button, or a cold reboot) within ``activation-timeout`` (5m); a CHR has
        no button, so the change waits for the next power cycle (``restore``)."""
        if path != DEVICE_MODE:
            raise RosTrap(NOT_EMULATED % (path + "/update"), 0)
        allowed = sch.command_args("update")
        features = set(self._device_mode_features())
        modes = DEVICE_MODE_VALUES["new" if self._device_mode_new_names() else "old"]
        change, timeout = {}, DEVICE_MODE_ACTIVATION
        for name, raw in attrs.items():
            if name.startswith("."):
                continue
            if name not in allowed:
                raise trap("unknown_parameter", name)
            if name == "mode":
                change["mode"] = schema.check_value(schema.Arg(name, "enum", values=modes), raw, None)
            elif name in features or name == "flagging-enabled":
                change[name] = schema.check_value(schema.Arg(name, "bool"), raw, None)
            elif name == "activation-timeout":
                timeout = schema.parse_time(raw)
                if timeout is None or not 10 <= timeout <= 86400:
                    raise trap("invalid_value", name)
            else:
                raise RosTrap(NOT_EMULATED % ("device-mode update " + name), 0)
        if change:
            pending = self.table(DEVICE_MODE + "/pending")
            pending.items = [Item("*0", dict(change, deadline=str(self.clock + timeout)))]
            self._changed(DEVICE_MODE)
        return Result()

    def _apply_device_mode(self):
        """A power cycle confirms a pending update that is still within its activation-timeout."""
        pending = self.table(DEVICE_MODE + "/pending")
        if not pending.items:
            return
        change = dict(pending.items[0].props)
        pending.items = []
        if self.clock > float(change.pop("deadline")):
            return
        items = self.table(DEVICE_MODE).items
        if not items:
            return
        props = items[0].props
        if change.get("mode") in DEVICE_MODE_OFF and change["mode"] != props.get("mode"):
            # a new mode brings its own feature set, then the named switches apply
            for feature in self._device_mode_features():
                props[feature] = "false" if feature in DEVICE_MODE_OFF.get(change["mode"], ()) else "true"
        props.update(change)

    # -- API entry point --------------------------------------------------------------------------
    def login(self, user, password):
        """A local user whose group has the ``api`` policy (manual "User": api "grants rights to
        access router via API") logs in with its password."""
        for item in self.table("/user").items:
            if item.props.get("name") == user and item.props.get("disabled") != "true":
                return item.props.get("password", "") == password and "api" in self.policies(user)
        return False

    def policies(self, user):
        """The policy words the group of ``user`` grants (``!word`` entries grant nothing)."""
        group = next((i.props.get("group") for i in self.table("/user").items if i.props.get("name") == user), None)
        text = next((i.props.get("policy", "") for i in self.table("/user/group").items
                     if i.props.get("name") == group), "")
        return frozenset(p.strip() for p in text.split(",") if p.strip() and not p.strip().startswith("!"))

    def check_permission(self, user, command):
        """Trap ``not enough permissions (9)`` when the group of ``user`` lacks a policy ``command``
        needs (manual "User"): ``read`` to read the configuration, ``write`` to change it, and
        ``policy`` as well for user management (``/user``, ``/user/group``)."""
        path, _, verb = command.rpartition("/")
        granted = self.policies(user)
        needed = {"write"} if verb in WRITE_VERBS else {"read"}
        if verb in WRITE_VERBS and (path == "/user" or path.startswith("/user/")):
            needed.add("policy")
        if not needed <= granted:
            raise RosTrap(NOT_ENOUGH_PERMISSIONS)

    def visible(self, user, command, rows):
        """Printed rows as ``user`` sees them: without the sensitive policy RouterOS leaves
        secrets out (manual "User": "if this policy is disabled sensitive information is not
        displayed")."""
        if "sensitive" in self.policies(user):
            return rows
        return [dict((k, v) for k, v in row.items() if k not in SENSITIVE) for row in rows]

    def execute(self, command, attributes, queries):
        attributes = dict(attributes or {})
        queries = list(queries or [])
        if command == "/quit":
            raise RosFatal("session terminated on request")
        if not command.startswith("/") or command.endswith("/"):
            raise trap("no_such_command_prefix")
        path, _, verb = command.rpartition("/")
        if path == "" and verb == "export":
            return self._export(attributes)
        if path == IPSEC.rstrip("/") and verb == "export":
            return self._export(attributes, prefix=IPSEC)
        if path == "" and verb == "import":
            return self._import(attributes)
        if schema.routeros_has_path(command, self.version):
            # a menu named as a command (`/ip/ipsec/peer`): the verb is missing
            raise trap("no_such_command")
        if self.schema(path) is None or path not in schema.MENU_TABLES:
            if path != "" and schema.routeros_has_path(path, self.version):
                # name what is missing: a menu the lab lacks (/tool/sniffer), or a command of a
                # menu that only holds emulated submenus (/system/reboot: /system/scheduler is there)
                container = any(menu.startswith(path + "/") for menu in schema.MENU_TABLES)
                raise RosTrap(NOT_EMULATED % (command if container else path), 0)
            raise trap("no_such_command_prefix")
        sch = self.schema(path)
        if verb == "listen" and "print" in sch.commands:
            # spec §1: an API-only command (no console inspect lists it) on every printable menu
            for name in attributes:
                if name not in (".proplist", "proplist"):
                    raise trap("unknown_parameter", name.lstrip("."))
            return Result(listen=path)
        if verb not in sch.commands and verb != "getall":
            raise trap("no_such_command")
        if verb == "export":
            return self._export(attributes, only=path)
        if path == "/log" and verb in ("info", "warning", "error", "debug"):
            self.log("script," + verb, attributes.get("message", ""))
            return Result()
        self._refresh_runtime(path)
        return self.execute_menu(path, verb, attributes, queries)

    def _refresh_runtime(self, path):
        if path == "/system/resource":
            item = self.table(path).items[0]
            item.props["uptime"] = format_duration(int(self.clock))
        elif path == "/system/clock":
            item = self.table(path).items[0]
            item.props["time"] = self._time_of_day()

    # -- runtime menu commands ------------------------------------------------------------------
    def _clear_runtime(self, path, sch, verb, attrs):
        allowed = sch.command_args(verb)
        for name in attrs:
            if not name.startswith(".") and name not in allowed:
                raise trap("unknown_parameter", name)
        self.table(path).items = []
        # the fabric watches on_change and renegotiates from the configuration
        self._changed(path)
        return Result()

    def _cmd_flush(self, path, sch, attrs, queries):
        """/ip/ipsec/installed-sa/flush: every SA goes (the fabric sees the change)."""
        return self._clear_runtime(path, sch, "flush", attrs)

    def _cmd_kill_connections(self, path, sch, attrs, queries):
        """/ip/ipsec/active-peers/kill-connections: every IKE session goes."""
        return self._clear_runtime(path, sch, "kill-connections", attrs)

    def _zero_counters(self, items):
        for item in items:
            for name in ("bytes", "packets"):
                if name in item.props:
                    item.props[name] = "0"

    def _cmd_reset_counters(self, path, sch, attrs, queries):
        """Firewall reset-counters: bytes/packets of the given rules back to 0 (fabric sees on_change)."""
        self._zero_counters(self._targets(path, sch, attrs))
        self._changed(path)
        return Result()

    def _cmd_reset_counters_all(self, path, sch, attrs, queries):
        self._zero_counters(self.table(path).items)
        self._changed(path)
        return Result()

    # -- /interface: a view over the type menus --------------------------------------------------
    # -- /certificate (roslab.certificates) -------------------------------------------------------
    def certificate_material(self, item):
        """The certificate (and key) an item holds, or None for an unsigned template."""
        pem = item.props.get("x509")
        if not pem:
            return None
        key = item.props.get("x509-key")
        return certificates.Material(certificates.load_cert(pem), certificates.load_key(key) if key else None)

    def certificate_rows(self):
        """Print rows of /certificate plus each one's PEM (``x509``): what the fabric's IKE reads."""
        rows = self.items(CERTIFICATE)
        by_id = dict((i.id, i) for i in self.table(CERTIFICATE).items)
        for row in rows:
            item = by_id.get(row.get(".id"))
            if item is not None and item.props.get("x509"):
                row["x509"] = item.props["x509"]
        return rows

    def _certificate_print(self, rows):
        by_id = dict((i.id, i) for i in self.table(CERTIFICATE).items)
        now = self.datetime()
        for row in rows:
            item = by_id.get(row.get(".id"))
            material = self.certificate_material(item) if item is not None else None
            if material is None:
                row.setdefault("private-key", "false")
                continue
            row.update(certificates.print_props(material, now, format_duration))
        return rows

    def _cmd_import(self, path, sch, attrs, queries):
        """``/certificate import file-name= passphrase= [name=] [trusted=]``: certificates and keys
        from a ``/file`` (PEM, DER or PKCS#12). A key joins the certificate with its public key; a
        certificate already held (same fingerprint) is not imported twice; a key that does not
        decrypt with ``passphrase`` counts as a decryption failure (no trap)."""
        if path != CERTIFICATE:
            raise trap("no_such_command")
        allowed = CERT_IMPORT_ARGS
        for name in attrs:
            if not name.startswith(".") and name not in allowed:
                raise trap("unknown_parameter", name)
        file_name = attrs.get("file-name")
        if not file_name:
            raise trap("missing_args", "file-name")
        row = next((i.props for i in self.table("/file").items if i.props.get("name") == file_name), None)
        if row is None:
            raise trap("import_no_such_file")
        trusted = schema.BOOL_INPUT.get(attrs.get("trusted", "yes"))
        if trusted is None:
            raise trap("no_match", "trusted")
        found, keys, failures = certificates.parse_file(row.get("contents", ""), attrs.get("passphrase", ""))
        counters = dict.fromkeys(IMPORT_COUNTERS, 0)
        counters["files-imported"] = 1
        counters["decryption-failures"] = failures
        table = self.table(CERTIFICATE)
        held = dict((self.certificate_material(i).cert.fingerprint(certificates.hashes.SHA256()), i)
                    for i in table.items if i.props.get("x509"))
        for index, cert in enumerate(found):
            digest = cert.fingerprint(certificates.hashes.SHA256())
            if digest in held:
                continue
            base = attrs.get("name") or "%s_%d" % (file_name, index)
            name = base if index == 0 or not attrs.get("name") else "%s_%d" % (base, index)
            if self.has_named(CERTIFICATE, name):
                raise trap("duplicate_name")
            material = certificates.Material(cert)
            item = Item(self.new_id(), {"name": name, "trusted": trusted, "x509": material.cert_pem})
            table.items.append(item)
            held[digest] = item
            counters["certificates-imported"] += 1
        for key in keys:
            target = next((i for i in held.values()
                           if certificates.key_matches(self.certificate_material(i).cert, key)), None)
            if target is None:
                counters["keys-with-no-certificate"] += 1
                continue
            target.props["x509-key"] = certificates.Material(None, key).key_pem
            counters["private-keys-imported"] += 1
        self._changed(CERTIFICATE)
        return Result(done=dict((k, str(v)) for k, v in counters.items()))

    def _cmd_sign(self, path, sch, attrs, queries):
        """``/certificate sign <template> [ca=<name>] [name=]``: issue a template made by ``add``,
        self-signed (a CA template with key-cert-sign) or by a CA this router holds with its key."""
        if path != CERTIFICATE:
            raise trap("no_such_command")
        allowed = CERT_SIGN_ARGS
        for name in attrs:
            if not name.startswith(".") and name not in allowed:
                raise trap("unknown_parameter", name)
        number = attrs.get("number") or attrs.get(".id") or attrs.get("numbers")
        if not number:
            raise trap("missing_args", "number")
        item = self.resolve(CERTIFICATE, number)[0]
        if item.props.get("x509"):
            raise trap("cert_already_signed")
        ca = None
        if attrs.get("ca"):
            ca_item = self.resolve(CERTIFICATE, attrs["ca"])[0]
            ca = self.certificate_material(ca_item)
            if ca is None or ca.key is None or not certificates.is_authority(ca.cert):
                raise trap("cert_bad_ca")
        material = certificates.sign_template(item.props, self.datetime(), ca)
        item.props["x509"] = material.cert_pem
        item.props["x509-key"] = material.key_pem
        if ca is None:
            item.props["trusted"] = "true"   # a router's own self-signed CA is trusted (T flag)
        else:
            item.props["ca"] = ca_item.props.get("name")
            item.props["issued"] = "true"
        if attrs.get("name"):
            item.props["name"] = attrs["name"]
        self._changed(CERTIFICATE)
        return Result()

    def all_items(self, path):
        if path == "/interface":
            items = []
            for menu, _ in INTERFACE_MENUS:
                items.extend(self.table(menu).items)
            return items
        return self.table(path).items

    def print_rows(self, path, sch):
        if path == IPSEC + "policy" and getattr(self, "_policies_dirty", True):
            self._mark_invalid_policies()
            self._policies_dirty = False
        if path == CERTIFICATE:
            return self._certificate_print(Store.print_rows(self, path, sch))
        if path != "/interface":
            return Store.print_rows(self, path, sch)
        rows = []
        for menu, kind in INTERFACE_MENUS:
            for item in self.table(menu).items:
                row = {".id": item.id, "name": item.props.get("name"), "type": kind}
                for prop in ("default-name", "mac-address"):
                    if item.props.get(prop):
                        row[prop] = item.props[prop]
                mtu = item.props.get("mtu", "1500")
                row["mtu"] = item.props.get("actual-mtu", mtu) if mtu == "auto" else mtu
                row["actual-mtu"] = row["mtu"]
                for prop in ("comment",):
                    if prop in item.props:
                        row[prop] = item.props[prop]
                row["disabled"] = item.props.get("disabled", "false")
                row["running"] = "false" if row["disabled"] == "true" else item.props.get("running", "true")
                row["dynamic"] = item.props.get("dynamic", "false")
                rows.append(row)
        return rows

    # -- validation and dynamic objects ---------------------------------------------------------
    def _hook_check_remove(self, path, sch, item, batch):
        if path == FILTER and item.builtin:
            raise trap("cannot_remove_builtin")   # spec §3 (7.23.x capture)
        if path in ("/interface/list",) and item.props.get("builtin") == "true":
            raise trap("cannot_remove_builtin")
        Store._hook_check_remove(self, path, sch, item, batch)

    def _hook_validate(self, path, sch, candidate, existing):
        if path == CERTIFICATE and existing is not None and existing.props.get("x509"):
            # a signed certificate keeps its subject: only its name and trust can change
            for name in set(candidate.props) | set(existing.props):
                if name not in ("name", "trusted", "trust-store", "comment") and \
                        candidate.props.get(name) != existing.props.get(name):
                    raise trap("cert_signed_readonly")
        if path == "/system/scheduler" and existing is None:
            # RouterOS starts a new scheduler at the moment it is added (MikroTik manual: start-date
            # and start-time default to the time of add), unless it is told otherwise
            now = self.datetime()
            props = candidate.props
            if "start-time" not in props:
                props["start-time"] = now.strftime("%H:%M:%S")
            if "start-date" not in props and props["start-time"] != "startup":
                props["start-date"] = now.strftime("%Y-%m-%d")
        if path == IPSEC + "policy" and candidate.props.get("peer"):
            # `::` is how a v7 export writes the unspecified SA ends of a policy with peer= (see
            # _export_menu): importing it back sets nothing
            for name in ("sa-src-address", "sa-dst-address"):
                if candidate.props.get(name) == "::":
                    del candidate.props[name]
        if path == IPSEC + "peer":
            props = candidate.props
            address = props.get("address")
            if address is not None:
                mode = props.get("exchange-mode")
                for other in self.table(path).items:
                    other_props = other.props
                    if (other_props.get("address") == address and other is not existing
                            and other_props.get("exchange-mode") == mode and not other.dynamic):
                        raise trap("duplicate_peer")
            props["responder"] = props.get("passive", "false")

    def _hook_added(self, path, sch, item):
        self._after_write(path, item)

    def _hook_updated(self, path, sch, item, old):
        self._after_write(path, item)

    def _after_write(self, path, item):
        if path == "/interface":
            # a write through the view is a write to the item's own menu
            path = next(menu for menu, _ in INTERFACE_MENUS if item in self.table(menu).items)
        if path == "/ip/address" and "address" in item.props:
            # RouterOS derives `network` from the address (shown in print, not an input here)
            iface = ipaddress.ip_interface(item.props["address"])
            item.props["network"] = str(iface.network.network_address)
            item.props["actual-interface"] = item.props.get("interface", "")
        if path == "/ip/firewall/address-list":
            # spec §3: a timeout makes the entry dynamic (not saved)
            if "timeout" in item.props:
                item.props["dynamic"] = "true"
            item.props.setdefault("creation-time", self._timestamp())
        if path in TUNNEL_MENUS:
            self._sync_tunnel_ipsec(path, item)

    def _hook_removed(self, path, item):
        if path in TUNNEL_MENUS:
            self._drop_owned((path, item.id))

    def _changed(self, path):
        if path == IPSEC + "policy" or path in TUNNEL_MENUS:
            # `invalid` is worked out when next read (bulk adds stay linear)
            self._policies_dirty = True
        Store._changed(self, path)

    def _rename_references(self, path, old, new):
        Store._rename_references(self, path, old, new)
        # interfaces are referenced through the /interface view (ip address, vrrp, list members)
        if path in dict(INTERFACE_MENUS):
            Store._rename_references(self, "/interface", old, new)
        elif path == "/interface":
            for menu, _ in INTERFACE_MENUS:
                Store._rename_references(self, menu, old, new)

    def _drop_owned(self, owner):
        for path in (IPSEC + "policy", IPSEC + "identity", IPSEC + "peer"):
            for item in list(self.table(path).items):
                if item.owner == owner:
                    self.table(path).items.remove(item)

    def _sync_tunnel_ipsec(self, path, tunnel):
        """spec §4: a tunnel with ipsec-secret has a dynamic peer, identity and transport policy."""
        owner = (path, tunnel.id)
        self._drop_owned(owner)
        props = tunnel.props
        secret = props.get("ipsec-secret")
        if not secret or props.get("disabled") == "true":
            return
        name = props["name"]
        local = props.get("local-address", "0.0.0.0")
        remote = props["remote-address"]
        peer = {"name": name, "address": schema.normalise_prefix(remote), "profile": "default",
                "exchange-mode": "main", "send-initial-contact": "true", "passive": "false"}
        if local not in ("0.0.0.0", "::"):
            peer["local-address"] = local
        self._dynamic(IPSEC + "peer", peer, owner)
        self._dynamic(IPSEC + "identity", {"peer": name, "auth-method": "pre-shared-key", "secret": secret},
                      owner)
        policy = {"peer": name, "src-address": schema.normalise_prefix(local) if local not in ("0.0.0.0", "::")
                  else "0.0.0.0/32", "dst-address": schema.normalise_prefix(remote),
                  "protocol": TUNNEL_PROTOCOL[path], "tunnel": "false", "action": "encrypt"}
        self._dynamic(IPSEC + "policy", policy, owner)

    def _dynamic(self, path, props, owner):
        item = self._builtin(path, dict(props, dynamic="true"), builtin=False)
        item.owner = owner
        return item

    def _mark_invalid_policies(self):
        """spec §2: `invalid` flags a policy that repeats an earlier one's src/dst pair."""
        seen = set()
        for item in self.table(IPSEC + "policy").items:
            p = item.props
            if p.get("template") == "true":
                continue
            pair = (p.get("src-address"), p.get("dst-address"), p.get("src-port"), p.get("dst-port"),
                    p.get("protocol"), p.get("disabled") == "true")
            invalid = pair in seen and not pair[-1]
            if invalid != (p.get("invalid") == "true"):
                p["invalid"] = "true" if invalid else "false"
            if not pair[-1]:
                seen.add(pair)

    # -- runtime hooks (fabric) -----------------------------------------------------------------
    def set_runtime_rows(self, menu_path, rows):
        table = self.table(menu_path)
        table.items = []
        for row in rows:
            row = dict((k, str(v)) for k, v in row.items())
            item_id = row.pop(".id", None) or self.new_id()
            table.items.append(Item(item_id, row))

    def set_runtime_props(self, menu_path, item_id, props):
        items = self.all_items(menu_path)
        sch = self.schema(menu_path)
        if sch is not None and sch.singleton:
            target = items[0] if items else None
        else:
            target = next((i for i in items if i.id == item_id), None)
        if target is None:
            raise KeyError("%s has no item %s" % (menu_path, item_id))
        for name, value in props.items():
            if value is None:
                target.props.pop(name, None)
            else:
                target.props[name] = str(value)

    def datetime(self):
        """The router's wall clock: the lab calendar at the lab clock."""
        return LAB_EPOCH + datetime.timedelta(seconds=int(self.clock))

    def _time_of_day(self):
        seconds = int(self.clock) % 86400
        return "%02d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)

    def _timestamp(self):
        # the lab's calendar starts 2026-01-01 (what /system/clock reports at clock 0)
        days = int(self.clock) // 86400
        return "2026-01-%02d %s" % (1 + days % 28, self._time_of_day())

    def log(self, topics, message):
        """A message of ``topics`` (``ipsec,debug``): /log keeps it when an enabled logging rule with
        the memory action selects it (manual "Log"; the default rules select info, error and
        warning, so ``ipsec,debug`` lines need a rule such as ``topics=ipsec``)."""
        if not self.logged_to_memory(topics):
            return
        when = self._time_of_day()
        item = Item(self.new_id(), {"time": when, "topics": topics, "message": message})
        self.table("/log").items.append(item)

    def logged_to_memory(self, topics):
        have = set(t.strip() for t in topics.split(",") if t.strip())
        for rule in self.table("/system/logging").items:
            props = rule.props
            if props.get("disabled") == "true" or props.get("action", "memory") != "memory":
                continue
            wanted = [t.strip() for t in props.get("topics", "").split(",") if t.strip()]
            if wanted and all((t[1:] not in have) if t.startswith("!") else (t in have) for t in wanted):
                return True
        return False

    def items(self, menu_path):
        sch = self.schema(menu_path)
        if sch is None:
            raise KeyError(menu_path)
        self._refresh_runtime(menu_path)
        return [dict(r) for r in self.print_rows(menu_path, sch)]

    # -- persistence ----------------------------------------------------------------------------
    def on_change(self, callback):
        self._listeners.append(callback)

    def snapshot(self):
        data = self.snapshot_tables(skip=("/log", IPSEC + "active-peers", IPSEC + "installed-sa"))
        data.update({"name": self.name, "version": self.version,
                     "hardware": copy.deepcopy(self._hardware)})
        return data

    def restore(self, snapshot):
        self.load_tables(snapshot)
        self._policies_dirty = True
        self._apply_device_mode()
        # the running software, not the saved one, answers /system/resource
        for item in self.table("/system/resource").items:
            item.props["version"] = schema.version_string(self.version)
        for path in ("/log", IPSEC + "active-peers", IPSEC + "installed-sa"):
            self.table(path).items = []
        for item in self.table(IPSEC + "statistics").items:
            for name in STATISTICS_FIELDS:
                item.props[name] = "0"
        # dynamic address-list entries (timeout) do not survive a reboot (spec §3)
        table = self.table("/ip/firewall/address-list")
        table.items = [i for i in table.items if "timeout" not in i.props and i.props.get("dynamic") != "true"]

    def reset(self):
        self._install_factory()
        self._policies_dirty = True

    # -- /import --------------------------------------------------------------------------------
    def _import(self, attributes):
        """``/import file-name=X``: the .rsc in ``/file`` runs through the lab's script importer.
        Lines before a failing one stay applied (RouterOS imports line by line); ``dry-run`` (7.16+)
        only parses. Success answers a bare ``!done`` (UNCONFIRMED: RouterOS's console says "Script
        file loaded and executed successfully"; no API capture of the reply was found)."""
        from roslab import script   # script sits above menus; imported when an import runs
        tree = schema.version_key(schema.tree_version(self.version))
        allowed = IMPORT_ARGS + (("dry-run",) if tree >= schema.version_key(IMPORT_DRY_RUN) else ())
        for name in attributes:
            if not name.startswith(".") and name not in allowed:
                raise trap("unknown_parameter", name)
        if "from-line" in attributes:
            raise RosTrap(NOT_EMULATED % "/import from-line", 0)
        name = attributes.get("file-name")
        if not name:
            raise trap("missing_args", "file-name")
        row = next((i.props for i in self.table("/file").items if i.props.get("name") == name), None)
        if row is None:
            raise trap("import_no_such_file")
        try:
            if "dry-run" in attributes:
                script.parse(row.get("contents", ""))
            else:
                script.import_rsc(self, row.get("contents", ""))
        except script.ScriptError as exc:
            raise trap("import_failed", "%s (line %s)" % (exc.reason, exc.line))
        return Result()

    # -- /export --------------------------------------------------------------------------------
    def _export(self, attributes, prefix=None, only=None):
        for name in attributes:
            if name not in ("file", "compact", "verbose", "terse", "show-sensitive", "hide-sensitive") \
                    and not name.startswith("."):
                raise trap("unknown_parameter", name)
        text = self.export_text(verbose="verbose" in attributes, show_sensitive="show-sensitive" in attributes,
                                prefix=prefix, only=only, terse="terse" in attributes)
        filename = attributes.get("file")
        if filename:
            if not filename.endswith(".rsc"):
                filename += ".rsc"
            files = self.table("/file")
            files.items = [i for i in files.items if i.props.get("name") != filename]
            files.items.append(Item(self.new_id(), {"name": filename, "type": ".rsc file",
                                                    "size": str(len(text)), "contents": text}))
            self._changed("/file")
            return Result()
        # UNCONFIRMED: what the API returns for /export without file=; the lab returns the text as ret
        return Result(done={"ret": text})

    def export_text(self, verbose=False, show_sensitive=False, prefix=None, only=None, terse=False):
        """The configuration as RouterOS exports it: compact (non-default values) unless ``verbose``,
        sensitive values hidden unless ``show_sensitive``, one full-path line per item if ``terse``."""
        lines = ["# %s by RouterOS %s" % ("2026-01-01 00:00:00", self.version),
                 "# software id = ", "#", "# model = CHR"]
        for path in EXPORT_ORDER:
            if (only and path != only) or (prefix and not path.startswith(prefix)):
                continue
            sch = self.schema(path)
            if sch is None:
                continue
            body = self._export_menu(path, sch, verbose, show_sensitive)
            if body:
                header = "/" + path[1:].replace("/", " ")
                if terse:
                    lines.extend(header + " " + line for line in body)
                else:
                    lines.append(header)
                    lines.extend(body)
        return "\n".join(lines) + "\n"

    def _export_menu(self, path, sch, verbose, show_sensitive):
        out = []
        skip = set(sch.readonly) | {".id", "default-name", "running", "mac-address"}
        for item in self.table(path).items:
            if item.dynamic or path in ("/interface/list",) and item.props.get("builtin") == "true":
                continue
            changes = []
            for name, value in item.props.items():
                if name in skip or name not in sch.writable:
                    continue
                if name in SENSITIVE and not show_sensitive:
                    continue
                if name in sch.shown_when and item.props.get(sch.shown_when[name][0]) not in sch.shown_when[name][1]:
                    continue
                default = sch.defaults.get(name)
                if sch.singleton:
                    if value == default and not verbose:
                        continue
                elif item.builtin or path in ("/ip/service", "/interface/ethernet"):
                    builtin_default = self._factory_value(path, item, name)
                    if value == builtin_default and not verbose:
                        continue
                elif value == default and not verbose and name != sch.key and name not in sch.export_always:
                    continue
                changes.append("%s=%s" % (name, _rsc_value(value)))
            if item.builtin or sch.singleton or path in ("/ip/service", "/interface/ethernet"):
                changes = [c for c in changes if not c.startswith("name=") or sch.singleton]
                if changes:
                    where = ("[ find default=yes ] " if item.props.get("default") == "true" else
                             "[ find default-name=%s ] " % item.props.get("default-name")
                             if path == "/interface/ethernet" else
                             "%s " % item.props.get("name") if path == "/ip/service" else
                             "[ find name=%s ] " % item.props.get("name") if sch.key and not sch.singleton else "")
                    out.append("set " + where + " ".join(changes))
            else:
                if path == IPSEC + "policy" and item.props.get("peer"):
                    # spec §2/§6 [FIELD]: with peer= the legacy sa-* addresses read back as :: in
                    # v7 exports (the peer supplies the SA ends); print leaves them out as unset
                    for name in ("sa-src-address", "sa-dst-address"):
                        if name not in item.props:
                            changes.append("%s=::" % name)
                out.append("add " + " ".join(sorted(changes)))
        return out

    def _factory_value(self, path, item, name):
        """The value ``name`` had on this built-in item at factory state (compact export omits it)."""
        if getattr(self, "_factory_cache", None) is None:
            self._factory_cache = Router(self.name, self.version, self._hardware, (), self._identity)
        for other in self._factory_cache.table(path).items:
            same = (other.props.get("default-name") == item.props.get("default-name") if path == "/interface/ethernet"
                    else other.props.get("name") == item.props.get("name") or self.schema(path).singleton)
            if same:
                return other.props.get(name)
        return None


def _rsc_value(value):
    """Quote a value as RouterOS export does; booleans as yes/no."""
    if value in ("true", "false"):
        return "yes" if value == "true" else "no"
    if value == "" or any(c in value for c in ' "\\$;?[]{}=\t\n'):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
        return '"%s"' % escaped
    return value


def build_router(name, version=schema.DEFAULT_VERSION, interfaces=(), addresses=(), identity=None, defconf=False,
                 api_certificate=None):
    """A router with factory defaults, the given ethernet interfaces and IP addresses; ``defconf``:
    RouterOS 7's default configuration on top (interface lists, firewall, masquerade);
    ``api_certificate``: (cert PEM, key PEM) installed for api-ssl."""
    return Router(name, version=version, interfaces=interfaces, addresses=addresses, identity=identity,
                  defconf=defconf, api_certificate=api_certificate)
