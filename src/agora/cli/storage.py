"""``agora storage …``: content-addressed blobs (CIDv1), local and from peers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agora.cli.options import JsonOpt, get_state, read_file, sub_app
from agora.cli.output import emit_json, note, out
from agora.errors import ConfigError

__all__ = ["app", "get", "put", "serve"]

app = sub_app("Content-addressed blobs (CIDv1).")


@app.command("put")
def put(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="File to store, or - for standard input.")],
    json_: JsonOpt = False,
) -> None:
    """Store a file; print its CID."""
    from agora.storage import LocalStore

    st = get_state(ctx)  # settings only: no chain is needed
    data = sys.stdin.buffer.read() if file == "-" else read_file(file)
    store = LocalStore(st.settings.blob_dir, st.settings.max_blob_bytes)
    cid = store.put(data)
    if json_:
        emit_json({"cid": cid, "bytes": len(data)})
    else:
        out.print(cid)


@app.command("get")
def get(
    ctx: typer.Context,
    cid: Annotated[str, typer.Argument(help="The blob's CID.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.",
                                                 show_default=False)] = None,
    peer: Annotated[list[str] | None, typer.Option("--peer", help="Also ask this blob endpoint.",
                                                   show_default=False)] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print what was fetched as JSON (needs --output).")] = False,
) -> None:
    """Fetch a blob by CID (locally, then from peers), verified against the CID."""
    from agora.storage import HttpStore, LocalStore, Storage, validate_cid

    st = get_state(ctx)
    validate_cid(cid)
    if json_ and output is None:
        raise ConfigError("--json reports where the blob was written: give --output FILE too")
    peers = [*st.settings.storage_peers, *(peer or [])]
    store = Storage(LocalStore(st.settings.blob_dir, st.settings.max_blob_bytes),
                    [HttpStore(u, st.settings.max_blob_bytes) for u in peers])
    data = store.get(cid)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        if json_:
            emit_json({"cid": cid, "bytes": len(data), "output": str(output)})
        else:
            note(f"wrote {len(data)} bytes to {output}")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
) -> None:
    """Serve this node's blobs over HTTP so that other nodes can fetch them."""
    import uvicorn

    from agora.storage import LocalStore
    from agora.storage.server import bind_socket, create_app

    st = get_state(ctx)
    store = LocalStore(st.settings.blob_dir, st.settings.max_blob_bytes)
    sock = bind_socket(host, port)  # a taken port is one line here, not a log line of a server that never runs
    note(f"serving {store.root} at http://{host}:{sock.getsockname()[1]}/blobs")
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning"))
    server.run(sockets=[sock])
    if not server.started:
        raise ConfigError("the blob server did not start (see the log above)")
