"""``agora trace REF``: an output's, a model's, a dataset's, a job's or an address's lineage, walked on
chain across the layers (:mod:`agora.trace`), printed as a tree, as JSON, or drawn as one
self-contained HTML page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt, get_state, sub_app
from agora.cli.output import emit_json, note, out
from agora.errors import ConfigError

__all__ = ["app", "load_ref", "trace"]

#: Commands of ``agora`` itself (mounted without a group name).
app = sub_app("Trace an object's lineage across the layers.")


def load_ref(text: str) -> Any:
    """What REF names: a receipt or bundle file (a :class:`~agora.chain.evidence.Bundle`), else a
    checked reference (``model:3``, ``address:0x…``); ConfigError in one line otherwise."""
    from agora.trace import parse_ref

    path = Path(text)
    looks_like_ref = ":" in text and not text.lower().endswith(".json")
    if not looks_like_ref and (path.is_file() or text.lower().endswith(".json")):
        from agora.cli.receipt import load_bundle

        return load_bundle(path)
    return parse_ref(text)


@app.command("trace")
def trace(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(
        metavar="REF",
        help="What to trace: a receipt or bundle file (JSON), job:N, model:N, dataset:N, subnet:N or an 0x address.",
        show_default=False)],
    json_: JsonOpt = False,
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="FILE", help="Also draw the graph as one self-contained HTML page in FILE.",
        show_default=False)] = None,
    depth: Annotated[int, typer.Option("--depth", min=0, max=32, help="How many hops from REF to expand.")] = 6,
) -> None:
    """Walk REF's lineage on chain: output → receipt → model version → parent versions → training jobs →
    datasets and their owners → compute providers, with every payment and revenue share along the way."""
    from agora.trace import render_html, render_tree
    from agora.trace import trace as walk

    target = load_ref(ref)
    dep = get_state(ctx).client.deployment
    started = time.monotonic()
    last = [started]

    def step(current: str) -> None:  # silent unless the walk takes more than a second
        now = time.monotonic()
        if now - started > 1 and now - last[0] > 1:
            note(f"tracing… at {current}")
            last[0] = now

    graph = walk(dep, target, depth=depth, progress=step)
    if html is not None:
        try:
            html.write_text(render_html(graph), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {html}: {exc.strerror}") from None
    if json_:
        emit_json(graph.to_json())
    else:
        out.print(render_tree(graph), markup=False, highlight=False)
    if html is not None:
        note(f"drawn in {html}")
