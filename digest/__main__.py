"""`python -m digest` is the `digest` command."""

from digest.cli.main import main

main()
