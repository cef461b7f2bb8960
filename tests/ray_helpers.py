"""Questions tests ask the shared Ray session (tests/conftest.py's `ray_start_2_cpus`).

Imported as `ray_helpers` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations


def actors_started(class_name: str) -> int:
    """How many actors of `class_name` this Ray session has started, alive or dead.

    Asks this session's own GCS: without an address Ray's state API looks for *a* local Ray,
    and fails when another one runs on the machine (a benchmark, a second test run)."""
    import ray
    from ray.util.state import list_actors

    address = ray.get_runtime_context().gcs_address
    actors = list_actors(address=address, filters=[("class_name", "=", class_name)], limit=10_000)
    return len(actors)
