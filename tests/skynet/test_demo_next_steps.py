"""The demo's closing hint (first-user check): every command it names runs as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import principal_for_key
from skynet.cli import app
from skynet.cli_catalog import catalog_sessions
from skynet.demo import NEXT_STEPS
from skynet.settings import Settings

HINT = " ".join(NEXT_STEPS)
SKYNET_COMMANDS = [
    shlex.split(found)[1:] for found in re.findall(r"`(\.venv/bin/skynet [^`]+)`", HINT)
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.output


def test_the_hint_names_the_serve_option_of_the_demo() -> None:
    make_args = re.search(r'`make demo ARGS="([^"]+)"`', HINT)
    assert make_args is not None, HINT
    code, output = run("demo", "--help")
    assert code == 0, output
    for option in make_args.group(1).split():
        assert option in output, (option, output)


def test_the_hint_names_existing_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    assert [command[0] for command in SKYNET_COMMANDS] == ["api-key", "serve"], SKYNET_COMMANDS
    for command in SKYNET_COMMANDS:
        code, output = run(command[0], "--help")
        assert code == 0, (command, output)


def test_the_key_the_hint_creates_opens_the_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    create_key = SKYNET_COMMANDS[0]
    code, output = run(*create_key)
    assert code == 0, output
    key = output.strip()
    with catalog_sessions(Settings())() as session:
        principal = principal_for_key(session, key)
    assert principal is not None and principal.role == "investigator", principal
