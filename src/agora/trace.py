"""``agora trace``: the lineage graph of one object, walked on chain across every installed layer.

An output's receipt, a model version, a dataset, a compute job or an address is the root; the
walk asks every layer's ``lineage`` hook (see :class:`agora.layers.Layer`) about each reference
it meets, breadth first, and follows the edges the hooks answer with: receipt → model version →
its parent versions → the jobs that trained it → the datasets it was trained on and their owners →
the compute providers → the payments and revenue shares along the way. No indexer is needed: each
hook reads the views of its own contracts and the events filtered at the node by indexed topics,
and caps what it lists (``… and 9,990 more jobs``), so one object traces in well under a second.

References (node ids) are ``kind:id`` strings: ``model:3``, ``dataset:2``, ``job:17``,
``subnet:1``, ``address:0x…`` (checksummed) and ``receipt:0x<digest>``. A hook is::

    def lineage(dep: Deployment, ref: str) -> tuple[list[Node], list[Edge]] | None

answering None for references it does not know; it describes the node ``ref`` (its
:class:`Node`) and the edges that leave it (each :class:`Edge` from ``ref``, its relation read as
"``src`` *relation* ``dst``"); the other ends are the next references of the walk. A hook
imports only the seams, the core and its own layer: the layers meet here, by ids.

Three renderings of a :class:`Graph`: :meth:`Graph.to_json`, :func:`render_tree` (plain text, box
characters) and :func:`render_html` (one self-contained HTML file with an SVG drawn here: no
script, stylesheet, font or image from anywhere else).
"""

from __future__ import annotations

import html
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from agora.errors import AgoraError, ConfigError
from agora.layers import load_layers, resolve
from agora.units import format_amount

if TYPE_CHECKING:
    from agora.chain import Contract
    from agora.chain.evidence import Bundle
    from agora.chain.receipts import Log
    from agora.protocol import Deployment

__all__ = [
    "COUNT_CAP",
    "DEFAULT_BUDGET",
    "DEFAULT_DEPTH",
    "FANOUT",
    "RECEIPT_SUBJECTS",
    "Edge",
    "Graph",
    "LineageHook",
    "LineageAnswer",
    "Node",
    "address_ref",
    "amount_text",
    "edge_text",
    "fan_out",
    "graph_from_json",
    "handle",
    "lineage_hooks",
    "more_node",
    "newest_logs",
    "parse_ref",
    "ref_id",
    "render_html",
    "render_tree",
    "short_address",
    "topic",
    "trace",
    "trace_bundle",
]

#: How many hops from the root are expanded by default.
DEFAULT_DEPTH = 6
#: The most nodes a walk describes by default (the rest of the frontier is left unexpanded).
DEFAULT_BUDGET = 200
#: The most edges of one relation a hook lists from one node; the rest are summarised.
FANOUT = 12
#: How many logs a hook reads for one object before it stops counting (see :func:`newest_logs`).
COUNT_CAP = 1_000
#: A receipt's kind -> the kind of node its subject id names.
RECEIPT_SUBJECTS: dict[str, str] = {"model-call": "model", "compute-item": "job", "subnet-answer": "subnet"}

_T = TypeVar("_T")
_REF = re.compile(r"^([a-z][a-z0-9-]*):(.+)$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_WEI_SUFFIX = "_wei"


@dataclass
class Node:
    """One object of the graph: ``id`` is its reference (``model:3``), ``kind`` the part before the
    colon, ``label`` what people read, ``facts`` everything else (JSON-able; amounts in base units
    under keys ending ``_wei``; an optional ``summary`` is the one line the renderers show)."""

    id: str
    kind: str
    label: str
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The node as JSON (``*_wei`` amounts as decimal strings)."""
        return {"id": self.id, "kind": self.kind, "label": self.label, "facts": _jsonable(self.facts)}


@dataclass
class Edge:
    """A link: "``src`` *relation* ``dst``" (``model:3`` *trained on* ``dataset:2``), with its facts
    (``amount_wei``: a payment along it, ``bps``: a revenue share, counts…)."""

    src: str
    dst: str
    relation: str
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The edge as JSON (``*_wei`` amounts as decimal strings)."""
        return {"src": self.src, "dst": self.dst, "relation": self.relation, "facts": _jsonable(self.facts)}


#: What a hook answers: the nodes it describes and the edges that leave the asked reference.
LineageAnswer = tuple[list[Node], list[Edge]]
#: A layer's lineage hook.
LineageHook = Callable[["Deployment", str], "LineageAnswer | None"]


def _jsonable(facts: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if key.endswith(_WEI_SUFFIX) and isinstance(value, int):
            out[key] = str(value)
        elif isinstance(value, bytes):
            out[key] = "0x" + value.hex()
        elif isinstance(value, Mapping):
            out[key] = _jsonable(value)
        elif isinstance(value, list | tuple):
            out[key] = [_jsonable(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


@dataclass
class Graph:
    """A walk's result: its nodes (in the order found), edges, the root, each node's distance from
    the root (``depth``) and the node that led to it (``parent``: the walk's spanning tree, which
    the renderers draw; other edges are cross links), whether the walk was cut short, notes (a
    hook that failed on a node other than the root), and how long it took."""

    root: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    depth: dict[str, int] = field(default_factory=dict)
    parent: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    symbol: str = "AGR"
    _pairs: set[frozenset[str]] = field(default_factory=set, repr=False)
    _described: set[str] = field(default_factory=set, repr=False)

    def add_node(self, node: Node, *, authoritative: bool = False) -> Node:
        """Add ``node``, or merge it into the node of that id: an authoritative description (the
        answer about that very reference) sets the label and kind; facts are merged, the first
        value of a key kept unless the new one is authoritative."""
        have = self.nodes.get(node.id)
        if have is None:
            self.nodes[node.id] = node
            if authoritative:
                self._described.add(node.id)
            return node
        if authoritative and node.id not in self._described:
            have.label, have.kind = node.label, node.kind
            have.facts = {**have.facts, **node.facts}
            self._described.add(node.id)
        else:
            for key, value in node.facts.items():
                have.facts.setdefault(key, value)
        return have

    def add_edge(self, edge: Edge) -> bool:
        """Add ``edge`` unless its two ends are linked already and the later one merely restates it
        from the other side (``owns`` after ``owned by``); an edge of a new relation between the
        same two nodes, from the same side, is kept. True if added."""
        pair = frozenset((edge.src, edge.dst))
        for e in self.edges if pair in self._pairs else ():
            if {e.src, e.dst} == pair and (e.src != edge.src or e.relation == edge.relation):
                return False
        self.edges.append(edge)
        self._pairs.add(pair)
        return True

    def linked(self, a: str, b: str) -> bool:
        """Whether an edge joins ``a`` and ``b`` (either way)."""
        return frozenset((a, b)) in self._pairs

    def children(self, ref: str) -> list[str]:
        """The nodes the walk reached first through ``ref``, in the order found."""
        return [n for n in self.nodes if self.parent.get(n) == ref]

    def edges_between(self, a: str, b: str) -> list[Edge]:
        """The edges joining ``a`` and ``b``, either way."""
        return [e for e in self.edges if {e.src, e.dst} == {a, b}]

    def to_json(self) -> dict[str, Any]:
        """``{"root", "nodes", "edges", "truncated", "notes", "seconds"}``: every node with its depth and
        the node that led to it (``*_wei`` amounts as decimal strings)."""
        return {
            "root": self.root,
            "nodes": [n.to_json() | {"depth": self.depth.get(n.id, 0), "via": self.parent.get(n.id)}
                      for n in self.nodes.values()],
            "edges": [e.to_json() for e in self.edges],
            "truncated": self.truncated, "notes": list(self.notes), "seconds": round(self.seconds, 4),
        }


# --- helpers for the hooks ----------------------------------------------------------------------------


def topic(value: int | str) -> bytes:
    """An indexed event argument as the 32-byte topic a node filters on: an integer big-endian, an
    address right-aligned (for ``Contract.get_events(..., where=[...])``)."""
    if isinstance(value, str):
        raw = bytes.fromhex(value.removeprefix("0x"))
        if len(raw) != 20:
            raise ConfigError(f"{value!r} is not an address")
        return raw.rjust(32, b"\0")
    return int(value).to_bytes(32, "big")


def short_address(address: str) -> str:
    """``0x1234…abcd``: an address for a label."""
    return f"{address[:6]}…{address[-4:]}"


def address_ref(address: str) -> str:
    """The reference of an address: ``address:`` and its checksummed form."""
    from eth_utils.address import to_checksum_address

    return "address:" + to_checksum_address(address)


def ref_id(ref: str, kind: str) -> int | None:
    """The integer id of a ``kind:N`` reference; None if ``ref`` is of another kind."""
    prefix, _, rest = ref.partition(":")
    if prefix != kind or not rest.isdigit():
        return None
    return int(rest)


def more_node(src: str, relation: str, count: int, noun: str, *, at_least: bool = False) -> tuple[Node, Edge]:
    """The stand-in for ``count`` further links of one relation that a hook did not list:
    ``… and 9,990 more jobs`` (``at_least``: the hook stopped counting, ``… and at least 1,988 more
    jobs``), never expanded."""
    text = f"… and {'at least ' if at_least else ''}{count:,} more {noun}"
    node = Node(f"more:{src}:{relation}", "more", text, {"count": count, "of": noun, "at_least": at_least})
    return node, Edge(src, node.id, relation, {"count": count})


def fan_out(src: str, relation: str, targets: Sequence[tuple[str, dict[str, Any]]], noun: str,
            *, limit: int = FANOUT, total: int | None = None, at_least: bool = False) -> tuple[list[Node], list[Edge]]:
    """Edges ``src`` *relation* each target (``(ref, edge facts)``, the most telling first), at most
    ``limit`` of them, and a :func:`more_node` for the rest (``total``: how many there are, when
    the caller counted more than it passed; ``at_least``: it is a lower bound)."""
    count = len(targets) if total is None else total
    edges = [Edge(src, ref, relation, dict(facts)) for ref, facts in targets[:limit]]
    nodes: list[Node] = []
    if count > len(edges):
        node, edge = more_node(src, relation, count - len(edges), noun, at_least=at_least)
        nodes.append(node)
        edges.append(edge)
    return nodes, edges


def newest_logs(contract: Contract, names: str | list[str], from_block: int, *, where: list[bytes | None],
                cap: int = COUNT_CAP, window: int = 8) -> tuple[list[Log], bool]:
    """The logs of ``names`` matching ``where`` (indexed topics, filtered at the node), newest first,
    read backwards from the head in windows that grow (twofold at most, less where the logs are
    dense), until ``cap`` logs are read or
    ``from_block`` is reached: ``(logs, complete)``. One busy object (an address with 10,000 jobs)
    then costs a few reads of its newest logs, not all of them; ``complete`` is False when older
    ones were left unread (a count made from them is a lower bound)."""
    found: list[Log] = []
    end = contract.chain.block_number()
    while end >= from_block:
        start = max(from_block, end - window + 1)
        got = contract.get_logs(names, start, end, where=where)
        found.extend(reversed(got))
        end = start - 1
        if len(found) >= cap:
            break
        # the next window: twice as wide, or just wide enough at the density seen, if that is less
        wanted = math.ceil((cap - len(found)) * window / len(got)) + 1 if got else window * 2
        window = max(1, min(window * 2, wanted))
    return found, end < from_block


_HANDLES: dict[str, Any] = {}
_HANDLES_OF: list[Any] = [None]


def handle(dep: Deployment, key: str, make: Callable[[], _T]) -> _T:
    """A contract client a hook builds once per deployment (``make()``; building one parses its ABI,
    which costs more than most reads): kept for the last deployment seen only."""
    if _HANDLES_OF[0] is not dep:
        _HANDLES.clear()
        _HANDLES_OF[0] = dep
    if key not in _HANDLES:
        _HANDLES[key] = make()
    return cast(_T, _HANDLES[key])


def parse_ref(text: str) -> str:
    """A reference as people type it, checked and normalised: ``model:3``, ``dataset:2``, ``job:17``,
    ``subnet:1`` (any ``kind:N``), ``0x…`` or ``address:0x…`` (an address, checksummed).
    ConfigError saying what a reference is otherwise."""
    value = text.strip()
    if _ADDRESS.match(value):
        return address_ref(value)
    m = _REF.match(value)
    if m is not None:
        kind, rest = m.groups()
        if kind == "address":
            if _ADDRESS.match(rest):
                return address_ref(rest)
            raise ConfigError(f"{rest!r} is not an address (0x and 40 hex digits)")
        if kind == "receipt":
            raise ConfigError("a receipt is traced from its bundle file (`agora receipt fetch` writes one), "
                              "not from its digest: there is no index of receipts on chain")
        if rest.isdigit() and int(rest) > 0:
            return f"{kind}:{int(rest)}"
        raise ConfigError(f"{text!r}: a {kind} id is a positive whole number")
    raise ConfigError(f"{text!r} is not something to trace",
                      hint="give a receipt or bundle file, job:N, model:N, dataset:N, subnet:N or an 0x address")


def lineage_hooks() -> dict[str, LineageHook]:
    """Every installed layer's lineage hook, by layer name, in the layers' order."""
    return {layer.name: resolve(layer.lineage) for layer in load_layers() if layer.lineage}


# --- the walk ---------------------------------------------------------------------------------------------


def _address_label(ref: str) -> str:
    return short_address(ref.partition(":")[2])


def _stub(ref: str) -> Node:
    kind, _, rest = ref.partition(":")
    if kind == "address":
        return Node(ref, "address", _address_label(ref), {"address": rest})
    return Node(ref, kind, f"{kind} {rest}")


def trace(
    dep: Deployment,
    ref: str | Bundle,
    *,
    depth: int = DEFAULT_DEPTH,
    budget: int = DEFAULT_BUDGET,
    deadline_s: float | None = None,
    hooks: Mapping[str, LineageHook] | None = None,
    expand_addresses: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Graph:
    """Walk the lineage graph from ``ref`` (a reference, see :func:`parse_ref`, or a receipt
    :class:`~agora.chain.evidence.Bundle`, see :func:`trace_bundle`), breadth first.

    Each reference met at most ``depth`` hops from the root is put to every hook (``hooks``:
    default, the installed layers'); the ends of the edges they answer with are the next ones.
    An address is a leaf unless it is the root (``expand_addresses``: expand every one): what else
    an owner owns is not the lineage of this object. The walk stops expanding once it holds
    ``budget`` nodes, or after ``deadline_s`` seconds, and says so (``truncated``). ConfigError
    if no hook knows the root, or the hook's own error for a root that does not exist (``there is
    no model 99 …``); a hook failing on another node is noted on it and in ``notes``."""
    from agora.chain.evidence import Bundle

    started = time.perf_counter()
    hooks = lineage_hooks() if hooks is None else hooks
    if isinstance(ref, Bundle):
        graph = Graph(root="")
        frontier = _receipt_start(dep, ref, graph)
    else:
        root = parse_ref(ref)
        graph = Graph(root=root)
        graph.add_node(_stub(root))
        graph.depth[root] = 0
        frontier = [root]
    with _suppress_agora():
        graph.symbol = str(dep.token.symbol())
    queue = deque(frontier)
    expanded: set[str] = set()
    while queue:
        current = queue.popleft()
        if current in expanded:
            continue
        expanded.add(current)
        level = graph.depth[current]
        is_root = current == graph.root
        if current.startswith("more:") or (current.startswith("address:") and not is_root and not expand_addresses):
            continue
        if len(graph.nodes) >= budget or (deadline_s is not None and time.perf_counter() - started > deadline_s):
            graph.truncated = True
            graph.nodes[current].facts.setdefault("unexpanded", True)
            continue
        if progress is not None:
            progress(current)
        answered = False
        for name, hook in hooks.items():
            try:
                answer = hook(dep, current)
            except AgoraError as exc:
                if is_root:
                    raise
                graph.nodes[current].facts.setdefault("error", str(exc))
                graph.notes.append(f"{name}: {current}: {exc}")
                continue
            if answer is None:
                continue
            answered = True
            nodes, edges = answer
            for node in nodes:
                graph.add_node(node, authoritative=node.id == current)
            for edge in edges:
                other = edge.dst if edge.src == current else edge.src
                if other not in graph.nodes:
                    graph.add_node(_stub(other))
                if not graph.add_edge(edge):
                    continue
                if other not in graph.depth:
                    graph.depth[other] = level + 1
                    graph.parent[other] = current
                    if level + 1 <= depth:
                        queue.append(other)
        if is_root and not answered and not current.startswith("address:"):
            raise ConfigError(f"no installed layer knows {current}",
                              hint="installed hooks: " + (", ".join(hooks) or "none"))
    graph.seconds = time.perf_counter() - started
    return graph


class _suppress_agora:
    """``with _suppress_agora():`` ignores an AgoraError (an optional read)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        return kind is not None and issubclass(kind, AgoraError)


def _receipt_start(dep: Deployment, bundle: Bundle, graph: Graph) -> list[str]:
    """Check the bundle and put its receipt node (the root) and its first edges in ``graph``;
    return the references to walk from."""
    from agora.verification import verify_bundle

    verdict = verify_bundle(dep, bundle)  # ReceiptError naming the first check that fails
    r = bundle.receipt
    digest = "0x" + verdict.digest.hex()
    root = f"receipt:{digest}"
    status = "anchored" if verdict.final else "not anchored yet"
    facts: dict[str, Any] = {
        "kind": r.kind, "subject": r.subject, "item": r.item, "status": status, "anchored_at": verdict.anchored_at,
        "entitled_as": verdict.entitled_as, "amount_wei": r.amount, "payment": str(r.payment), "time": r.time,
        "input_hash": "0x" + r.input_hash.hex(), "output_hash": "0x" + r.output_hash.hex(),
        "weights_hash": "0x" + r.weights_hash.hex(), "digest": digest,
        "summary": f"{r.kind} · {status}",
    }
    if bundle.anchor is not None:
        facts["root"] = "0x" + bundle.anchor.root.hex()
    graph.root = root
    graph.add_node(Node(root, "receipt", f"receipt {digest[:10]}…", facts), authoritative=True)
    graph.depth[root] = 0
    subject_kind = RECEIPT_SUBJECTS.get(r.kind)
    subject = f"{subject_kind}:{r.subject}" if subject_kind else f"subject:{r.kind}:{r.subject}"
    if subject_kind is None:
        graph.add_node(Node(subject, "subject", f"{r.kind} subject {r.subject}", {"kind": r.kind}))
    payer, runner = address_ref(r.payer), address_ref(r.runner)
    links = [
        Edge(root, subject, "output of", {"item": r.item}),
        Edge(root, payer, "paid by", {"amount_wei": r.amount}),
        Edge(root, runner, "signed by", {"entitled_as": verdict.entitled_as}),
    ]
    frontier: list[str] = []
    for edge in links:
        if edge.dst not in graph.nodes:
            graph.add_node(_stub(edge.dst))
        if graph.add_edge(edge) and edge.dst not in graph.depth:
            graph.depth[edge.dst] = 1
            graph.parent[edge.dst] = root
            frontier.append(edge.dst)
    return frontier


def trace_bundle(dep: Deployment, bundle: Bundle, **options: Any) -> Graph:
    """Trace an output from its receipt bundle: the bundle is checked first (``verify_bundle``;
    a refused one raises :class:`~agora.chain.evidence.ReceiptError`), then its receipt is the
    root, linked to its subject (a ``model-call``'s model, a ``compute-item``'s job…), its payer
    with the amount paid, and its runner; the walk goes on from there (``options``: :func:`trace`'s)."""
    return trace(dep, bundle, **options)


# --- rendering: text ---------------------------------------------------------------------------------------


def amount_text(value: Any, symbol: str = "") -> str:
    """An amount for people: exact up to six decimals, else cut to four significant decimals and
    marked ``≈`` (the JSON has every wei)."""
    try:
        text = format_amount(int(value))
    except (TypeError, ValueError):
        return str(value)
    whole, _, frac = text.partition(".")
    if len(frac) > 6:
        lead = len(frac) - len(frac.lstrip("0"))
        kept = frac[: (lead + 4) if whole in ("0", "-0") else 4].rstrip("0")
        text = "≈" + whole + ("." + kept if kept else "")
    return f"{text} {symbol}".strip()


def edge_text(edge: Edge, symbol: str = "AGR") -> str:
    """An edge's relation with its telling facts: ``revenue share 30% · 1.2 AGR``."""
    parts = [edge.relation]
    f = edge.facts
    if "bps" in f:
        parts.append(f"{int(f['bps']) / 100:g}%")
    if "amount_wei" in f and int(f["amount_wei"] or 0):
        parts.append(amount_text(f["amount_wei"], str(f.get("symbol", symbol))))
    if "count" in f and "more:" not in edge.dst and int(f["count"]) > 1:
        parts.append(f"×{int(f['count']):,}")
    return " · ".join(parts)


def _node_line(node: Node) -> str:
    summary = node.facts.get("summary")
    text = f"{node.label}  [{node.id}]" if node.kind != "more" else node.label
    if node.kind == "address" and node.label != _address_label(node.id):
        text = f"{node.label}  [{node.facts.get('address', node.id)}]"
    return f"{text} — {summary}" if summary else text


def render_tree(graph: Graph) -> str:
    """The graph as an indented text tree (box-drawing characters, no colour): the walk's spanning
    tree from the root, each line the relation and the node it leads to; a node met again through
    another edge is shown as ``↪`` and not repeated."""
    lines = [_node_line(graph.nodes[graph.root])]
    shown = {graph.root}

    def walk(ref: str, prefix: str) -> None:
        items: list[tuple[str, str, bool]] = []  # (text, next ref, is a tree child)
        for e in graph.edges:
            if ref not in (e.src, e.dst):
                continue
            other = e.dst if e.src == ref else e.src
            rel = edge_text(e, graph.symbol) if e.src == ref else f"{edge_text(e, graph.symbol)} (of)"
            if graph.parent.get(other) == ref and other not in shown:
                shown.add(other)
                items.append((f"{rel} → {_node_line(graph.nodes[other])}", other, True))
            elif e.src == ref and graph.parent.get(ref) != other:  # a cross link, shown at its source only
                items.append((f"{rel} ↪ {graph.nodes[other].label} [{other}]", other, False))
        for i, (text, nxt, child) in enumerate(items):
            last = i == len(items) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{text}")
            if child:
                walk(nxt, prefix + ("    " if last else "│   "))

    walk(graph.root, "")
    tail = f"{len(graph.nodes)} nodes, {len(graph.edges)} edges in {graph.seconds:.2f} s"
    if graph.truncated:
        tail += " — cut short (budget or time): some nodes were not expanded"
    lines.append(tail)
    lines.extend(f"note: {n}" for n in graph.notes)
    return "\n".join(lines)


# --- rendering: HTML + SVG ------------------------------------------------------------------------------------

#: Box fill and stroke colours by node kind.
_COLOURS: dict[str, tuple[str, str]] = {
    "receipt": ("#fef3c7", "#d97706"),
    "model": ("#e0e7ff", "#4f46e5"),
    "dataset": ("#dcfce7", "#16a34a"),
    "job": ("#ffe4e6", "#e11d48"),
    "address": ("#f1f5f9", "#64748b"),
    "subnet": ("#e0f2fe", "#0284c7"),
    "more": ("#fafaf9", "#a8a29e"),
}
_OTHER_COLOUR = ("#fae8ff", "#a21caf")
_BOX_W, _BOX_H, _COL_GAP, _ROW_GAP, _MARGIN = 240, 58, 230, 16, 24
_CHAR_W = 6.9  # an average glyph of the 12 px sans-serif text, for fitting (generous)


def _fit(text: str, width: float, char_w: float = _CHAR_W) -> str:
    room = max(4, int(width / char_w))
    return text if len(text) <= room else text[: room - 1] + "…"


def _layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Top-left corner of each node's box: columns by depth (left to right), rows by a tidy tree
    over the walk's spanning tree, so no two boxes overlap and no tree edge crosses another."""
    slots: dict[str, float] = {}
    next_slot = 0.0

    def place(ref: str, seen: set[str]) -> float:
        nonlocal next_slot
        seen.add(ref)
        kids = [k for k in graph.children(ref) if k not in seen]
        if not kids:
            slots[ref] = next_slot
            next_slot += 1
            return slots[ref]
        ys = [place(k, seen) for k in kids]
        slots[ref] = (ys[0] + ys[-1]) / 2
        return slots[ref]

    seen: set[str] = set()
    place(graph.root, seen)
    for ref in graph.nodes:  # anything the tree does not reach (there should be nothing)
        if ref not in slots:
            slots[ref] = next_slot
            next_slot += 1
    return {
        ref: (_MARGIN + graph.depth.get(ref, 0) * (_BOX_W + _COL_GAP), _MARGIN + 40 + slot * (_BOX_H + _ROW_GAP))
        for ref, slot in slots.items()
    }


def _bezier(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], p3: tuple[float, float],
            t: float) -> tuple[float, float]:
    u = 1 - t
    x = u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0]
    y = u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1]
    return x, y


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fact_lines(node: Node, symbol: str) -> list[str]:
    rows = []
    for key, value in node.facts.items():
        if key == "summary":
            continue
        shown = amount_text(value, symbol) if key.endswith(_WEI_SUFFIX) else _plain(value)
        rows.append(f"{key}: {shown}")
    return rows


def _plain(value: Any) -> str:
    """A fact's value for people: lists joined, mappings as ``key value`` pairs, never a repr."""
    if isinstance(value, Mapping):
        return " ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_plain(v) for v in value) or "-"
    if value is None:
        return "-"
    return str(value)


def _facts_text(node: Node, symbol: str) -> str:
    head = [node.label, node.id] if node.label != node.id else [node.id]
    return "\n".join(head + _fact_lines(node, symbol))


def _is_tree(graph: Graph, edge: Edge) -> bool:
    return graph.parent.get(edge.dst) == edge.src or graph.parent.get(edge.src) == edge.dst


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _free_spot(taken: list[tuple[float, float, float, float]], spots: list[tuple[float, float]], w: float,
               h: float) -> tuple[float, float]:
    """The first of ``spots`` (label centres along the edge) where a ``w``×``h`` label covers no box
    and no label placed before; else the first such spot a few rows up or down; else the least
    covered one."""
    best, best_cover = spots[0], math.inf
    for dy in (0.0, h + 3, -(h + 3), 2 * (h + 3), -2 * (h + 3)):
        for x, y in spots:
            rect = (x - w / 2, y + dy - h / 2, x + w / 2, y + dy + h / 2)
            cover = sum(_overlap(rect, r) for r in taken)
            if cover == 0:
                return x, y + dy
            if cover < best_cover:
                best, best_cover = (x, y + dy), cover
    return best


def _roles(graph: Graph, ref: str) -> str:
    """What an address is in this graph, from the edges that reach it: ``owner · provider``."""
    roles = [_ROLE_OF.get(e.relation, e.relation) for e in graph.edges if e.dst == ref]
    roles += [_ROLE_FROM.get(e.relation, "") for e in graph.edges if e.src == ref]
    return " · ".join(dict.fromkeys(r for r in roles if r))


#: An address's role, by the relation of an edge that reaches it …
_ROLE_OF = {"owned by": "owner", "run by": "provider", "requested by": "requester", "paid by": "payer",
            "revenue share": "revenue recipient", "signed by": "signer", "served by": "service key",
            "ordered by": "buyer"}
#: … or of an edge that leaves it.
_ROLE_FROM = {"owns": "owner", "ran": "provider", "requested": "requester", "paid": "payer",
              "earned from": "revenue recipient", "serves": "service key", "ordered": "buyer"}


def render_html(graph: Graph, *, title: str | None = None) -> str:
    """The graph as ONE self-contained HTML page: an inline SVG laid out here (columns by distance
    from the root, left to right; boxes coloured by kind; each edge labelled with its relation and
    amount), every node's facts as a hover tooltip and in a table below. Nothing is fetched from
    anywhere: no script, no stylesheet, no font, no image."""
    pos = _layout(graph)
    width = max(x for x, _ in pos.values()) + _BOX_W + _MARGIN + 60
    height = max(y for _, y in pos.values()) + _BOX_H + _MARGIN + 10
    root = graph.nodes[graph.root]
    heading = title or f"Lineage of {root.label}"
    svg: list[str] = [
        f'<svg class="trace" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{_esc(heading)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker></defs>',
    ]
    # column headings
    for level in sorted(set(graph.depth.values())):
        col_x = _MARGIN + level * (_BOX_W + _COL_GAP) + _BOX_W / 2
        name = "root" if level == 0 else f"{level} hop{'s' if level > 1 else ''} away"
        svg.append(f'<text class="col" x="{col_x:.0f}" y="{_MARGIN + 14}">{name}</text>')
    # edges first (under the boxes); edges between one pair are drawn once, their labels joined
    drawn: dict[frozenset[str], list[Edge]] = {}
    for e in graph.edges:
        if e.src in pos and e.dst in pos:
            drawn.setdefault(frozenset((e.src, e.dst)), []).append(e)
    labels: list[str] = []
    taken: list[tuple[float, float, float, float]] = [
        (x - 4, y - 4, x + _BOX_W + 4, y + _BOX_H + 4) for x, y in pos.values()
    ]
    groups = sorted(drawn.values(), key=lambda g: not _is_tree(graph, g[0]))  # tree edges' labels first
    for group in groups:
        first = group[0]
        a, b = first.src, first.dst
        ax, ay = pos[a]
        bx, by = pos[b]
        tree = _is_tree(graph, first)
        # draw from the left box to the right one; the arrow points at the edge's dst
        left, right = (a, b) if (ax, ay) <= (bx, by) else (b, a)
        lx, ly = pos[left]
        rx, ry = pos[right]
        if lx == rx:  # one column: an arc out to the right
            p0 = (lx + _BOX_W, ly + _BOX_H / 2)
            p3 = (rx + _BOX_W, ry + _BOX_H / 2)
            bulge = 60 + min(120, abs(ry - ly) / 4)
            p1, p2 = (p0[0] + bulge, p0[1]), (p3[0] + bulge, p3[1])
        else:
            p0 = (lx + _BOX_W, ly + _BOX_H / 2)
            p3 = (rx, ry + _BOX_H / 2)
            dx = (p3[0] - p0[0]) / 2
            p1, p2 = (p0[0] + dx, p0[1]), (p3[0] - dx, p3[1])
        forward = left == first.src
        marker = 'marker-end="url(#arrow)"' if forward else 'marker-start="url(#arrow)"'
        style = "edge" if tree else "edge cross"
        svg.append(
            f'<path class="{style}" d="M{p0[0]:.1f},{p0[1]:.1f} C{p1[0]:.1f},{p1[1]:.1f} {p2[0]:.1f},{p2[1]:.1f} '
            f'{p3[0]:.1f},{p3[1]:.1f}" {marker}><title>{_esc(" / ".join(edge_text(e, graph.symbol) for e in group))}'
            f'</title></path>'
        )
        texts = [_fit(edge_text(e, graph.symbol), _COL_GAP - 16, 6.0) for e in group[:2]]
        if len(group) > 2:
            texts[-1] = _fit(texts[-1] + f" +{len(group) - 2}", _COL_GAP - 16, 6.0)
        h = 15 * len(texts) + 2
        w = max(len(t) for t in texts) * 6.2 + 10
        spots = (0.8, 0.66, 0.52, 0.38, 0.9, 0.24) if tree else (0.5, 0.36, 0.64, 0.22, 0.78, 0.12, 0.88)
        cx, cy = _free_spot(taken, [_bezier(p0, p1, p2, p3, t) for t in spots], w, h)
        taken.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        labels.append(f'<rect class="lbl" x="{cx - w / 2:.1f}" y="{cy - h / 2:.1f}" width="{w:.1f}" '
                      f'height="{h:.1f}" rx="4"/>')
        for i, t in enumerate(texts):
            labels.append(f'<text class="elabel" x="{cx:.1f}" y="{cy - h / 2 + 12 + 15 * i:.1f}">{_esc(t)}</text>')
    svg.extend(labels)
    # boxes
    for ref, node in graph.nodes.items():
        x, y = pos[ref]
        fill, stroke = _COLOURS.get(node.kind, _OTHER_COLOUR)
        dash = ' stroke-dasharray="5 4"' if node.kind == "more" or node.facts.get("unexpanded") else ""
        width_px = "2.5" if ref == graph.root else "1.4"
        sub = node.facts.get("summary") or (_roles(graph, ref) if node.kind == "address" else "") or node.id
        title = node.label
        if node.kind == "more":  # "… and 9,990 more" over "jobs requested, not listed"
            count = int(node.facts.get("count", 0))
            title = f"… and {'≥' if node.facts.get('at_least') else ''}{count:,} more"
            sub = f"{node.facts.get('of', '')}, not listed"
        kind_tag = node.kind.upper()
        svg.append(f'<g class="node"><title>{_esc(_facts_text(node, graph.symbol))}</title>')
        svg.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{_BOX_W}" height="{_BOX_H}" rx="8" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{width_px}"{dash}/>')
        svg.append(f'<text class="kind" x="{x + 10:.1f}" y="{y + 15:.1f}" fill="{stroke}">{_esc(kind_tag)}</text>')
        svg.append(f'<text class="label" x="{x + 10:.1f}" y="{y + 32:.1f}">'
                   f'{_esc(_fit(title, _BOX_W - 20, 7.6))}</text>')
        sub_text = _esc(_fit(str(sub), _BOX_W - 20, 6.4))
        svg.append(f'<text class="sub" x="{x + 10:.1f}" y="{y + 48:.1f}">{sub_text}</text>')
        svg.append("</g>")
    svg.append("</svg>")

    legend = "".join(
        f'<span class="key"><span class="swatch" style="background:{f};border-color:{s}"></span>{_esc(k)}</span>'
        for k, (f, s) in _COLOURS.items() if any(n.kind == k for n in graph.nodes.values())
    )
    rows = []
    for ref, node in graph.nodes.items():
        if node.kind == "more":
            continue
        facts = "<br>".join(_esc(line) for line in _fact_lines(node, graph.symbol))
        rows.append(f"<tr><td><b>{_esc(node.label)}</b><br><code>{_esc(ref)}</code></td><td>{facts}</td></tr>")
    status = f"{len(graph.nodes)} nodes, {len(graph.edges)} edges, traced in {graph.seconds:.2f} s"
    if graph.truncated:
        status += " — cut short: dashed boxes were not expanded"
    notes = "".join(f"<li>{_esc(n)}</li>" for n in graph.notes)
    return "\n".join([
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(heading)}</title>",
        "<style>",
        "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:24px;"
        "color:#0f172a;background:#fff}",
        "h1{font-size:20px;margin:0 0 4px}.meta{color:#475569;font-size:13px;margin:0 0 12px}",
        ".legend{font-size:12px;margin:0 0 8px}.key{margin-right:14px;white-space:nowrap}",
        ".swatch{display:inline-block;width:12px;height:12px;border:1.5px solid;border-radius:3px;"
        "margin-right:5px;vertical-align:-2px}",
        ".scroll{overflow:auto;border:1px solid #e2e8f0;border-radius:8px}",
        "svg.trace text{font-family:inherit}",
        "svg.trace .col{font-size:12px;fill:#94a3b8;text-anchor:middle;letter-spacing:.05em}",
        "svg.trace .kind{font-size:10px;font-weight:700;letter-spacing:.08em}",
        "svg.trace .label{font-size:13px;font-weight:600;fill:#0f172a}",
        "svg.trace .sub{font-size:11px;fill:#334155}",
        "svg.trace .edge{fill:none;stroke:#94a3b8;stroke-width:1.4}",
        "svg.trace .cross{stroke-dasharray:4 4;stroke:#cbd5e1}",
        "svg.trace .lbl{fill:#fff;stroke:#e2e8f0;stroke-width:1;opacity:.95}",
        "svg.trace .elabel{font-size:11px;fill:#334155;text-anchor:middle}",
        "svg.trace g.node:hover rect{filter:brightness(.96)}",
        "table{border-collapse:collapse;font-size:12px;margin-top:18px}",
        "td{border-top:1px solid #e2e8f0;padding:6px 10px;vertical-align:top}code{font-size:11px;color:#475569}",
        "</style></head><body>",
        f"<h1>{_esc(heading)}</h1>",
        f'<p class="meta">{_esc(status)} · hover a box for its facts</p>',
        f'<div class="legend">{legend}</div>',
        f'<div class="scroll">{"".join(svg)}</div>',
        f"<ul>{notes}</ul>" if notes else "",
        "<details open><summary>Every node's facts</summary>",
        f"<table>{''.join(rows)}</table></details>",
        "</body></html>",
    ])


def graph_from_json(data: Mapping[str, Any]) -> Graph:
    """A :class:`Graph` back from :meth:`Graph.to_json` (to render a trace saved as JSON)."""
    graph = Graph(root=str(data["root"]), truncated=bool(data.get("truncated")), notes=list(data.get("notes", [])),
                  seconds=float(data.get("seconds", 0.0)))
    for n in data["nodes"]:
        graph.add_node(Node(n["id"], n["kind"], n["label"], dict(n.get("facts", {}))), authoritative=True)
        graph.depth[n["id"]] = int(n.get("depth", 0))
        if n.get("via"):
            graph.parent[n["id"]] = n["via"]
    for e in data["edges"]:
        graph.add_edge(Edge(e["src"], e["dst"], e["relation"], dict(e.get("facts", {}))))
    return graph
