"""`raytrain report EXPERIMENT`: one self-contained HTML page for a finished search.

The page is a single file: every PNG is embedded as base64 and the styling is inline, so it can
be mailed, attached to a ticket or opened from a cluster's shared disk with no server, no
network and no JavaScript library. It shows what a reviewer asks first: what was searched,
which trial won and with which config, how every trial did, and every plot the run produced —
the best checkpoint's plots on the test split (`test_visualizations/`) first when there are any,
then the best trial's own, drawn from its last epoch's validation pass.

The only script is a few inline lines that record, once the page has loaded, how many images
decoded (`<body data-images-loaded=... data-images-total=...>`); a headless browser test reads
them to prove the embedded images really render.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from raytrain.viz.held_out import LABEL, TEST_PLOTS_DIR, read_source
from raytrain.viz.search import (
    PARETO_PLOT,
    SEARCH_PLOTS,
    Experiment,
    read_experiment,
    write_search_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Captions for the plots `write_search_plots` draws.
SEARCH_CAPTIONS = {
    "optimization_history.png": "Optimization history: each trial's best value in completion "
    "order, and the best so far.",
    "parallel_coordinates.png": "Parallel coordinates: one axis per searched parameter, one "
    "line per trial, coloured by the objective.",
    "param_importances.png": "Hyperparameter importance, estimated from the completed trials.",
    "learning_curves.png": "Learning curves: the monitored metric per epoch; an X marks a trial "
    "stopped before the last epoch by ASHA or early stopping.",
    "trial_timeline.png": "Trial timeline: when each trial ran, on which worker slot, and how "
    "many ran at once.",
    PARETO_PLOT: "Pareto front: every trial by its first two objectives; in red the trials "
    "no other trial beats in every objective.",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem;
       margin-top: 2.2rem; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
table.kv th { width: 14rem; }
.scroll { overflow-x: auto; }
table.trials td, table.trials th { white-space: nowrap; }
table.trials td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.trials tr.best td { background: #fff4c2; font-weight: 600; }
table.trials tr.error td { color: #a40000; }
details { margin: .8rem 0; } summary { cursor: pointer; color: #0b5cad; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .82rem; }
figure { margin: 1.2rem 0; padding: .6rem; border: 1px solid #e5e7eb; border-radius: 6px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: #444; font-size: .9rem; margin-top: .4rem; }
figcaption code { color: #666; }
.errors li { color: #a40000; }
.note { color: #666; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.dataset.imagesTotal = String(imgs.length);
  document.body.dataset.imagesLoaded = String(ok.length);
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A table cell: 4 significant digits for floats, blank for missing."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4g}"
    return str(value)


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "?"
    h, rest = divmod(int(round(s)), 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def find_pngs(exp: Experiment, search_dir: Path) -> list[tuple[str, list[Path]]]:
    """Every PNG under the experiment, grouped for the page: the search plots, the best trial's
    visualizations/ and analysis/, then any other PNG (sorted by path). Symlinked folders are
    not followed, so a link to a shared data folder cannot pull in thousands of images."""
    seen: set[Path] = set()

    def take(paths: list[Path]) -> list[Path]:
        out = []
        for p in paths:
            r = p.resolve()
            if p.is_file() and r not in seen:
                seen.add(r)
                out.append(p)
        return out

    groups: list[tuple[str, list[Path]]] = [
        ("Search plots", take([search_dir / n for n in (*SEARCH_PLOTS, PARETO_PLOT)])),
        ("Search plots (other)", take(sorted(search_dir.glob("*.png")))),
    ]
    held_out = exp.path / TEST_PLOTS_DIR
    if held_out.is_dir():  # the best checkpoint on the test split, before validation's plots
        groups.append((_held_out_title(held_out), take(sorted(held_out.glob("*.png")))))
    best = exp.best_trial
    if best:
        for sub in ("visualizations", "analysis"):
            folder = exp.path / "trials" / best / sub
            found = sorted(folder.rglob("*.png")) if folder.is_dir() else []
            note = " (validation split, last epoch)" if sub == "visualizations" else ""
            groups.append((f"Best trial {best}: {sub}/{note}", take(found)))
    rest = []
    for root, dirs, files in os.walk(exp.path, followlinks=False):
        dirs.sort()
        rest += [Path(root) / f for f in sorted(files) if f.lower().endswith(".png")]
    groups.append(("Other images", take(rest)))
    return [(title, paths) for title, paths in groups if paths]


def _held_out_title(folder: Path) -> str:
    """The heading of the test-split plots: the label, and what `source.json` says they show."""
    src = read_source(folder)
    said = []
    if src.get("checkpoint_epoch") is not None:
        said.append(f"checkpoint of epoch {src['checkpoint_epoch']}")
    if src.get("num_examples") is not None:
        said.append(f"{src['num_examples']} test examples")
    detail = f" ({', '.join(said)})" if said else ""
    return f"{LABEL[0].upper()}{LABEL[1:]}: {TEST_PLOTS_DIR}/{detail}"


def _caption(path: Path, exp: Experiment) -> str:
    rel = path.relative_to(exp.path) if path.is_relative_to(exp.path) else path
    text = SEARCH_CAPTIONS.get(path.name) if path.parent.name == "search_plots" else None
    if text is None and rel.parts[:1] == (TEST_PLOTS_DIR,):
        text = f"{LABEL[0].upper()}{LABEL[1:]}: {path.stem.replace('_', ' ')}"
    if text is None and rel.parts[:1] == ("trials",) and len(rel.parts) > 2:
        text = f"Trial {rel.parts[1]}: {path.stem.replace('_', ' ')}"
    text = text or path.stem.replace("_", " ")
    return f"{_e(text)} <code>{_e(rel)}</code>"


def _figure(path: Path, exp: Experiment) -> str:
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        return f'<p class="note">skipped {_e(path.name)}: not a valid PNG file</p>'
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(path.stem)}" loading="eager">'
        f"<figcaption>{_caption(path, exp)}</figcaption></figure>"
    )


def _trial_table(exp: Experiment) -> str:
    df = exp.trials
    if df.empty:
        return '<p class="note">no trials recorded</p>'
    cols = list(df.columns)
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    rows = []
    for _, row in df.iterrows():
        trial = str(row["trial"])
        cls = []
        if trial == exp.best_trial:
            cls.append("best")
        if str(row.get("status", "OK")).upper() != "OK":
            cls.append("error")
        cells = []
        for c in cols:
            v = row[c]
            num = isinstance(v, int | float) and not isinstance(v, bool)
            text = _fmt(v.item() if hasattr(v, "item") else v)
            if c == "trial" and trial == exp.best_trial:
                text += " ★"
            cells.append(f'<td class="num">{_e(text)}</td>' if num else f"<td>{_e(text)}</td>")
        attr = f' class="{" ".join(cls)}"' if cls else ""
        rows.append(f'<tr{attr} data-trial="{_e(trial)}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table class="trials" id="trial-table"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _summary_section(exp: Experiment) -> str:
    s = exp.summary
    n = len(exp.trials)
    status = exp.trials["status"].astype(str).str.upper() if n else None
    n_err = int((status != "OK").sum()) if status is not None else 0
    epochs = exp.trials.get("epochs")
    n_stopped = 0
    if epochs is not None and status is not None:
        ran = pd.to_numeric(epochs, errors="coerce")
        n_stopped = int(((status == "OK") & (ran < exp.max_epochs)).sum())
    res = s.get("resources") or {}
    res_text = ", ".join(f"{k}={_fmt(v)}" for k, v in res.items()) or "?"
    reg = s.get("registered")
    reg_text = (
        f"{_e(reg.get('name'))} v{_e(reg.get('version'))} <code>{_e(reg.get('path'))}</code>"
        if reg
        else "not registered"
    )
    direction = "maximize" if exp.mode == "max" else "minimize"
    rows = [
        ("experiment", _e(exp.name)),
        ("folder", f"<code>{_e(s.get('experiment_dir') or exp.path)}</code>"),
        ("objective", f"{direction} <code>{_e(exp.metric)}</code>"),
        *_objectives_rows(s),
        (
            "trials",
            f"{n} ({n - n_err} completed, {n_err} errored, {n_stopped} stopped before "
            f"epoch {exp.max_epochs})",
        ),
        ("wall time", _e(_duration(s.get("wall_time_s")))),
        *([("ended", _e(s["stop_reason"]))] if s.get("stop_reason") else []),
        ("resources", _e(res_text)),
        ("registered model", reg_text),
    ]
    errors = s.get("errors") or []
    err = ""
    if errors:
        items = "".join(f"<li>{_e(x)}</li>" for x in errors)
        err = f'<h3>Errors</h3><ul class="errors">{items}</ul>'
    return f'<section id="summary"><h2>Summary</h2>{_kv_table(rows)}{err}</section>'


def _objectives_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """A multi-objective search's objectives and the size of its Pareto front."""
    objectives = summary.get("objectives") or []
    if len(objectives) < 2:
        return []
    text = ", ".join(
        f"{'maximize' if o.get('mode') == 'max' else 'minimize'} <code>{_e(o.get('metric'))}</code>"
        for o in objectives
    )
    front = len(summary.get("pareto_front") or [])
    return [("objectives", text), ("Pareto front", f"{front} trial(s)")]


def _best_section(exp: Experiment) -> str:
    best = exp.summary.get("best") or {}
    config_text = ""
    if (exp.path / "config.yaml").is_file():
        config_text = (exp.path / "config.yaml").read_text()
    config = (
        f"<details><summary>Full resolved config.yaml</summary><pre>{_e(config_text)}</pre>"
        "</details>"
        if config_text
        else '<p class="note">no config.yaml in the folder</p>'
    )
    if not best:
        return (
            '<section id="best"><h2>Best trial</h2><p class="note">no trial reported the '
            f"metric with a checkpoint</p>{config}</section>"
        )
    rows = [
        ("trial", _e(best.get("trial"))),
        (exp.metric, _e(_fmt(best.get("value")))),
        ("epoch", _e(best.get("epoch"))),
        ("checkpoint", f"<code>{_e(best.get('checkpoint_path'))}</code>"),
    ]
    test = exp.summary.get("test_metrics") or {}
    rows += [(k, _e(_fmt(v))) for k, v in test.items()]  # the best checkpoint on the test split
    params = best.get("params") or {}
    prows = [(k, f"<code>{_e(json.dumps(v))}</code>") for k, v in params.items()]
    ptable = _kv_table(prows) if prows else '<p class="note">no searched parameters</p>'
    return (
        f'<section id="best"><h2>Best trial</h2>{_kv_table(rows)}'
        f"<h3>Searched parameters</h3>{ptable}{config}</section>"
    )


def write_report(experiment_dir: Path, out: Path | None = None) -> Path:
    """Write the experiment's report (default `experiment_dir/report.html`) and return its
    path. Draws the search plots first when `search_plots/` is missing."""
    exp = read_experiment(Path(experiment_dir))
    search_dir = exp.path / "search_plots"
    if not search_dir.is_dir():
        write_search_plots(exp.path, search_dir)
    out = Path(out) if out is not None else exp.path / "report.html"
    if out.is_dir():
        out = out / "report.html"
    figures = []
    for title, paths in find_pngs(exp, search_dir):
        figs = "".join(_figure(p, exp) for p in paths)
        figures.append(f"<h3>{_e(title)}</h3>{figs}")
    plots = "".join(figures) or '<p class="note">no images found</p>'
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>raytrain report: {_e(exp.name)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{_e(exp.name)}</h1>
<p class="sub">raytrain search report, written {stamp}</p>
{_summary_section(exp)}
{_best_section(exp)}
<section id="trials"><h2>Trials</h2>{_trial_table(exp)}</section>
<section id="plots"><h2>Plots</h2>{plots}</section>
<script>{_SCRIPT}</script>
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out


__all__ = ["find_pngs", "write_report"]
