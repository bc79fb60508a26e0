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
