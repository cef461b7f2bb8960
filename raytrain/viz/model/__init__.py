"""Network inspection and post-training analysis plots (the run's network_architecture.png and
analysis/: weight_distributions, training_dynamics, summary_dashboard).

One module per figure: `architecture`, `weights`, `dynamics`, `dashboard`. As in
`raytrain.viz.training`, each has a pure function that computes what the plot shows
(`architecture_info`, `weight_stats`, `weight_histograms`, `dynamics_info`, `summary_numbers`) and
a `_get_*_plot` beside it that draws it. Nothing here changes the model: the dummy forward pass
for the architecture runs in eval mode and every module's train/eval flag is restored afterwards.

This package re-exports the public names of its modules.
"""

from raytrain.viz.model.architecture import (
    MAX_ROWS,
    NETWORK_ARCHITECTURE,
    ArchitectureInfo,
    LayerRow,
    architecture_info,
    group_layers,
    write_network_architecture,
)
from raytrain.viz.model.dashboard import (
    SUMMARY_DASHBOARD,
    SummaryInfo,
    summary_info,
    summary_numbers,
    write_summary_dashboard,
)
from raytrain.viz.model.dynamics import (
    TRAINING_DYNAMICS,
    DynamicsInfo,
    dynamics_info,
    write_training_dynamics,
)
from raytrain.viz.model.weights import (
    MAX_HIST_LAYERS,
    NEAR_ZERO,
    WEIGHT_DISTRIBUTIONS,
    WeightHistogram,
    weight_histograms,
    weight_stats,
    write_weight_distributions,
)

__all__ = [
    "MAX_HIST_LAYERS",
    "MAX_ROWS",
    "NEAR_ZERO",
    "NETWORK_ARCHITECTURE",
    "SUMMARY_DASHBOARD",
    "TRAINING_DYNAMICS",
    "WEIGHT_DISTRIBUTIONS",
    "ArchitectureInfo",
    "DynamicsInfo",
    "LayerRow",
    "SummaryInfo",
    "WeightHistogram",
    "architecture_info",
    "dynamics_info",
    "group_layers",
    "summary_info",
    "summary_numbers",
    "weight_histograms",
    "weight_stats",
    "write_network_architecture",
    "write_summary_dashboard",
    "write_training_dynamics",
    "write_weight_distributions",
]
