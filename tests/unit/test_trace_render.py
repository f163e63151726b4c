"""The lineage graph of ``agora trace`` (:mod:`agora.trace`) without a chain: the graph model, the walk
over hand-made hooks (fan-out caps, budget, depth, errors), and the three renderings — the text
tree, the JSON, and the one self-contained HTML page whose boxes never overlap."""

from __future__ import annotations

import html
import json
import re
import time
from types import SimpleNamespace
from typing import Any

import pytest

from agora.errors import ConfigError
from agora.trace import (
    FANOUT,
    Edge,
    Graph,
    LineageAnswer,
    Node,
    address_ref,
    fan_out,
    graph_from_json,
    parse_ref,
    ref_id,
    render_html,
    render_tree,
    topic,
    trace,
)

A = "0x" + "ab" * 20
B = "0x" + "cd" * 20
OWNER = f"address:{'0x' + 'AB' * 20}"


def _dep() -> Any:
    return SimpleNamespace(token=SimpleNamespace(symbol=lambda: "AGR"))


def sample() -> Graph:
    """A receipt → model → parent, datasets, a job → provider, payers: built by hand."""
    g = Graph(root="receipt:0x01")
    nodes = [
        Node("receipt:0x01", "receipt", "receipt 0x01…", {"status": "anchored", "amount_wei": 10**15,
                                                         "summary": "model-call · anchored"}),
        Node("model:3", "model", "model 3 · v2", {"version": 2, "claimed_wei": 3 * 10**18, "summary": "v2"}),
        Node("model:1", "model", "model 1 · v1", {"version": 1}),
        Node("dataset:1", "dataset", "dataset 1 & friends <x>", {"owner": A}),
        Node("dataset:2", "dataset", "dataset 2", {"owner": A}),
        Node("job:7", "job", "job 7 · onnx-classify", {"state": "settled"}),
        Node(f"address:{A}", "address", "0xabab…abab", {"address": A}),
        Node(f"address:{B}", "address", "0xcdcd…cdcd", {"provider_stake_wei": 10**21, "summary": "provider"}),
        Node("more:model:3:paid by", "more", "… and 40 more payers", {"count": 40}),
    ]
    for depth, n in zip([0, 1, 2, 2, 2, 2, 3, 3, 2], nodes, strict=True):
        g.add_node(n, authoritative=True)
        g.depth[n.id] = depth
    for parent, child in [("receipt:0x01", "model:3"), ("model:3", "model:1"), ("model:3", "dataset:1"),
                          ("model:3", "dataset:2"), ("model:3", "job:7"), ("dataset:1", f"address:{A}"),
                          ("job:7", f"address:{B}"), ("model:3", "more:model:3:paid by")]:
        g.parent[child] = parent
    edges = [
        Edge("receipt:0x01", "model:3", "output of"), Edge("model:3", "model:1", "new version of"),
        Edge("model:3", "dataset:1", "trained on"), Edge("model:3", "dataset:2", "trained on"),
        Edge("model:3", "job:7", "trained by"), Edge("dataset:1", f"address:{A}", "owned by"),
        Edge("dataset:2", f"address:{A}", "owned by"),
        Edge("job:7", f"address:{B}", "run by", {"amount_wei": 195 * 10**13, "role": "worker"}),
        Edge("model:3", "more:model:3:paid by", "paid by", {"count": 40}),
        Edge("model:3", f"address:{B}", "revenue share", {"bps": 3000, "amount_wei": 9 * 10**17}),
    ]
    for e in edges:
        assert g.add_edge(e)
    return g


def test_the_graph_model_merges_nodes_and_drops_restated_edges() -> None:
    g = Graph(root="model:1")
    g.add_node(Node("dataset:2", "dataset", "dataset 2", {"a": 1}))
    g.add_node(Node("dataset:2", "dataset", "a better label", {"a": 9, "b": 2}), authoritative=True)
    assert g.nodes["dataset:2"].label == "a better label" and g.nodes["dataset:2"].facts == {"a": 9, "b": 2}
    g.add_node(Node("dataset:2", "dataset", "not this", {"c": 3, "a": 0}))
    assert g.nodes["dataset:2"].label == "a better label" and g.nodes["dataset:2"].facts == {"a": 9, "b": 2, "c": 3}
    assert g.add_edge(Edge("model:1", OWNER, "owned by"))
    assert g.add_edge(Edge("model:1", OWNER, "revenue share", {"bps": 10_000})), "a new relation, same side"
    assert not g.add_edge(Edge(OWNER, "model:1", "owns")), "the same link restated from the other side"
    assert not g.add_edge(Edge("model:1", OWNER, "owned by"))
    assert g.linked(OWNER, "model:1") and len(g.edges_between("model:1", OWNER)) == 2


def test_json_has_amounts_as_decimal_strings_and_round_trips() -> None:
    g = sample()
    data = json.loads(json.dumps(g.to_json()))
    assert data["root"] == "receipt:0x01" and not data["truncated"]
    model = next(n for n in data["nodes"] if n["id"] == "model:3")
    assert model["facts"]["claimed_wei"] == str(3 * 10**18) and model["depth"] == 1 and model["via"] == "receipt:0x01"
    run = next(e for e in data["edges"] if e["relation"] == "run by")
    assert run["facts"] == {"amount_wei": str(195 * 10**13), "role": "worker"}
    back = graph_from_json(data)
    assert list(back.nodes) == list(g.nodes) and len(back.edges) == len(g.edges)
    assert render_tree(back).splitlines()[:-1] == render_tree(g).splitlines()[:-1]


def test_the_tree_reads_from_the_root_with_relations_and_amounts() -> None:
    text = render_tree(sample())
    lines = text.splitlines()
    assert lines[0] == "receipt 0x01…  [receipt:0x01] — model-call · anchored"
    assert lines[1] == "└── output of → model 3 · v2  [model:3] — v2"
    assert "    ├── new version of → model 1 · v1  [model:1]" in lines
    assert any(line.endswith("run by · 0.00195 AGR → 0xcdcd…cdcd  [address:" + B + "] — provider") for line in lines)
    assert any("paid by → … and 40 more payers" in line for line in lines)
    # a node met again is pointed at, not repeated
    assert any("owned by ↪ 0xabab…abab" in line for line in lines)
    assert any("revenue share · 30% · 0.9 AGR ↪ 0xcdcd…cdcd" in line for line in lines)
    assert sum(f"[address:{A}]" in line for line in lines) == 2
    assert "├──" in text and "│" in text and lines[-1].startswith("9 nodes, 10 edges")


def _boxes(page: str) -> list[tuple[float, float, float, float]]:
    return [tuple(map(float, m)) for m in re.findall(  # type: ignore[misc]
        r'<rect x="([\d.]+)" y="([\d.]+)" width="(\d+)" height="(\d+)" rx="8"', page)]


def test_the_html_is_one_self_contained_page_with_an_svg_and_every_label() -> None:
    g = sample()
    page = render_html(g)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 1 and page.count("</svg>") == 1
    for forbidden in ("http://", "https://", "<script", "src=", "href=", "@import", "<link"):
        assert forbidden not in page, forbidden
    for node in g.nodes.values():
        assert html.escape(node.label) in page, node.label
    assert "dataset 1 &amp; friends &lt;x&gt;" in page and "<x>" not in page
    assert "revenue share · 30% · 0.9 AGR" in page and "trained on" in page
    # one box per node, none overlapping another, coloured by kind
    boxes = _boxes(page)
    assert len(boxes) == len(g.nodes)
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1, "boxes overlap"
    assert 'fill="#e0e7ff"' in page and 'fill="#dcfce7"' in page  # a model, a dataset


def _fake_hooks(jobs: int) -> dict[str, Any]:
    """A layer that knows models (trained on two datasets by one job), one that knows datasets and
    jobs, and an address with ``jobs`` jobs."""

    def models(dep: Any, ref: str) -> LineageAnswer | None:
        n = ref_id(ref, "model")
        if n is None:
            return None
        if n > 5:
            raise ConfigError(f"there is no model {n}")
        edges = [Edge(ref, "dataset:1", "trained on"), Edge(ref, "dataset:2", "trained on"),
                 Edge(ref, "job:1", "trained by")]
        if n > 1:
            edges.append(Edge(ref, f"model:{n - 1}", "new version of"))
        return [Node(ref, "model", f"model {n}", {"version": n})], edges

    def data(dep: Any, ref: str) -> LineageAnswer | None:
        if ref == "dataset:2":
            raise ConfigError("the registry is unreachable")
        if ref_id(ref, "dataset") is not None:
            return [Node(ref, "dataset", ref)], [Edge(ref, f"address:{A}", "owned by")]
        if ref.startswith("address:"):
            targets = [(f"job:{j}", {}) for j in range(min(jobs, 50), 0, -1)]
            return fan_out(ref, "requested", targets, "jobs", total=jobs)
        return None

    return {"value": models, "data": data}


def test_the_walk_caps_fan_out_budget_and_depth_and_notes_failures() -> None:
    hooks = _fake_hooks(10_000)
    g = trace(_dep(), "model:5", hooks=hooks)
    assert {f"model:{i}" for i in range(1, 6)} <= set(g.nodes)
    assert g.depth["model:1"] == 4 and g.parent["model:4"] == "model:5"
    assert g.nodes[f"address:{A}"].facts == {"address": A}, "an address is a leaf unless it is the root"
    assert g.notes == ["data: dataset:2: the registry is unreachable"]
    assert g.nodes["dataset:2"].facts["error"] == "the registry is unreachable"
    one_hop = trace(_dep(), "model:5", hooks=hooks, depth=1)  # the root and its neighbours are expanded
    assert one_hop.nodes["model:4"].facts == {"version": 4} and one_hop.nodes["model:3"].facts == {}
    small = trace(_dep(), "model:5", hooks=hooks, budget=3)
    assert small.truncated and small.nodes["model:4"].facts.get("unexpanded") is True

    started = time.perf_counter()
    busy = trace(_dep(), A, hooks=hooks, depth=0)
    assert time.perf_counter() - started < 0.5
    listed = [e for e in busy.edges if e.relation == "requested"]
    assert len(listed) == FANOUT + 1
    more = busy.nodes[f"more:{busy.root}:requested"]
    assert more.label == f"… and {10_000 - FANOUT:,} more jobs" and more.kind == "more"

    with pytest.raises(ConfigError, match="there is no model 9"):
        trace(_dep(), "model:9", hooks=hooks)
    with pytest.raises(ConfigError, match="no installed layer knows job:3"):
        trace(_dep(), "job:3", hooks={"value": hooks["value"]})


def test_references_are_checked_and_normalised() -> None:
    assert parse_ref("model:007") == "model:7" and parse_ref(" job:17 ") == "job:17"
    assert parse_ref(A) == parse_ref(f"address:{A.upper().replace('0X', '0x')}") == address_ref(A)
    assert address_ref(A) == "address:0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # checksummed
    for bad, says in (("model:-1", "positive whole number"), ("job:", "is not something to trace"),
                      ("hello", "is not something to trace"), ("address:0x12", "is not an address"),
                      ("receipt:0x01", "traced from its bundle file")):
        with pytest.raises(ConfigError, match=says):
            parse_ref(bad)
    assert ref_id("model:3", "model") == 3 and ref_id("model:3", "job") is None
    assert topic(5) == bytes(31) + b"\x05" and topic(A) == bytes(12) + bytes.fromhex("ab" * 20)
