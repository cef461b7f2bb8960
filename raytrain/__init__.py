"""raytrain: one YAML file becomes a distributed hyperparameter search and training run on Ray."""

__version__ = "0.1.0"
