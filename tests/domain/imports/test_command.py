"""The import command's progress bar: drawn on a terminal only, one line redrawn in place."""

from __future__ import annotations

import io

import pytest

from tipline.commands.imports import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = Terminal()
    monkeypatch.setattr("sys.stderr", tty)
    bar = ProgressBar("messages")
    bar(0, 1000)
    bar(1000, 1000)
    drawn = tty.getvalue()
    assert drawn.startswith("\rmessages [") and "  0% 0/1,000" in drawn
    assert "100% 1,000/1,000" in drawn and drawn.endswith("\n")
    assert "#" * 25 in drawn

    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    quiet = ProgressBar("messages")
    quiet(500, 1000)
    quiet(1000, 1000)
    assert piped.getvalue() == ""
