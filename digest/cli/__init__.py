"""The `digest` command: one module per command family over the library; the only place for lazy imports."""

from digest.cli.main import cli, main

__all__ = ["cli", "main"]
