"""The command line: typer commands, rich rendering, Vietnamese texts."""

from ctstat.cli.commands import main

__all__ = ["main"]
