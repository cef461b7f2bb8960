"""`python -m raytrain ...` runs the command line."""

from raytrain.cli.main import main

main()
