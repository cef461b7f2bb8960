"""Network architecture (`network_architecture.png`): one row per layer with its output
shape and parameter count, from a dummy forward pass in eval mode (every module's
train/eval flag is restored afterwards); long networks are grouped into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch

from raytrain.viz._common import save_figure

NETWORK_ARCHITECTURE = "network_architecture.png"

MAX_ROWS = 40  # beyond this many layers the diagram groups them (see `group_layers`)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The user's model inside a DistributedDataParallel wrapper (names without `module.`)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.module
    return model


@dataclass
class LayerRow:
    """One row of the diagram: a layer (or a group of layers) in the order the forward pass ran.

    `output_shape` is what its first call returned for a batch of 1 ("not called" for a module
    the forward pass never ran, "param (shape)" for a bare `nn.Parameter` such as a position
    embedding). `params` counts the parameters it owns, so the rows add up to the model's total.
    """

    name: str
    type: str
    output_shape: str
    params: int
    calls: int = 1
    layers: int = 1


@dataclass
class ArchitectureInfo:
    model_type: str
    input_shape: tuple[int, ...]
    output_shape: str
    rows: list[LayerRow]
    leaf_count: int
    total_params: int
    trainable_params: int
    grouped_by: int | None = None  # name depth the rows were grouped at; None when ungrouped
    forward_error: str | None = None


def _owns_parameters(m: torch.nn.Module) -> bool:
    return next(m.parameters(recurse=False), None) is not None


def _units(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The modules a row stands for: leaves, plus modules with parameters of their own.

    Why not just leaves: `nn.MultiheadAttention` holds `in_proj_weight` itself and applies its
    `out_proj` child functionally, so a hook on the child never fires; the module that owns the
    weights is the layer a reader thinks of. Such a unit's children are not listed separately.
    """
    units: list[tuple[str, torch.nn.Module]] = []

    def walk(prefix: str, m: torch.nn.Module) -> None:
        children = list(m.named_children())
        if not children or (prefix and _owns_parameters(m)):
            units.append((prefix or type(m).__name__, m))
            return
        for name, child in children:
            walk(f"{prefix}.{name}" if prefix else name, child)

    walk("", model)
    return units


def _shape_str(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return str(tuple(out.shape))
    if isinstance(out, list | tuple):
        parts = [_shape_str(o) for o in out if o is not None]
        return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    if isinstance(out, dict):
        return "{" + ", ".join(f"{k}: {_shape_str(v)}" for k, v in out.items()) + "}"
    return type(out).__name__


def _count(params: list[torch.nn.Parameter]) -> int:
    return sum(p.numel() for p in params)


def architecture_info(
    model: torch.nn.Module, input_shape: tuple[int, ...], max_rows: int = MAX_ROWS
) -> ArchitectureInfo:
    """Layers in execution order with output shapes and parameter counts.

    `input_shape` is one example's shape without the batch axis
    (`raytrain.artifacts.export.input_shape`);
    the model runs once on zeros of shape `(1, *input_shape)`. The pass runs in eval mode (batch
    norm keeps its statistics) but with autograd on, because PyTorch's fused Transformer fast path
    — taken only without autograd — skips the submodules whose hooks record the shapes.
    If the forward pass fails, the rows are listed in definition order with "?" shapes and the
    error is kept in `forward_error`, so a diagram is still drawn.
    """
    model = _unwrap(model)
    units = _units(model)
    records: dict[int, dict[str, Any]] = {}
    order: list[int] = []

    def hook(idx: int) -> Any:
        def fn(_m: torch.nn.Module, _inp: Any, out: Any) -> None:
            if idx not in records:
                records[idx] = {"shape": _shape_str(out), "calls": 0}
                order.append(idx)
            records[idx]["calls"] += 1

        return fn

    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    modes = {m: m.training for m in model.modules()}
    handles = [m.register_forward_hook(hook(i)) for i, (_, m) in enumerate(units)]
    error, out_shape = None, "?"
    try:
        model.eval()
        with torch.enable_grad():
            out = model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
        out_shape = _shape_str(out)
        del out
    except Exception as e:  # a diagram without shapes beats no diagram
        error = f"{type(e).__name__}: {e}"
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training

    rows: list[LayerRow] = []
    seen: set[int] = set()
    for idx in order + [i for i in range(len(units)) if i not in records]:
        name, m = units[idx]
        params = [p for p in m.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        if idx in records:
            shape, calls = records[idx]["shape"], records[idx]["calls"]
        elif params or error:
            shape, calls = ("?" if error else "not called"), 0
        else:
            continue  # a parameter-free layer the forward pass never ran: nothing to show
        rows.append(LayerRow(name, type(m).__name__, shape, _count(params), calls))
    for pname, p in model.named_parameters():  # parameters no layer owns (position embeddings)
        if id(p) not in seen:
            seen.add(id(p))
            rows.append(LayerRow(pname, "Parameter", f"param {tuple(p.shape)}", p.numel(), 0))

    unique = {id(p): p for p in model.parameters()}.values()
    info = ArchitectureInfo(
        model_type=type(model).__name__,
        input_shape=tuple(input_shape),
        output_shape=out_shape,
        rows=rows,
        leaf_count=len(rows),
        total_params=sum(p.numel() for p in unique),
        trainable_params=sum(p.numel() for p in unique if p.requires_grad),
        forward_error=error,
    )
    if len(rows) > max_rows:
        info.rows, info.grouped_by = group_layers(model, rows, max_rows)
    return info


def group_layers(
    model: torch.nn.Module, rows: list[LayerRow], max_rows: int
) -> tuple[list[LayerRow], int]:
    """Merge rows that share a name prefix, at the deepest prefix depth that fits `max_rows`.

    Depth 1 groups by top-level child (`encoder`, `decoder`...); deeper levels keep more detail
    (`encoder.0`, `encoder.1`...) when that still fits. A group's shape is the output of its
    last-run layer, its parameters the sum. If even depth 1 does not fit, the surplus groups are
    folded into one final "... more" row so that the parameter total still adds up.
    """
    depth_max = max(len(r.name.split(".")) for r in rows)
    chosen = 1
    for depth in range(depth_max, 0, -1):
        if len({".".join(r.name.split(".")[:depth]) for r in rows}) <= max_rows:
            chosen = depth
            break
    groups: dict[str, list[LayerRow]] = {}
    for r in rows:
        groups.setdefault(".".join(r.name.split(".")[:chosen]), []).append(r)

    out: list[LayerRow] = []
    for key, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        try:
            kind = type(model.get_submodule(key)).__name__
        except AttributeError:
            kind = "group"
        ran = [m for m in members if m.calls]
        out.append(
            LayerRow(
                key,
                kind,
                ran[-1].output_shape if ran else members[-1].output_shape,
                sum(m.params for m in members),
                max((m.calls for m in members), default=0),
                len(members),
            )
        )
    if len(out) > max_rows:
        rest = out[max_rows - 1 :]
        out = out[: max_rows - 1] + [
            LayerRow(
                f"... {len(rest)} more",
                "group",
                rest[-1].output_shape,
                sum(r.params for r in rest),
                0,
                sum(r.layers for r in rest),
            )
        ]
    return out, chosen


_CATEGORIES = {
    "convolution": ("#8ecae6", ("Conv",)),
    "linear / attention": ("#ffb703", ("Linear", "Attention", "Bilinear", "Embedding")),
    "normalization": ("#b7e4c7", ("Norm",)),
    "pooling / resampling": ("#cdb4db", ("Pool", "Upsample", "Shuffle", "Flatten")),
    "dropout": ("#f1f3f5", ("Dropout",)),
    "activation": (
        "#e9ecef",
        ("ReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "ELU", "Mish", "Hardswish"),
    ),
}

_GROUP_COLOR, _OTHER_COLOR = "#dee2e6", "#ffd6a5"


def _category(row: LayerRow) -> tuple[str, str]:
    if row.layers > 1:
        return "group of layers", _GROUP_COLOR
    for label, (color, keys) in _CATEGORIES.items():
        if any(k in row.type for k in keys):
            return label, color
    return "other", _OTHER_COLOR


def _get_architecture_plot(info: ArchitectureInfo) -> Figure:
    n = len(info.rows)
    height = 1.8 + 0.42 * (n + 1)  # inches: title on top, legend below, one band per row
    fig = Figure(figsize=(10, height))
    ax = fig.add_axes((0.02, 0.5 / height, 0.96, 1 - 1.6 / height))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, n + 0.8)
    ax.axis("off")
    ax.text(0.03, n + 0.3, "layer", fontweight="bold", fontsize=9)
    ax.text(0.56, n + 0.3, "output shape (batch 1)", fontweight="bold", fontsize=9)
    ax.text(0.97, n + 0.3, "parameters", fontweight="bold", fontsize=9, ha="right")
    # corners round in inches, not in data units (x spans 1, y spans n rows)
    w_in, h_in = 10 * 0.96, height * (1 - 1.6 / height)
    aspect = (n + 1.4) * w_in / h_in
    used: dict[str, str] = {}
    for i, row in enumerate(info.rows):
        y = n - 1 - i
        label, color = _category(row)
        used[label] = color
        ax.add_patch(
            FancyBboxPatch(
                (0.01, y - 0.34),
                0.98,
                0.68,
                boxstyle="round,pad=0.0,rounding_size=0.008",
                mutation_aspect=aspect,
                fc=color,
                ec="#495057",
                lw=0.8,
            )
        )
        kind = f"{row.type} ({row.layers} layers)" if row.layers > 1 else row.type
        calls = f"  ×{row.calls}" if row.calls > 1 else ""
        ax.text(0.03, y, f"{row.name}  [{kind}]{calls}", va="center", fontsize=8.5)
        ax.text(0.56, y, row.output_shape, va="center", fontsize=8.5, family="monospace")
        ax.text(0.97, y, f"{row.params:,}", va="center", ha="right", fontsize=8.5)
        if i < n - 1 and info.rows[i + 1].type != "Parameter":  # loose parameters: no flow
            ax.annotate(
                "",
                xy=(0.5, y - 0.62),
                xytext=(0.5, y - 0.36),
                arrowprops={"arrowstyle": "->", "color": "#495057", "lw": 0.8},
            )
    ax.legend(
        handles=[Patch(fc=c, ec="#495057", label=lab) for lab, c in used.items()],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(4, len(used)) or 1,
        fontsize=8,
        frameon=False,
    )
    title = (
        f"{info.model_type}: {info.total_params:,} parameters "
        f"({info.trainable_params:,} trainable)\n"
        f"input {(1, *info.input_shape)} → output {info.output_shape}"
    )
    if info.grouped_by is not None:
        title += f"\n{info.leaf_count} layers grouped by name depth {info.grouped_by}"
    if info.forward_error:
        title += f"\nforward pass failed, shapes unknown: {info.forward_error[:90]}"
    fig.suptitle(title, fontsize=11)
    return fig


def write_network_architecture(
    model: torch.nn.Module, input_shape: tuple[int, ...], path: Path
) -> Path:
    """Draw the layer sequence of `model` (shapes for a batch of 1, parameters per layer) to
    `path` (conventionally `visualizations/network_architecture.png`)."""
    return save_figure(_get_architecture_plot(architecture_info(model, input_shape)), Path(path))
