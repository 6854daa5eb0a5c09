"""Child processes seen through /proc, for tests that check nothing is left running."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> dict[int, str]:
    """Live child processes of `pid`: PID -> command line."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children[int(stat.parent.name)] = cmdline
    return children


def running(pid: int) -> bool:
    """Whether `pid` is alive (not gone, not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False
