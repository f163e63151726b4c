"""The subnet layer: subnets where validators score miners and Yuma consensus shares the emission.

* :mod:`~agora.subnet.yuma` — ``epoch``: Yuma consensus exactly as subtensor's ``run_epoch.rs``
  computes it (the Yuma 2 and Yuma 3 bond paths, liquid alpha, u16 storage), vectorised numpy.

The names below are imported on first use, so that loading the layer's declaration (or
``agora --help``) does not pull in numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import export_lazily

if TYPE_CHECKING:
    from agora.subnet.yuma import EpochResult, YumaParams, epoch

__all__ = ["EpochResult", "YumaParams", "epoch"]

__getattr__, __dir__ = export_lazily(
    globals(),
    {
        "EpochResult": "agora.subnet.yuma",
        "YumaParams": "agora.subnet.yuma",
        "epoch": "agora.subnet.yuma",
    },
)
