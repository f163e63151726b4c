"""Until ``main.py`` mounts the layers' groups itself: ``agora model``, ``receipt`` and ``channel``
(now in :mod:`agora.cli.model`, :mod:`agora.cli.receipt`, :mod:`agora.cli.channel`)."""

from __future__ import annotations

from typing import Any

import typer

from agora.cli import channel, model, receipt

__all__ = ["register"]


def register(app: typer.Typer, *_: Any) -> None:
    """Mount the value layer's command groups on ``app``."""
    app.add_typer(model.app, name="model")
    app.add_typer(receipt.app, name="receipt")
    app.add_typer(channel.app, name="channel")
