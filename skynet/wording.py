"""Words of the CLI's messages that depend on a number."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`count` and `noun` (given singular, plural with "s"): "1 segment", "2 segments"."""
    return f"{count} {noun if count == 1 else noun + 's'}"
