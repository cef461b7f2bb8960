"""The command line: one module per command group, all thin over the Python API.

`main` (in `app`) is the root click group (`raytrain ...`); `options` holds the options
several commands share, defined once."""

from raytrain.cli.app import main

__all__ = ["main"]
