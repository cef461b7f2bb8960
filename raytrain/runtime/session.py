"""The Ray session raytrain runs in: join a running cluster, or start a local Ray once per
process with raytrain's settings."""

from __future__ import annotations

import os

from raytrain.errors import RaytrainError


def cluster_resources(address: str | None, verbose: bool = False) -> tuple[float, float]:
    import ray

    ensure_ray(address, verbose)
    res = ray.cluster_resources()
    return float(res.get("CPU", 0)), float(res.get("GPU", 0))


def alive_nodes() -> int:
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))


#: Where a Ray that raytrain starts on this machine listens.
LOOPBACK = "127.0.0.1"


def ensure_ray(address: str | None = None, verbose: bool = False) -> None:
    """Connect to `address` (a running cluster) or start a local Ray once per process.

    Workers' logs stay in Ray's log folder unless `verbose`: Tune's trial table and raytrain's
    summary are what a user reads; a failing trial's error is summarized at the end.
    """
    import ray

    if ray.is_initialized():
        return
    from raytrain.runtime.address import check_address

    check_address(address)  # seconds, where ray.init would retry a dead address for minutes
    from raytrain.runtime.local import prepare_local_ray

    local: dict[str, str] = {}
    if address == "local" or (not address and not _joins_running_ray()):
        prepare_local_ray()  # a Ray started here; a running cluster keeps its own settings
        # ... and reachable from this machine only: the node (raylet, object store, workers)
        # and the dashboard on the loopback address, not on every interface
        local = {"_node_ip_address": LOOPBACK, "dashboard_host": LOOPBACK}
        _keep_on_loopback()
    try:
        ray.init(address=address or None, log_to_driver=verbose, **local)
    except ConnectionError as e:
        raise RaytrainError(f"--address {address}: cannot connect to Ray ({e})") from None
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False


def _keep_on_loopback() -> None:
    """Ray resolves 127.0.0.1 to the machine's routable address unless it runs in its
    single-machine mode (what it uses on macOS and Windows); switch that mode on for the Ray
    started here, in this process and (through the environment) the processes it starts."""
    try:
        from ray._private import ray_constants

        env_var = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    except (ImportError, AttributeError):  # another Ray: its default addresses it is
        return
    os.environ[env_var] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def _joins_running_ray() -> bool:
    """Whether `ray.init()` without an address would join a running Ray (RAY_ADDRESS, or the
    cluster `ray start` recorded in /tmp/ray) rather than start one."""
    from ray._private.services import canonicalize_bootstrap_address

    try:
        return canonicalize_bootstrap_address(None) is not None
    except Exception:  # a stale record of a dead cluster: ray.init will say so
        return True


def dashboard_url() -> str | None:
    """The Ray dashboard's address, when this Ray runs one (it needs `ray[default]`)."""
    try:
        from ray._private.worker import get_dashboard_url

        url = get_dashboard_url()
    except Exception:  # noqa: BLE001 - not connected, or a Ray without this helper
        return None
    if not url:
        return None
    return url if "://" in url else f"http://{url}"
