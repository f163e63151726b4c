"""The test-only contracts in ``mocks/``, compiled once per session.

Not a test module. ``FalseToken`` is snekmate's ERC-20 (AgoraToken's permit domain
included) that returns ``false`` from ``transfer`` / ``transferFrom`` while ``fail`` is
set; ``SilentToken`` returns nothing at all, like USDT; ``TransfersHarness`` exposes
``contracts/common/transfers.vy`` on its own.
"""

from __future__ import annotations

from pathlib import Path

import boa

MOCKS = Path(__file__).resolve().parent / "mocks"
TRANSFERS_PATH = Path(__file__).resolve().parents[2] / "contracts/common/transfers.vy"

FALSE_TOKEN = boa.load_partial(str(MOCKS / "FalseToken.vy"))      # deploy(initial_supply)
SILENT_TOKEN = boa.load_partial(str(MOCKS / "SilentToken.vy"))    # deploy()
TRANSFERS_HARNESS = boa.load_partial(str(MOCKS / "TransfersHarness.vy"))

#: The one revert reason of a token movement that the token did not confirm.
TRANSFER_FAILED = "transfers: transfer failed"
