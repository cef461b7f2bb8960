"""`raytrain serve`: registered models behind HTTP on Ray Serve.

`raytrain.serve.config` (what is served, typed options), `raytrain.serve.inputs` (request
bodies -> instances, 4xx on anything wrong), `raytrain.serve.predict` (one dynamic batch through
the same `Predictor` as `raytrain predict`), `raytrain.serve.app` (the Serve application: a
FastAPI ingress and one batching deployment per model). Importing this package imports none of
them, so `raytrain.serve.config` stays cheap for the CLI.
"""
