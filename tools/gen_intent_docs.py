#!/usr/bin/env python3
"""Regenerate the reference parts of docs/intent.md and docs/crypto-suites.md from the schema.

The generated text sits between ``<!-- BEGIN GENERATED: <name> -->`` and ``<!-- END GENERATED: <name> -->``
markers; everything else in the files is hand-written and left alone.

    python tools/gen_intent_docs.py          # rewrite the files
    python tools/gen_intent_docs.py --check  # exit 1 if a file is stale (CI, unit test)
"""

import argparse
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

# pylint: disable=wrong-import-position
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.intent import crypto_suites
from ansible_collections.ipsecfleet.routeros.plugins.module_utils import intent  # noqa: E402

KIND_NAMES = {"str": "string", "int": "integer", "bool": "boolean", "list": "list", "dict": "mapping",
              "duration": "duration", "endpoint": "host name or mapping", "suite": "preset name or mapping",
              "secret": "string (secret)"}


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(field):
    if field.required:
        return "**required**"
    if field.default_doc:
        return field.default_doc
    if field.default is None:
        return "—"
    if isinstance(field.default, bool):
        return "`%s`" % ("true" if field.default else "false")
    return "`%s`" % field.default


def _field_table(fields):
    lines = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for f in fields:
        doc = f.doc
        if f.choices:
            doc += " One of: %s." % ", ".join("`%s`" % c for c in f.choices)
        if f.range_text():
            doc += (" At most %d characters." % f.maximum) if f.kind == "str" else " Range %s." % f.range_text()
        lines.append("| `%s` | %s | %s | %s |" % (f.name, KIND_NAMES.get(f.kind, f.kind), _cell(_default(f)),
                                                  _cell(doc)))
    return "\n".join(lines)


def intent_reference():
    topology_defaults = sorted(f.name for f in intent.TUNNEL_FIELDS if f.name not in intent.TOPOLOGY_TUNNEL_EXCLUDED)
    parts = [
        "### Tunnel fields (`ipsec_tunnels[]`)", "", _field_table(intent.TUNNEL_FIELDS), "",
        "### Endpoint fields (`a` / `b`)", "",
        "An endpoint is either an inventory hostname (`a: hq-gw`) or a mapping of these fields.", "",
        _field_table(intent.ENDPOINT_FIELDS), "",
        "### Topology fields (`ipsec_topologies[]`)", "", _field_table(intent.TOPOLOGY_FIELDS), "",
        "A topology also accepts these tunnel fields as defaults for the tunnels it generates: %s."
        % ", ".join("`%s`" % n for n in topology_defaults), "",
        "Generated tunnel names: hub_and_spoke `<topology>-<hub>-<spoke>`, full_mesh "
        "`<topology>-<a>-<b>` (hosts sorted). Host names are lower-cased and other characters become "
        "`-`; a name longer than %d characters is cut and ends with 8 hex digits of a hash of the "
        "full name." % intent.NAME_MAX, "",
        "### Backup fields (`backup`)", "",
        "High availability, see [ha.md](ha.md).", "", _field_table(intent.BACKUP_FIELDS), "",
        "### Failover fields (`failover`)", "", _field_table(intent.FAILOVER_FIELDS), "",
        "### Host variables", "", _field_table(intent.HOST_VARS), "",
        "### VRRP fields (host var `ipsec_vrrp`)", "", _field_table(intent.VRRP_FIELDS), "",
        "### Limits", "",
        "| limit | value |", "| --- | --- |",
        "| tunnel name | `[a-z0-9-]`, at most %d characters |" % intent.NAME_MAX,
        "| topology name | at most %d characters |" % intent.TOPOLOGY_NAME_MAX,
        "| pre-shared key | at least %d characters (or %d bytes as `0x` hex) |"
        % (intent.PSK_MIN_LENGTH, intent.PSK_MIN_LENGTH),
        "| lifetimes | %s..%s |" % (intent.format_duration(intent.LIFETIME_MIN_SECONDS),
                                    intent.format_duration(intent.LIFETIME_MAX_SECONDS)),
        "| DPD interval | 0s..%s or `disabled` |" % intent.format_duration(intent.DPD_MAX_SECONDS),
        "| RouterOS | %d.%d or later |" % intent.MIN_ROUTEROS,
    ]
    for feature, version in sorted(intent.FEATURE_VERSIONS.items()):
        parts.append("| `%s` | RouterOS %d.%d or later on both ends |" % ((feature,) + version))
    return "\n".join(parts)


def _value(v):
    if isinstance(v, tuple):
        return ",".join(v) if v else '`""`'
    return v


def suites_reference():
    lines = ["| preset | IKE | profile enc / hash / prf / dh-group | proposal enc / auth / pfs-group | use |",
             "| --- | --- | --- | --- | --- |"]
    for name in sorted(crypto_suites.PRESETS):
        p = crypto_suites.PRESETS[name]
        pr, po = p["profile"], p["proposal"]
        lines.append("| `%s`%s | %s | %s / %s / %s / %s | %s / %s / %s | %s |" % (
            name, " (default)" if name == crypto_suites.DEFAULT_SUITE else "",
            "/".join("v%d" % v for v in p["ike_versions"]),
            _value(pr["enc_algorithm"]), pr["hash_algorithm"], pr["prf_algorithm"], _value(pr["dh_group"]),
            _value(po["enc_algorithms"]), _value(po["auth_algorithms"]), po["pfs_group"], _cell(p["description"])))
    lines += ["", "Values a custom suite may use (RouterOS 7 facts):", "",
              "| key | allowed values |", "| --- | --- |",
              "| `profile.enc_algorithm` (list) | %s |" % ", ".join(crypto_suites.PROFILE_ENC_ALGORITHMS),
              "| `profile.hash_algorithm` | %s |" % ", ".join(crypto_suites.PROFILE_HASH_ALGORITHMS),
              "| `profile.prf_algorithm` (default `auto`) | %s |" % ", ".join(crypto_suites.PROFILE_PRF_ALGORITHMS),
              "| `profile.dh_group` (list) | %s |" % ", ".join(crypto_suites.PROFILE_DH_GROUPS),
              "| `proposal.enc_algorithms` (list) | %s |" % ", ".join(crypto_suites.PROPOSAL_ENC_ALGORITHMS),
              "| `proposal.auth_algorithms` (list, may be empty) | %s |"
              % ", ".join(crypto_suites.PROPOSAL_AUTH_ALGORITHMS),
              "| `proposal.pfs_group` | %s |" % ", ".join(crypto_suites.PROPOSAL_PFS_GROUPS),
              "", "Weak unless `allow_weak_crypto: true`: encryption %s; hash/PRF/integrity %s; DH/PFS groups "
              "%s; `pfs_group: none`; phase-2 lifetime over %s."
              % (", ".join(sorted(crypto_suites.WEAK_ENCRYPTION)), ", ".join(sorted(crypto_suites.WEAK_HASH)),
                 ", ".join(sorted(crypto_suites.WEAK_DH)),
                 intent.format_duration(crypto_suites.MAX_STRONG_PHASE2_LIFETIME))]
    for value, version in sorted(crypto_suites.VERSION_REMOVED.items()):
        lines.append("")
        lines.append("`%s` is accepted only before RouterOS %d.%d." % ((value,) + version))
    return "\n".join(lines)


TARGETS = (
    ("docs/intent.md", "intent reference", intent_reference),
    ("docs/crypto-suites.md", "suite reference", suites_reference),
)


def replace_block(text, name, body):
    begin = "<!-- BEGIN GENERATED: %s -->" % name
    end = "<!-- END GENERATED: %s -->" % name
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit("missing markers for %r" % name)
    block = "%s\n<!-- generated by tools/gen_intent_docs.py from plugins/module_utils; do not edit -->\n\n%s\n\n%s" % (
        begin, body, end)
    return pattern.sub(lambda _match: block, text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for path, name, build in TARGETS:
        full = os.path.join(ROOT, path)
        with open(full, encoding="utf-8") as handle:
            text = handle.read()
        new = replace_block(text, name, build())
        if new != text:
            stale.append(path)
            if not args.check:
                with open(full, "w", encoding="utf-8") as handle:
                    handle.write(new)
    if args.check and stale:
        print("stale (run python tools/gen_intent_docs.py): %s" % ", ".join(stale))
        return 1
    for path in stale:
        print("updated %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
