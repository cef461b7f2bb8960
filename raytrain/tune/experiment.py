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

With `tune.storage_path: s3://bucket/prefix` (or gs://) the experiment is
`s3://bucket/prefix/<name>/`: Ray Tune and Train write `tune/` and checkpoints straight to the
bucket, trials copy their logs there when they end, and raytrain writes its own files
(config.yaml, trials.csv, summary.json, report) into a local working copy,
`<training.output_dir>/<name>/`, and puts each in the bucket. The default Optuna study file
stays in that working copy (a database the driver alone uses); set `tune.optuna_storage` to a
shared database to resume from another machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path
from typing import Any

from raytrain.artifacts.storage import (
    exists,
    is_dir,
    is_remote,
    join,
    listdir,
    read_text,
    upload_dir,
    write_bytes,
)
from raytrain.config.schema import ExperimentConfig
from raytrain.config.yaml_io import loads
from raytrain.errors import RaytrainError

TUNE_DIR = "tune"
CLAIM = ".claim"
#: Held for the life of the process that claimed an experiment (the flock is the claim).
_HELD: dict[Path, int] = {}


def experiment_dir_for(cfg: ExperimentConfig) -> Path:
    """The experiment folder (with a bucket as `tune.storage_path`: its local working copy)."""
    root = cfg.tune.storage_path or cfg.training.output_dir
    if is_remote(root):
        root = cfg.training.output_dir
    return (Path(root) / cfg.training.name).absolute()


def experiment_uri_for(cfg: ExperimentConfig) -> str | None:
    """`s3://bucket/prefix/<name>` when `tune.storage_path` is a bucket, else None."""
    root = cfg.tune.storage_path
    return str(join(root, cfg.training.name)) if root and is_remote(root) else None


def publish(exp: Path, uri: str | None, *names: str) -> None:
    """Put the working copy's files (or folders) `names` in the bucket experiment `uri`."""
    if uri is None:
        return
    for name in names:
        src = exp / name
        if src.is_dir():
            upload_dir(src, f"{uri}/{name}")
        elif src.exists():
            write_bytes(f"{uri}/{name}", src.read_bytes())


def claim(exp: Path | str, cfg: ExperimentConfig, resume: bool) -> None:
    """Claim `exp` (a folder, or the experiment's URI on object storage) for this process
    (start or resume); raise a RaytrainError saying why not.

    A local claim is an exclusive, non-blocking flock on `exp/.claim`, kept until the process
    ends, so of two searches started at once under one name exactly one passes;
    `release_claim` undoes it when the search fails before it wrote anything. A bucket has no
    flock: there the claim is the checks alone (and raytrain's local working copy is locked)."""
    name = cfg.training.name
    taken = (
        f"experiment '{name}' already exists in {exp}; pass --resume to finish it, "
        f"or pick another name (--name NAME or training.name)"
    )
    remote = is_remote(str(exp))
    if not resume:
        if remote:
            if listdir(exp):
                raise RaytrainError(taken)
            return
        exp = Path(exp)
        if exp.exists() and any(p.name != CLAIM for p in exp.iterdir()):
            raise RaytrainError(taken)
        _lock(exp, name)
        if any(p.name != CLAIM for p in exp.iterdir()):  # the winner of a race got here first
            release_claim(exp)
            raise RaytrainError(taken)
        return
    if not is_dir(join(exp, TUNE_DIR)):
        raise RaytrainError(
            f"--resume: no search named '{name}' to resume in {exp} (no {TUNE_DIR}/ folder); "
            f"run without --resume to start it"
        )
    if exists(join(exp, "summary.json")):
        raise RaytrainError(
            f"--resume: the search '{name}' in {exp} already finished (summary.json); its "
            f"results are in {join(exp, 'trials.csv')}"
        )
    if not remote:
        check_state_trusted(Path(exp))
    saved_path = join(exp, "config.yaml")
    if exists(saved_path):
        saved, _ = loads(read_text(saved_path), source=str(saved_path))
        if not isinstance(saved, dict):
            raise RaytrainError(f"{saved_path}: not a saved raytrain config (not a mapping)")
        diff = _differences(saved, cfg.model_dump(mode="json"))
        if diff:
            raise RaytrainError(
                f"--resume: the config differs from the one the search started with "
                f"({saved_path}) at {', '.join(diff[:5])}; a resumed search runs its "
                f"original config: undo the change or start a new name"
            )
    if not remote:
        _lock(Path(exp), name)


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


def saved_trial_ids(exp: Path | str) -> set[str]:
    """Trial ids in Tune's newest saved experiment state (what a resume will know about)."""
    return set(saved_trial_states(join(exp, TUNE_DIR)))


def saved_trial_states(tune_dir: Path | str) -> dict[str, str]:
    """Trial id -> status in the newest `experiment_state-*.json` of Tune's folder `tune_dir`
    (a folder or a bucket URI); {} when there is none."""
    import json

    states = [n for n in listdir(tune_dir) if n.startswith("experiment_state-")]
    states = sorted(n for n in states if n.endswith(".json"))
    if not states:
        return {}
    data = json.loads(read_text(join(tune_dir, states[-1])))
    trials = [json.loads(t) for t, _ in data.get("trial_data", [])]
    return {t["trial_id"]: t.get("status", "") for t in trials}


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in dict.fromkeys([*a, *b]):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]
