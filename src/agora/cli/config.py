"""``agora config …``: the effective settings."""

from __future__ import annotations

import typer

from agora.cli.options import JsonOpt, get_state, sub_app
from agora.cli.output import emit_json, kv_table, out

__all__ = ["app", "show"]

app = sub_app("Show the effective settings.")


@app.command("show")
def show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """The effective settings (secrets shown only as set or unset)."""
    s = get_state(ctx).settings
    data = s.public()
    if json_:
        emit_json({**data, "config_file": str(s.config_file)})
        return
    out.print(kv_table(f"settings (file: {s.config_file})", list(data.items())))
