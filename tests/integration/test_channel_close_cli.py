"""``agora channel close``'s errors name the channel as it was typed (as before 0.4)."""

from __future__ import annotations

import pytest

from tests.integration.cli_helpers import agora, one_line_error


@pytest.mark.parametrize("typed", ["0x10", "16"])
def test_channel_close_names_the_channel_as_typed(capsys: pytest.CaptureFixture[str], typed: str) -> None:
    code, _, err = agora(capsys, "--chain", "embedded://", "channel", "close", typed)
    assert code == 1
    assert one_line_error(err).startswith(f"error: there is no open channel {typed} on chain ")
