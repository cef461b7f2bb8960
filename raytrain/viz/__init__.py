"""Plots of a run: training curves (`training`), model inspection and analysis (`model`),
evaluation (`evaluation`), and the end-of-run driver (`run`). Import the submodule you need;
this package imports nothing itself so that `import raytrain` never pulls in matplotlib."""
