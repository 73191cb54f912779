"""Labs see one face of kernel-lab: every lab file imports from ``harness.lab`` and nothing else
in ``harness``, and every name it takes from there is in ``harness.lab.__all__``."""

import ast
import glob
import os

import harness.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def harness_imports(path: str) -> list[tuple[str, list[str]]]:
    out = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "harness":
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "harness"]
    return out


def test_every_lab_imports_only_harness_lab():
    files = glob.glob(os.path.join(ROOT, "labs", "**", "*.py"), recursive=True)
    assert len(files) >= 7
    wrong = {os.path.relpath(f, ROOT): m for f in files for m, _ in harness_imports(f)
             if m != "harness.lab"}
    assert wrong == {}, f"labs import past harness.lab: {wrong}"
    unlisted = {os.path.relpath(f, ROOT): n for f in files for _, names in harness_imports(f)
                for n in names if n not in harness.lab.__all__}
    assert unlisted == {}, unlisted


def test_the_module_exports_what_it_lists():
    assert all(hasattr(harness.lab, name) for name in harness.lab.__all__)
    assert len(set(harness.lab.__all__)) == len(harness.lab.__all__)


def test_the_check_catches_a_lab_that_reaches_past_it(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("from harness.net.tc import HTB\nfrom harness.lab import TBF\n")
    assert [m for m, _ in harness_imports(str(bad))] == ["harness.net.tc", "harness.lab"]


def test_the_readme_snippet_is_the_example_labs_test_as_it_is():
    """labs/README.md shows _example's test: the same code (comments aside), never a copy that
    drifted from the template."""
    import ast
    import re

    readme = open(os.path.join(ROOT, "labs", "README.md")).read()
    snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    example = open(os.path.join(ROOT, "labs", "_example", "test_example.py")).read()

    def function(source):
        tree = ast.parse(source)
        return [ast.dump(n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]

    def imports(source):
        return [ast.dump(n) for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.ImportFrom) and n.module == "harness.lab"]

    assert function(snippet) == function(example)
    assert imports(snippet) == imports(example)
