"""tools/gen_role_docs.py: role READMEs generated from meta/argument_specs.yml, defaults checked
against defaults/main.yml, and `make docs` failing when a generator fails."""
import importlib.util
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_role_docs", ROOT / "tools" / "gen_role_docs.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def test_role_readmes_are_current():
    assert gen.main(["--check"]) == 0, "run: .venv/bin/python tools/gen_role_docs.py"


@pytest.mark.parametrize("role", gen.roles())
def test_every_role_has_a_readme_stating_its_real_defaults(role):
    readme = (ROOT / "roles" / role / "README.md").read_text(encoding="utf-8")
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8")) or {}
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    for name, value in defaults.items():
        row = [line for line in readme.splitlines() if line.startswith("| `%s` |" % name)]
        assert row and "| `%s` |" % gen._value(value) in row[0], (role, name, row)
    for name in specs["argument_specs"]["main"]["options"]:
        assert "| `%s` |" % name in readme, (role, name)


def _role(tmp_path, spec_default, real_default):
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(textwrap.dedent("""\
        argument_specs:
          main:
            short_description: A demo role
            options:
              demo_state:
                description: The C(state) of O(ipsecfleet.routeros.ipsec_phase1#module:state).
                type: str
                default: %s
        """ % spec_default))
    (role / "defaults" / "main.yml").write_text("demo_state: %s\n" % real_default)
    return tmp_path


def test_a_default_that_disagrees_with_defaults_main_is_refused(tmp_path, capsys):
    root = _role(tmp_path, "merged", "overridden")
    assert gen.main([], root=str(root)) == 1
    assert "demo: demo_state defaults to overridden in defaults/main.yml but meta/argument_specs.yml says merged" \
        in capsys.readouterr().err
    assert not (root / "roles" / "demo" / "README.md").exists()


def test_readme_written_then_checked(tmp_path):
    root = _role(tmp_path, "overridden", "overridden")
    assert gen.main(["--check"], root=str(root)) == 1  # no README yet
    assert gen.main([], root=str(root)) == 0
    text = (root / "roles" / "demo" / "README.md").read_text()
    assert "| `demo_state` | str | `overridden` | The `state` of `state` of `ipsecfleet.routeros.ipsec_phase1`. |" in text
    assert gen.main(["--check"], root=str(root)) == 0


def test_make_docs_fails_when_a_generator_fails(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "gen_broken_docs.py").write_text("raise SystemExit(3)\n")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(os.path.realpath(os.path.join(ROOT, ".venv", "bin", "python")))
    (venv / ".setup-stamp").touch()
    # the docs recipe alone, as the Makefile has it, run from a directory whose only generator fails
    recipe = [line for line in (ROOT / "Makefile").read_text().split("\ndocs:", 1)[1].splitlines()[1:]
              if line.startswith("\t")][0]
    makefile = tmp_path / "Makefile"
    makefile.write_text("SHELL := /bin/bash\n.SHELLFLAGS := -eu -o pipefail -c\nBIN := .venv/bin\ndocs:\n%s\n" % recipe)
    done = subprocess.run(["make", "-s", "docs"], cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "gen_broken_docs.py failed" in done.stderr, done
