"""`raytrain cluster check CONFIG`: the preflight before `ray up` / `kubectl apply`.

Every shipped config still holds placeholders (REPLACE-ME, YOUR-...): the check fails on each
with one `error:` line naming the file, line and key, exit code 2, before anything starts. The
same files with the placeholders filled in pass. No network, no cloud, no Ray started."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from raytrain.cli import main
from raytrain.runtime.cluster_check import PLACEHOLDER

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
CONFIGS = sorted(CLUSTER.glob("*.yaml"))

#: where each shipped config's first placeholder is
FIRST_PLACEHOLDER = {
    "gpu.yaml": "available_node_types.head.node_config.SecurityGroupIds[0]",
    "gcp-gpu.yaml": "provider.project_id",
    "kuberay.yaml": "spec.headGroupSpec.template.spec.containers[0].image",
    "local.yaml": "initialization_commands[0]",
}


def _check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["cluster", "check", str(path)])
    return result.exit_code, result.output


def _filled_in(path: Path, out: Path) -> Path:
    """The config as a user would have it: every placeholder replaced by a value."""
    values = {"YOUR-PROJECT-ID": "my-project-123", "YOUR-BUCKET": "my-bucket", "YOUR-ORG": "my-org"}
    text = PLACEHOLDER.sub(lambda m: values.get(m.group(0), "0a1b2c3d4e5f"), path.read_text())
    target = out / path.name
    target.write_text(text)
    return target


@pytest.fixture
def token_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with a Ray token (`ray get-auth-token --generate` writes it there)."""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("0" * 32)
    (home / ".ssh").mkdir()
    (home / ".ssh" / "raytrain_cluster_ed25519").write_text("not a real key\n")
    monkeypatch.setenv("HOME", str(home))
    return home


def test_every_shipped_config_is_covered() -> None:
    assert {p.name for p in CONFIGS} == set(FIRST_PLACEHOLDER)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_placeholder_fails_naming_the_key(path: Path, token_home: Path) -> None:
    code, output = _check(path)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    key = FIRST_PLACEHOLDER[path.name]
    assert f"{path}:" in lines[0] and f" {key}: still the placeholder " in lines[0], output
    # the line number is that of the placeholder
    line = int(re.search(rf"{re.escape(str(path))}:(\d+):", lines[0]).group(1))
    assert PLACEHOLDER.search(path.read_text().splitlines()[line - 1]), lines[0]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_filled_in_config_passes(path: Path, tmp_path: Path, token_home: Path) -> None:
    filled = _filled_in(path, tmp_path)
    code, output = _check(filled)
    assert code == 0, output
    assert output.startswith(f"{filled}: ok ("), output


def test_missing_token_fails_naming_the_mount(tmp_path: Path, token_home: Path) -> None:
    (token_home / ".ray" / "auth_token").unlink()
    code, output = _check(_filled_in(CLUSTER / "gpu.yaml", tmp_path))
    assert code == 2
    assert "file_mounts./home/ray/.ray/auth_token: ~/.ray/auth_token does not exist" in output
    assert "ray get-auth-token --generate" in output


def test_missing_ssh_key_fails(tmp_path: Path, token_home: Path) -> None:
    (token_home / ".ssh" / "raytrain_cluster_ed25519").unlink()
    code, output = _check(_filled_in(CLUSTER / "local.yaml", tmp_path))
    assert code == 2
    assert "auth.ssh_private_key: ~/.ssh/raytrain_cluster_ed25519 does not exist" in output


def test_rays_own_checks_run(tmp_path: Path, token_home: Path) -> None:
    filled = _filled_in(CLUSTER / "gpu.yaml", tmp_path)
    text = filled.read_text().replace("head_start_ray_commands:", "head_start_ray_cmds:")
    filled.write_text(text)
    code, output = _check(filled)
    assert code == 2 and output.count("\n") == 1, output
    assert "head_start_ray_cmds" in output and "Ray's cluster-config schema" in output


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster_name: [unclosed\n")
    code, output = _check(bad)
    assert code == 2 and output.startswith(f"error: {bad}:") and "not valid YAML" in output
    code, output = _check(tmp_path / "missing.yaml")
    assert code == 2 and "cannot read" in output
