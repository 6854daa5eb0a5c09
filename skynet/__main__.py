"""`python -m skynet` runs the CLI."""

from skynet.cli import app

app()
