"""The house rules of the package layout (ARCHITECTURE.md), checked so they stay true.

- the import contracts in pyproject.toml (`lint-imports`): layers from the CLI down to
  config/models/errors, torch-level code without Ray, no import cycles;
- nothing loose at the package root but `__init__`, `__main__` and `errors`;
- no source file over 600 lines;
- click only in the CLI package;
- text users read names concepts, not the design documents raytrain was built from.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import raytrain

PACKAGE = Path(raytrain.__file__).parent
REPO = PACKAGE.parent
MAX_LINES = 600


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), f"{lint}: import-linter is not installed (pip install -e '.[dev]')"
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_nothing_is_loose_at_the_package_root() -> None:
    loose = sorted(
        p.name
        for p in PACKAGE.glob("*.py")
        if p.name not in ("__init__.py", "__main__.py", "errors.py")
    )
    assert not loose, f"modules at the package root: {loose}; give each a package"


def test_no_source_file_is_over_600_lines() -> None:
    big = {
        str(p.relative_to(REPO)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"split these by subject: {big}"


def test_click_lives_in_the_cli_package_only() -> None:
    users = [
        str(p.relative_to(REPO))
        for p in PACKAGE.rglob("*.py")
        if p.parent.name != "cli"
        and re.search(r"^\s*import click|^\s*from click", p.read_text(), re.M)
    ]
    assert not users, f"click outside raytrain/cli/: {users}"


DOCUMENT_REFERENCE = re.compile(r"[Ss]eed 00\d|§|seed §|\bthe guide\b")


def test_user_facing_text_cites_no_design_documents() -> None:
    files = [*PACKAGE.rglob("*.py"), *(REPO / "search_spaces").glob("*.yaml")]
    files += [
        REPO / name for name in ("README.md", "ARCHITECTURE.md", "CONTRIBUTING.md", "BENCHMARKS.md")
    ]
    hits = [
        f"{p.relative_to(REPO)}:{i}: {line.strip()}"
        for p in files
        if p.exists()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if DOCUMENT_REFERENCE.search(line)
    ]
    assert not hits, "name the concept instead:\n" + "\n".join(hits[:20])


def test_every_cli_command_and_the_public_api_still_resolve() -> None:
    import click
    from click.testing import CliRunner

    from raytrain.cli.app import main

    runner = CliRunner()
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        assert main.get_command(ctx, name) is not None, name
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, f"raytrain {name} --help: {result.output}"
    for name in raytrain.__all__:
        assert getattr(raytrain, name) is not None, name
