"""Drawing helpers shared by the search figures."""

from __future__ import annotations

from matplotlib.figure import Figure


def _note_figure(title: str, note: str) -> Figure:
    """A small figure that says why a plot is empty, so the report keeps every slot."""
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True, fontsize=12, color="0.3")
    return fig


def _better(mode: str) -> str:
    return "higher is better" if mode == "max" else "lower is better"
