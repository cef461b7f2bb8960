"""Other frameworks' spellings of raytrain's keys, read as raytrain's own.

A vision training framework's configs say `optimizer.optimizer_type`, `optimizer.beta_1` /
`beta_2` and `logging.enable_visualization`; they load as `optimizer.type`, `optimizer.betas`
and `logging.visualizations`, and `raytrain validate` prints a note naming raytrain's key.
Giving both spellings of one key is an error (which one would win is a guess).
"""

from __future__ import annotations

import copy
from typing import Any

from raytrain.errors import RaytrainError

#: (section, other spelling) -> raytrain's key in that section
RENAMES: dict[tuple[str, str], str] = {
    ("optimizer", "optimizer_type"): "type",
    ("logging", "enable_visualization"): "visualizations",
    ("logging", "enable_visualizations"): "visualizations",
    ("logging", "enable_gradient_tracking"): "gradient_tracking",
}
BETAS = ("beta_1", "beta_2")
DEFAULT_BETAS = (0.9, 0.999)


def canonical_spellings(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(`data` with other spellings renamed to raytrain's keys, one note per rename)."""
    touched = {s for s, k in RENAMES if isinstance(data.get(s), dict) and k in data[s]}
    opt = data.get("optimizer")
    has_betas = isinstance(opt, dict) and any(b in opt for b in BETAS)
    if not touched and not has_betas:
        return data, []
    data = copy.copy(data)
    notes: list[str] = []
    for (section, other), ours in RENAMES.items():
        sec = data.get(section)
        if not isinstance(sec, dict) or other not in sec:
            continue
        if ours in sec:
            raise RaytrainError(
                f"{section}.{other} and {section}.{ours} are the same setting; give one"
            )
        sec = data[section] = dict(sec)
        sec[ours] = sec.pop(other)
        notes.append(f"{section}.{other}: read as {section}.{ours}")
    if has_betas:
        sec = data["optimizer"] = dict(data["optimizer"])
        if "betas" in sec:
            raise RaytrainError("optimizer.beta_1/beta_2 and optimizer.betas: give one of them")
        given = [sec.pop(b, d) for b, d in zip(BETAS, DEFAULT_BETAS, strict=True)]
        sec["betas"] = given
        notes.append(f"optimizer.beta_1/beta_2: read as optimizer.betas {given}")
    return data, notes
