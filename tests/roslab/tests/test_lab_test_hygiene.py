"""Rules the lab's own tests keep, checked over their source."""

import ast
import pathlib

TEST_DIRS = [pathlib.Path(__file__).resolve().parent,
             pathlib.Path(__file__).resolve().parents[3] / "tests" / "unit"]


def _imports_of(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name


def test_no_test_imports_a_conftest_module():
    # tests/unit and tests/roslab/tests both have a conftest.py: "import conftest" gets whichever
    # pytest loaded first, so shared constants live in labfixtures.py
    offenders = []
    for directory in TEST_DIRS:
        for path in sorted(directory.rglob("*.py")):
            if path.name == "conftest.py":
                continue
            if any(name.split(".")[-1] == "conftest" for name in _imports_of(path)):
                offenders.append(str(path))
    assert offenders == []


LAB_TESTS = pathlib.Path(__file__).resolve().parent
LAB_SOURCE = LAB_TESTS.parent / "roslab"


def _calls_named(path, names):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in names:
                yield node.lineno


def test_no_lab_test_turns_a_broken_import_into_a_skip():
    # importorskip or `except ImportError: skip` makes a broken lab import look like a skip
    offenders = []
    for path in sorted(LAB_TESTS.glob("*.py")):
        offenders += ["%s:%d importorskip" % (path.name, n) for n in _calls_named(path, {"importorskip"})]
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None \
                    and "ImportError" in ast.unparse(node.type):
                offenders.append("%s:%d except ImportError" % (path.name, node.lineno))
    assert offenders == []


def test_reference_material_is_read_beside_the_checkout():
    # an absolute /work/shared path is not where CI's copy of shared/ is
    offenders = [path.name for path in sorted(LAB_TESTS.glob("*.py"))
                 if path.name != pathlib.Path(__file__).name and "/work/shared" in path.read_text()]
    assert offenders == []


def test_the_lab_does_not_probe_its_own_parts():
    # every router the lab builds has the whole Router contract: no hasattr feature probing
    offenders = ["%s:%d" % (path.name, n) for path in sorted(LAB_SOURCE.glob("*.py"))
                 for n in _calls_named(path, {"hasattr"})]
    assert offenders == []


COLLECTION_TESTS = pathlib.Path(__file__).resolve().parents[3] / "tests"
LAB_NAMES = ("roslab", "control", "menus", "script", "fabric", "lab", "router")  # how the tests name lab parts


def test_collection_tests_import_the_lab_directly():
    # the collection's lab tests (tests/unit, tests/integration) import roslab and librouteros
    # (test dependencies make setup installs): importorskip would turn a broken lab into skips,
    # and probing the lab's classes (inspect.signature, hasattr) would skip a test after a rename
    offenders = []
    for directory in ("unit", "integration"):
        for path in sorted((COLLECTION_TESTS / directory).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                text = ast.unparse(node.func)
                if text.endswith("importorskip") and node.args and isinstance(node.args[0], ast.Constant) \
                        and str(node.args[0].value).split(".")[0] in ("roslab", "librouteros"):
                    offenders.append("%s:%d importorskip(%r)" % (path.name, node.lineno, node.args[0].value))
                elif text.endswith("inspect.signature"):
                    offenders.append("%s:%d %s" % (path.name, node.lineno, ast.unparse(node)))
                elif text == "hasattr" and node.args and ast.unparse(node.args[0]).split(".")[0] in LAB_NAMES:
                    offenders.append("%s:%d %s" % (path.name, node.lineno, ast.unparse(node)))
    assert offenders == []


def test_one_copy_of_the_lab_helpers():
    # one RouterOS time formatter, one boolean reading, one table of IPsec defaults
    defined = {}
    for path in sorted(LAB_SOURCE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef):
                defined.setdefault(node.name, []).append(path.name)
    assert defined.get("format_duration") == ["clock.py"]
    assert defined.get("truthy") == ["schema.py"]
    assert "format_time" not in defined
    ike_source = (LAB_SOURCE / "ike.py").read_text()
    for menu in ("profile", "peer", "identity", "proposal", "policy"):
        # derived from the menu tables, never a second literal
        assert '_defaults("%s"' % menu in ike_source
    assert '"hash-algorithm": "sha1"' not in ike_source


def _reference_outcome(tmp_path, env):
    import os
    import subprocess
    import sys
    code = ("import labfixtures, _pytest.outcomes as o\n"
            "try:\n    print('found', labfixtures.reference_file('x.json'))\n"
            "except o.Failed:\n    print('failed')\n"
            "except o.Skipped:\n    print('skipped')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=str(LAB_TESTS), capture_output=True, text=True,
                          env=dict(os.environ, **env), check=True)
    return done.stdout.strip()


def test_reference_material_location_and_ci(tmp_path):
    # ROSLAB_REFERENCE_DIR overrides ../shared/reference; a missing file fails with CI=true, skips elsewhere
    (tmp_path / "x.json").write_text("{}")
    assert _reference_outcome(tmp_path, {"ROSLAB_REFERENCE_DIR": str(tmp_path), "CI": "true"}) == \
        "found %s" % (tmp_path / "x.json")
    absent = str(tmp_path / "absent")
    assert _reference_outcome(tmp_path, {"ROSLAB_REFERENCE_DIR": absent, "CI": "true"}) == "failed"
    assert _reference_outcome(tmp_path, {"ROSLAB_REFERENCE_DIR": absent, "CI": "false"}) == "skipped"
