"""Setup: ./start.sh installs only what running the studio needs, ./test.sh the test tools too, and
.streamlit/config.toml names only files that exist."""
from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLS = {"pytest", "pytest-timeout", "playwright", "hypothesis", "markdown-it-py", "linkify-it-py"}
FIRST_PARTY = {"lib", "pages", "tests", "bench"}


def requirements(name: str) -> tuple[list[Requirement], list[str]]:
    """The requirements a file pins, and the files it includes (`-r`)."""
    pinned, included = [], []
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            included.append(line[3:].strip())
        elif line:
            pinned.append(Requirement(line))
    return pinned, included


def installed_by(pinned: list[Requirement]) -> set[str]:
    """Every distribution installing `pinned` brings in (their dependencies, extras asked for included)."""
    found: set[str] = set()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in pinned]
    while todo:
        name, extras = todo.pop()
        if name in found and not extras:
            continue
        found.add(name)
        for text in metadata.requires(name) or ():
            needed = Requirement(text)
            environments = [{"extra": extra} for extra in extras] + [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(env) for env in environments):
                todo.append((canonicalize_name(needed.name), frozenset(needed.extras)))
    return found


def imported_modules() -> set[str]:
    """The top-level names the studio's code imports (lib/, pages/, streamlit_app.py), first-party left out."""
    files = [*ROOT.glob("lib/**/*.py"), *ROOT.glob("pages/**/*.py"), ROOT / "streamlit_app.py"]
    names = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


def test_the_runtime_file_has_no_test_tool_and_the_test_file_adds_them_to_it():
    runtime, included = requirements("requirements.txt")
    tests, test_includes = requirements("requirements-test.txt")
    assert included == [] and test_includes == ["requirements.txt"]
    assert {canonicalize_name(r.name) for r in runtime} & TEST_TOOLS == set()
    assert {canonicalize_name(r.name) for r in tests} == TEST_TOOLS
    assert not installed_by(runtime) & {"pytest", "playwright", "hypothesis"}


def test_every_module_the_studio_imports_is_installed_by_the_runtime_file():
    runtime = installed_by(requirements("requirements.txt")[0])
    providers = metadata.packages_distributions()
    imported = imported_modules()
    assert {"streamlit", "av", "psycopg"} <= imported  # the scan sees the studio's imports
    missing = {name: providers.get(name) for name in imported
               if not {canonicalize_name(d) for d in providers.get(name, [])} & runtime}
    assert missing == {}


def test_start_installs_the_runtime_file_and_test_installs_the_test_file():
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert 'REQUIREMENTS=${REQUIREMENTS:-requirements.txt}' in setup and '-r "$REQUIREMENTS"' in setup
    assert "requirements-test" not in (ROOT / "start.sh").read_text()
    assert "REQUIREMENTS=requirements-test.txt source" in (ROOT / "test.sh").read_text()


PATH_LIKE = re.compile(r"(?<![\w/.:-])(?:[\w.-]+/)*[\w-]+\.(?:md|py|sh|txt|toml|json|js|css|html|ya?ml)\b")
README_SECTION = re.compile(r'README\.md, "([^"]+)"')


def named_files(text: str) -> list[str]:
    return PATH_LIKE.findall(text)


def test_the_path_finder_sees_a_missing_file():
    assert named_files("pass --server.allowedHosts=studio.example.com (docs/hosting.md)") == ["docs/hosting.md"]


def test_config_toml_names_only_files_and_readme_sections_that_exist():
    config = (ROOT / ".streamlit/config.toml").read_text()
    assert [name for name in named_files(config) if not (ROOT / name).exists()] == []
    headings = {line.lstrip("#").strip() for line in (ROOT / "README.md").read_text().splitlines()
                if line.startswith("#")}
    assert [section for section in README_SECTION.findall(config) if section not in headings] == []
