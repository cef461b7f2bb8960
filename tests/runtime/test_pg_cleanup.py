"""The search-wide placement-group janitor (`raytrain.runtime.placement_janitor`), on a real
local Ray:
the PG of a controller that dies is removed; the PG of one that lives, or that ended cleanly
and said so, is left alone."""

from __future__ import annotations

import time

import pytest
import ray
from ray.util.placement_group import placement_group, placement_group_table

from raytrain.runtime.placement_janitor import start_janitor


@ray.remote(num_cpus=0)
class FakeController:
    """Holds a PG the way a Train controller does and registers it with the janitor."""

    def make_pg(self, janitor: object) -> object:
        pg = placement_group([{"CPU": 0.5}])
        ray.get(pg.ready())
        me = ray.get_runtime_context().current_actor
        key = ray.get_runtime_context().get_actor_id()
        ray.get(janitor.watch.remote(key, me, pg))  # type: ignore[attr-defined]
        return pg


def _state(pg: object) -> str:
    return placement_group_table(pg).get("state", "REMOVED")


def _wait_for(pred, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.usefixtures("ray_start_2_cpus")
def test_the_pg_of_a_dead_controller_is_removed_and_a_live_ones_kept() -> None:
    janitor = start_janitor()
    dying, living = FakeController.remote(), FakeController.remote()
    pg_dying = ray.get(dying.make_pg.remote(janitor))
    pg_living = ray.get(living.make_pg.remote(janitor))
    assert ray.get(janitor.stats.remote()) == {"watched": 2, "removed": 0}

    ray.kill(dying, no_restart=True)  # dies without removing its PG, as a killed trial's does
    assert _wait_for(lambda: _state(pg_dying) == "REMOVED"), "dead controller's PG leaked"
    assert ray.get(janitor.stats.remote()) == {"watched": 1, "removed": 1}

    time.sleep(2.5)  # two more rounds of checks: the live one is still watched, PG intact
    assert _state(pg_living) == "CREATED"
    assert ray.get(janitor.stats.remote())["watched"] == 1
    ray.kill(living, no_restart=True)
    assert _wait_for(lambda: _state(pg_living) == "REMOVED")
    ray.kill(janitor)


@pytest.mark.usefixtures("ray_start_2_cpus")
def test_a_forgotten_controller_is_no_longer_watched() -> None:
    janitor = start_janitor()
    ctl = FakeController.remote()
    pg = ray.get(ctl.make_pg.remote(janitor))
    key = ctl._actor_id.hex()
    ray.get(janitor.forget.remote(key))
    assert ray.get(janitor.stats.remote()) == {"watched": 0, "removed": 0}
    ray.kill(ctl, no_restart=True)
    time.sleep(2.5)
    assert ray.get(janitor.stats.remote())["removed"] == 0
    ray.util.remove_placement_group(pg)
    ray.kill(janitor)


@pytest.mark.usefixtures("ray_start_2_cpus")
def test_settle_removes_the_pgs_of_just_killed_controllers_then_ends_the_janitor() -> None:
    """What a search does after Tune returns: trials it killed at the end leave no PG."""
    from raytrain.runtime.placement_janitor import settle

    janitor = start_janitor()
    ctl = FakeController.remote()
    pg = ray.get(ctl.make_pg.remote(janitor))
    ray.kill(ctl, no_restart=True)
    settle(janitor)
    assert _state(pg) == "REMOVED"
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(janitor.stats.remote())
