"""How runs are launched on Ray: the local Ray session, resource plans, the TorchTrainer that
starts a worker group (or the same loop inside a Tune trial), and checkpoint keeping on the
driver.

This is the only package that touches Ray's private modules (`ray.train.v2._internal`,
`ray.train._internal`, `ray._private`). Each such use has a plain fallback, and
`tests/runtime/test_ray_internals.py` fails when a Ray upgrade moves what it uses."""
