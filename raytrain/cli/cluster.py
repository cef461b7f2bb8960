"""`raytrain cluster check CONFIG`: the preflight (`raytrain.runtime.cluster_check`) to run
before `ray up`."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("cluster")
def cluster_group() -> None:
    """Cluster configs (cluster/*.yaml)."""


@cluster_group.command("check")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
def check_command(config: Path) -> None:
    """Check CONFIG before `ray up` / `kubectl apply`: no placeholder left (REPLACE-ME,
    YOUR-...), Ray's own config checks, and the files it copies to the nodes present here.
    Starts nothing; exit code 2 with one `error:` line on the first problem."""
    from raytrain.runtime.cluster_check import check_cluster_config

    click.echo(check_cluster_config(config))
