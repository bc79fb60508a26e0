"""The RouterOS scripting subset (scheduler/netwatch/VRRP scripts, /import).

Most tests use ``RecordingRouter``: a minimal table store that records every command the interpreter
sends, so the interpreter's translation to API commands is checked exactly. The /export round trip
runs on real lab routers (``roslab.menus.build_router``).
"""

import pytest

from roslab.errors import RosTrap
from roslab.menus import build_router
from roslab.script import Interpreter, ScriptError, import_rsc, parse, run_script, run_to_end


class RecordingRouter:
    def __init__(self):
        self.tables = {}
        self.calls = []
        self.logs = []
        self.next_id = 1

    def items(self, menu):
        return [dict(row) for row in self.tables.get(menu, [])]

    def log(self, topics, message):
        self.logs.append((topics, message))

    def set_runtime_props(self, menu, item_id, props):
        for row in self.tables.get(menu, []):
            if row[".id"] == item_id:
                row.update(props)

    def execute(self, command, attributes, queries):
        self.calls.append((command, dict(attributes)))
        menu, verb = command.rsplit("/", 1)
        table = self.tables.setdefault(menu, [])
        result = type("Result", (), {"rows": [], "done": {}, "empty": False})()
        if verb == "add":
            if menu == "/ip/ipsec/peer" and any(r.get("name") == attributes.get("name") for r in table):
                raise RosTrap("failure: item with such name already exists", 4)
            row = {".id": "*%X" % self.next_id}
            self.next_id += 1
            row.update(attributes)
            table.append(row)
            result.done = {"ret": row[".id"]}
        elif verb in ("set", "enable", "disable", "remove"):
            ids = attributes.get(".id", "").split(",")
            for row in list(table):
                if row[".id"] in ids or not ids[0]:
                    if verb == "remove":
                        table.remove(row)
                    elif verb == "set":
                        row.update({k: v for k, v in attributes.items() if k != ".id"})
                    else:
                        row["disabled"] = "true" if verb == "disable" else "false"
        elif verb == "print":
            result.rows = [dict(r) for r in table]
        else:
            raise RosTrap("no such command", 0)
        return result


@pytest.fixture
def router():
    return RecordingRouter()


def test_menu_context_lines_and_absolute_commands(router):
    run_script(router, """
# comment line
/ip ipsec profile
add name=p1 enc-algorithm=aes-256 dh-group=ecp256
/ip ipsec peer
add name=hub address=198.51.100.1/32 profile=p1 exchange-mode=ike2
/ip/firewall/filter/add chain=input action=accept protocol=udp dst-port=500,4500
add name=second address=198.51.100.9/32
""")
    assert router.calls == [
        ("/ip/ipsec/profile/add", {"name": "p1", "enc-algorithm": "aes-256", "dh-group": "ecp256"}),
        ("/ip/ipsec/peer/add", {"name": "hub", "address": "198.51.100.1/32", "profile": "p1",
                                "exchange-mode": "ike2"}),
        ("/ip/firewall/filter/add", {"chain": "input", "action": "accept", "protocol": "udp",
                                     "dst-port": "500,4500"}),
        # a one-line absolute command does not change the context
        ("/ip/ipsec/peer/add", {"name": "second", "address": "198.51.100.9/32"}),
    ]


def test_quoted_values_escapes_and_continuation(router):
    run_script(router, '/ip firewall filter add action=accept chain=input comment=\\\n'
                       '    "defconf: accept \\"quoted\\" \\\n    text" protocol=udp\n')
    assert router.calls == [("/ip/firewall/filter/add", {"action": "accept", "chain": "input",
                                                         "comment": 'defconf: accept "quoted" text',
                                                         "protocol": "udp"})]


def test_find_where_with_equality_regex_and_flags(router):
    router.tables["/ip/firewall/filter"] = [
        {".id": "*1", "chain": "input", "comment": "ipsecfleet:a", "disabled": "false", "dynamic": "true"},
        {".id": "*2", "chain": "input", "comment": "ipsecfleet:b", "disabled": "false"},
        {".id": "*3", "chain": "forward", "comment": "other", "disabled": "true"},
    ]
    run_script(router, '/ip firewall filter\n'
                       'disable [find where chain=input and comment~"^ipsecfleet:" and !dynamic]\n'
                       'remove [find disabled=yes]\n'
                       'set [find where comment="nothing"] action=drop\n')
    assert router.calls == [("/ip/firewall/filter/disable", {".id": "*2"}),
                            ("/ip/firewall/filter/remove", {".id": "*2,*3"})]


def test_find_in_a_one_line_command_runs_in_that_commands_menu(router):
    # RouterOS runs the [find] of `/ip firewall filter remove [find …]` in /ip firewall filter,
    # whatever menu the script is in
    router.tables["/ip/firewall/filter"] = [{".id": "*1", "comment": "x"}, {".id": "*2", "comment": "y"}]
    router.tables["/ip/ipsec/peer"] = [{".id": "*3", "comment": "x"}]
    router.tables["/system/scheduler"] = [{".id": "*4", "name": "job"}]
    run_script(router, '/ip ipsec peer\n'
                       '/ip firewall filter remove [find where comment="x"]\n'
                       '/system scheduler remove [find name=job]\n'
                       'disable [find comment=x]\n')
    assert router.calls == [("/ip/firewall/filter/remove", {".id": "*1"}),
                            ("/system/scheduler/remove", {".id": "*4"}),
                            ("/ip/ipsec/peer/disable", {".id": "*3"})]


def test_one_line_remove_with_find_on_a_lab_router():
    lab_router = build_router("hub")
    lab_router.execute("/ip/firewall/filter/add", {"chain": "input", "comment": "x"}, [])
    lab_router.execute("/system/scheduler/add", {"name": "x", "interval": "1m"}, [])
    run_script(lab_router, '/ip firewall filter remove [find where comment="x"]\n'
                           '/system/scheduler/remove [find name=x]\n')
    assert [r for r in lab_router.items("/ip/firewall/filter") if r.get("comment") == "x"] == []
    assert lab_router.items("/system/scheduler") == []


def test_set_by_print_number_and_by_name(router):
    router.tables["/ip/ipsec/peer"] = [{".id": "*A", "name": "x"}, {".id": "*B", "name": "y"}]
    run_script(router, "/ip ipsec peer\nset 1 passive=yes\nset x port=4500\n")
    assert router.calls == [("/ip/ipsec/peer/set", {".id": "*B", "passive": "yes"}),
                            ("/ip/ipsec/peer/set", {".id": "*A", "port": "4500"})]


def test_locals_globals_if_else_and_log(router):
    globals_ = {}
    run_script(router, """
:global failures 2
:local who "hub"
:if ($failures > 1 && $who = "hub") do={
    :log warning "peer $who failed $failures times"
} else={
    :log info "fine"
}
:set failures ($failures + 1)
:if ([:len [/ip ipsec peer find]] = 0) do={ :log info "no peers" }
""", globals_)
    assert router.logs == [("script,warning", "peer hub failed 2 times"), ("script,info", "no peers")]
    assert globals_ == {"failures": 3}


def test_foreach_over_find_and_do_on_error(router):
    router.tables["/ip/ipsec/peer"] = [{".id": "*1", "name": "a"}, {".id": "*2", "name": "b"}]
    run_script(router, """
:foreach p in=[/ip ipsec peer find] do={
    :log info ("peer " . [/ip ipsec peer get $p name] . " is $p")
}
:do { /ip ipsec peer add name=a } on-error={ :log warning "duplicate" }
""")
    assert router.logs == [("script,info", "peer a is *1"), ("script,info", "peer b is *2"),
                           ("script,warning", "duplicate")]
    with pytest.raises(ScriptError, match="already exists"):
        run_script(router, ":do { /ip ipsec peer add name=a }")


def test_add_returns_the_new_id(router):
    output = run_script(router, ':local id [/ip ipsec peer add name=z]\n:put $id\n')
    assert output == ["*1"]


def test_delay_yields_seconds_to_the_caller(router):
    interpreter = Interpreter(router)
    steps = interpreter.run(':log info "a"\n:delay 1m30s\n:log info "b"\n')
    assert next(steps) == 90.0
    assert router.logs == [("script,info", "a")]
    assert run_to_end(steps) == 0.0
    assert router.logs[-1] == ("script,info", "b")


def test_system_script_run_counts_and_nests(router):
    router.tables["/system/script"] = [{".id": "*5", "name": "up", "source": ':log info "up ran"',
                                        "run-count": "0"}]
    run_script(router, "/system script run up\n/system script\nrun up\n")
    assert router.logs == [("script,info", "up ran")] * 2
    assert router.tables["/system/script"][0]["run-count"] == "2"


def test_import_reads_a_file(router):
    router.tables["/file"] = [{".id": "*9", "name": "cfg.rsc", "contents": "/ip ipsec peer add name=f\n"}]
    run_script(router, "/import file-name=cfg.rsc\n")
    assert router.calls == [("/ip/ipsec/peer/add", {"name": "f"})]


def test_routeros_errors_stop_with_the_line(router):
    with pytest.raises(ScriptError) as caught:
        import_rsc(router, "/ip ipsec peer\nadd name=a\nadd name=a\nadd name=b\n")
    assert caught.value.line == 3
    assert "item with such name already exists" in str(caught.value)
    assert [c[1]["name"] for c in router.calls] == ["a", "a"]


@pytest.mark.parametrize("source,line,reason", [
    (':while (true) do={}', 1, "bad command name :while"),
    (':foreach i [/ip ipsec peer find] do={}', 1, ":foreach expects"),
    ('\n\n/ip ipsec peer\nfrobnicate x=1', 4, "bad command name frobnicate"),
    (':log info "x', 1, "unterminated string"),
    (':put $nope', 1, "unknown variable $nope"),
    ('/ip ipsec peer add name=(1', 1, "missing ')'"),
    (':if (1 = 1) { :log info "x" }', 1, ":if expects"),
    (':delay soon', 1, "invalid time value"),
])
def test_unsupported_or_broken_scripts_fail_loudly(router, source, line, reason):
    with pytest.raises(ScriptError) as caught:
        run_script(router, source)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_parse_keeps_block_source_for_script_values(router):
    run_script(router, '/system scheduler add name=s on-event={:log info "tick"} interval=1m\n')
    assert router.calls == [("/system/scheduler/add", {"name": "s", "on-event": ':log info "tick"',
                                                       "interval": "1m"})]
    assert len(parse("a;b\nc")) == 3


EXPORT_COMMANDS = [
    ("/ip/address/add", {"address": "198.51.100.1/24", "interface": "ether1"}),
    ("/interface/gre/add", {"name": "gre1", "remote-address": "198.51.100.2", "local-address": "198.51.100.1",
                            "ipsec-secret": "k$y", "allow-fast-path": "no"}),
    ("/interface/vrrp/add", {"name": "vrrp1", "interface": "ether2", "priority": "200",
                             "on-master": ':log info "master $x"\n:delay 1s'}),
    ("/interface/list/add", {"name": "WAN"}),
    ("/interface/list/member/add", {"list": "WAN", "interface": "ether1"}),
    ("/ip/ipsec/profile/set", {".id": "default", "dpd-interval": "30s"}),
    ("/ip/ipsec/profile/add", {"name": "ipsecfleet-p1", "enc-algorithm": "aes-256", "dh-group": "ecp256",
                               "hash-algorithm": "sha256"}),
    ("/ip/ipsec/proposal/add", {"name": "t1", "enc-algorithms": "aes-256-cbc", "pfs-group": "ecp256",
                                "comment": "has spaces and \"quotes\""}),
    ("/ip/ipsec/peer/add", {"name": "hub", "address": "198.51.100.1/32", "profile": "ipsecfleet-p1",
                            "exchange-mode": "ike2"}),
    ("/ip/ipsec/identity/add", {"peer": "hub", "secret": "s3cret $x"}),
    ("/ip/ipsec/policy/add", {"peer": "hub", "src-address": "10.20.0.0/24", "dst-address": "10.10.0.0/24",
                              "tunnel": "yes", "proposal": "t1"}),
    ("/ip/ipsec/settings/set", {"accounting": "no"}),
    ("/ip/firewall/address-list/add", {"list": "peers", "address": "198.51.100.1"}),
    ("/ip/firewall/filter/add", {"chain": "input", "action": "accept", "protocol": "udp",
                                 "dst-port": "500,4500", "src-address-list": "peers",
                                 "comment": "ipsecfleet:ike allow IKE"}),
    ("/ip/firewall/filter/add", {"chain": "input", "action": "drop", "protocol": "udp", "dst-port": "500"}),
    ("/ip/firewall/nat/add", {"chain": "srcnat", "action": "masquerade", "ipsec-policy": "out,none",
                              "out-interface": "ether1"}),
    ("/ip/firewall/raw/add", {"chain": "prerouting", "action": "notrack", "src-address": "10.10.0.0/24",
                              "dst-address": "10.20.0.0/24"}),
    ("/ip/firewall/mangle/add", {"chain": "forward", "action": "change-mss", "protocol": "tcp", "tcp-flags": "syn",
                                 "ipsec-policy": "out,ipsec", "new-mss": "1360", "tcp-mss": "!0-1360",
                                 "passthrough": "yes"}),
    ("/ip/route/add", {"dst-address": "10.20.0.0/24", "gateway": "198.51.100.2"}),
    ("/ip/service/set", {".id": "api", "address": "10.0.0.0/8"}),
    ("/system/identity/set", {"name": "hub one"}),
    ("/system/script/add", {"name": "failover",
                            "source": ':local a "x"\n:if ($a = "x") do={ :log warning "fail; over" }\n'}),
    ("/system/scheduler/add", {"name": "tick", "interval": "1m", "on-event": ":log info \"tick $x\""}),
    ("/tool/netwatch/add", {"host": "198.51.100.2", "down-script": "/system script run failover"}),
]


def test_export_reimports_to_the_same_configuration():
    build = build_router
    interfaces = [{"name": "ether1"}, {"name": "ether2"}]
    source = build(name="a", version="7.22.2", interfaces=interfaces, addresses=[])
    for command, attributes in EXPORT_COMMANDS:
        source.execute(command, attributes, [])
    text = _export_text(source)
    target = build(name="b", version="7.22.2", interfaces=interfaces, addresses=[])
    import_rsc(target, text)
    menus = {command.rsplit("/", 1)[0] for command, _attributes in EXPORT_COMMANDS}
    menus |= {"/ip/ipsec/peer", "/ip/ipsec/identity", "/ip/ipsec/policy"}   # GRE's dynamic objects too
    for menu in sorted(menus):
        assert _comparable(target.items(menu)) == _comparable(source.items(menu)), menu


def _comparable(rows):
    volatile = {".id", "creation-time", "bytes", "packets", "next-run", "run-count", "owner"}
    return [{k: v for k, v in row.items() if k not in volatile} for row in rows]


def _export_text(router):
    # RouterOS 7 hides secrets in exports unless asked (`/export show-sensitive`)
    return router.execute("/export", {"show-sensitive": ""}, []).done["ret"]
