"""Where a search lives, and the rules that keep one name one search.

An experiment folder is `<tune.storage_path or training.output_dir>/<training.name>/`: a stable
path per name, so `raytrain tune SPACE --resume` finds what a killed driver left, and a second
search under the same name cannot silently mix its trials into the first one's. Inside:

    config.yaml      the resolved config the search started with (resume checks it)
    optuna.db        the Optuna study (TPE / CMA-ES), opened by `optuna-dashboard`
    tune/            Ray Tune's experiment state (what Tuner.restore reads)
    trials/<id>/     each trial's logs, plots and (TorchTrainer) checkpoints
    trials.csv, summary.json, report.html   written when the search ends
    .claim           locked (flock) by the one raytrain process running the search

Two searches started at once under one name: the first to lock `.claim` wins, the other is
refused. A resume unpickles Tune's state (`tune/tuner.pkl`), so state that another user could
have written (owned by someone else, or group/world-writable) is refused before it is read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path
from typing import Any

from raytrain.config.schema import ExperimentConfig
from raytrain.config.yaml_io import load_file
from raytrain.errors import RaytrainError

TUNE_DIR = "tune"
CLAIM = ".claim"
#: Held for the life of the process that claimed an experiment (the flock is the claim).
_HELD: dict[Path, int] = {}


def experiment_dir_for(cfg: ExperimentConfig) -> Path:
    root = Path(cfg.tune.storage_path or cfg.training.output_dir)
    return (root / cfg.training.name).absolute()


def claim(exp: Path, cfg: ExperimentConfig, resume: bool) -> None:
    """Claim `exp` for this process (start or resume); raise a RaytrainError saying why not.

    The claim is an exclusive, non-blocking flock on `exp/.claim`, kept until the process
    ends, so of two searches started at once under one name exactly one passes.
    `release_claim` undoes it when the search fails before it wrote anything."""
    name = cfg.training.name
    if not resume:
        if exp.exists() and any(p.name != CLAIM for p in exp.iterdir()):
            raise RaytrainError(
                f"experiment '{name}' already exists in {exp}; pass --resume to finish it, "
                f"or pick another name (--name NAME or training.name)"
            )
        _lock(exp, name)
        if any(p.name != CLAIM for p in exp.iterdir()):  # the winner of a race got here first
            release_claim(exp)
            raise RaytrainError(
                f"experiment '{name}' already exists in {exp}; pass --resume to finish it, "
                f"or pick another name (--name NAME or training.name)"
            )
        return
    if not (exp / TUNE_DIR).is_dir():
        raise RaytrainError(
            f"--resume: no search named '{name}' to resume in {exp} (no {TUNE_DIR}/ folder); "
            f"run without --resume to start it"
        )
    if (exp / "summary.json").exists():
        raise RaytrainError(
            f"--resume: the search '{name}' in {exp} already finished (summary.json); its "
            f"results are in {exp / 'trials.csv'}"
        )
    check_state_trusted(exp)
    saved_path = exp / "config.yaml"
    if saved_path.exists():
        saved, _ = load_file(saved_path)
        if not isinstance(saved, dict):
            raise RaytrainError(f"{saved_path}: not a saved raytrain config (not a mapping)")
        diff = _differences(saved, cfg.model_dump(mode="json"))
        if diff:
            raise RaytrainError(
                f"--resume: the config differs from the one the search started with "
                f"({saved_path}) at {', '.join(diff[:5])}; a resumed search runs its "
                f"original config: undo the change or start a new name"
            )
    _lock(exp, name)


def _lock(exp: Path, name: str) -> None:
    if exp in _HELD:
        return
    try:
        exp.mkdir(parents=True, exist_ok=True)
        fd = os.open(exp / CLAIM, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as e:
        raise RaytrainError(f"{exp}: cannot create the experiment folder ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RaytrainError(
            f"experiment '{name}' in {exp} is being run by another raytrain process; "
            f"wait for it, or pick another name (--name NAME or training.name)"
        ) from None
    _HELD[exp] = fd


def release_claim(exp: Path) -> None:
    """Give up a claim; remove the claim file and the folder when nothing else was written."""
    fd = _HELD.pop(exp, None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        if not any(p.name != CLAIM for p in exp.iterdir()):
            (exp / CLAIM).unlink()
            exp.rmdir()
    os.close(fd)


def _private_group(gid: int) -> bool:
    """Whether `gid` is this user's own group (named after the user, no other members): what a
    umask of 002 gives every file, and no one else can write through it."""
    import grp
    import pwd

    try:
        group, user = grp.getgrgid(gid), pwd.getpwuid(os.geteuid())
    except KeyError:
        return False
    return group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}


def check_state_trusted(exp: Path) -> None:
    """Refuse saved search state another user could have written: resuming unpickles it."""
    me = os.geteuid()
    paths = [exp, exp / TUNE_DIR, *sorted((exp / TUNE_DIR).rglob("*"))]
    for p in paths:
        try:
            st = p.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            problem = "is a symbolic link"
        elif st.st_uid != me:
            problem = f"is owned by uid {st.st_uid}, not you (uid {me})"
        elif st.st_mode & stat.S_IWOTH or (
            st.st_mode & stat.S_IWGRP and not _private_group(st.st_gid)
        ):
            problem = "is writable by group or others"
        else:
            continue
        raise RaytrainError(
            f"--resume: {p} {problem}; resuming loads pickled state from it, so state others "
            f"could have written is refused (chmod go-w, or start a new search)"
        )


def saved_trial_ids(exp: Path) -> set[str]:
    """Trial ids in Tune's newest saved experiment state (what a resume will know about)."""
    import json

    states = sorted((exp / TUNE_DIR).glob("experiment_state-*.json"))
    if not states:
        return set()
    data = json.loads(states[-1].read_text())
    return {json.loads(t)["trial_id"] for t, _ in data.get("trial_data", [])}


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in dict.fromkeys([*a, *b]):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]
