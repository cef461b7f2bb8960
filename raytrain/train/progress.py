"""Per-batch progress of `raytrain train`: a tqdm bar in a terminal, plain lines otherwise.

Only rank 0 shows it, and only for `raytrain train` (`RunSpec.progress`): a search's trials
report through Tune's own table. Without a terminal (a log file, CI, a Ray Train worker whose
output the driver forwards), a line every quarter of the epoch keeps logs short.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

PLAIN_LINES_PER_EPOCH = 4


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(
    batches: Iterable[Any],
    *,
    total: int,
    epoch: int,
    num_epochs: int,
    stream: TextIO | None = None,
    terminal: bool | None = None,
) -> Iterator[Any]:
    """`batches`, passed through, with progress shown on `stream` (default stderr)."""
    stream = stream or sys.stderr
    desc = f"epoch {epoch + 1}/{num_epochs}"
    if is_terminal(stream) if terminal is None else terminal:
        from tqdm.auto import tqdm

        with tqdm(
            batches, total=total or None, desc=desc, unit="batch", leave=False, file=stream
        ) as bar:
            yield from bar
        return
    every = max(1, total // PLAIN_LINES_PER_EPOCH) if total else 50
    t0 = time.perf_counter()
    n = 0
    for n, item in enumerate(batches, 1):
        yield item
        if n % every == 0 or n == total:
            rate = n / max(time.perf_counter() - t0, 1e-9)
            of = f"/{total}" if total else ""
            print(f"{desc} batch {n}{of} ({rate:.1f} batches/s)", file=stream, flush=True)
