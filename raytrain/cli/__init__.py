"""The command line: one module per command group, all thin over the Python API.

`main` is the root click group (`raytrain ...`); `options` holds the options several commands
share, defined once."""
