"""Plots of a run and of a search: training curves (`training`), model inspection and analysis
(`model`), evaluation (`evaluation`), the end-of-run driver (`run`), search plots (`search`) and
the HTML report (`report`). Each plot package has one module per figure, a pure `*_info`
function beside the `_get_*_plot` that draws it. Import the submodule you need; this package
imports nothing itself so that `import raytrain` never pulls in matplotlib."""
