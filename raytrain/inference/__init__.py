"""Using a trained model: one torch/ONNX runner, the `Predictor` behind `raytrain predict`,
`raytrain evaluate` and the plugin surface, and `plugins.yaml`."""

from raytrain.inference.plugins import PluginRegistry, load_plugins
from raytrain.inference.predictor import Predictor
from raytrain.inference.runner import BACKENDS

__all__ = ["BACKENDS", "PluginRegistry", "Predictor", "load_plugins"]
