"""`python -m raytrain ...` runs the command line."""

from raytrain.cli.app import main

main()
