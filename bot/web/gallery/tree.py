"""The family tree of a result as a picture: the chain of parents down to it, then everything
made from it, one row per generation, each result a thumbnail and each derivation a line from
parent to child. Laid out here, drawn as inline SVG by `lineage.html`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from db.jobs import JobRow

NODE = 128  # a thumbnail's side, px
GAP_X = 40
GAP_Y = 56
MARGIN = 16


@dataclass(frozen=True)
class Node:
    job: JobRow
    x: int  # top-left corner
    y: int
    image: int | None  # the image shown (1-based), None when the viewer may see none
    current: bool  # the result the page is about


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Tree:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: int
    height: int
    size: int = NODE


def layout(
    chain: Sequence[JobRow],
    descendants: Sequence[JobRow],
    images: dict[int, int | None],
    current: int,
) -> Tree:
    """`chain`: root first, the page's result last; `descendants`: made from it, parents
    before children; `images`: the image shown per job id. A job whose parent is not in the
    tree (left out: private or deleted) starts a generation of its own, unlinked."""
    generation: dict[int, int] = {}
    for depth, job in enumerate(chain):
        generation[job.id] = depth
    for job in descendants:
        parent = job.parent_job_id
        generation[job.id] = generation[parent] + 1 if parent in generation else len(chain)
    rows: dict[int, list[JobRow]] = {}
    for job in [*chain, *descendants]:
        rows.setdefault(generation[job.id], []).append(job)
    widest = max((len(row) for row in rows.values()), default=1)
    width = 2 * MARGIN + widest * NODE + (widest - 1) * GAP_X
    nodes: dict[int, Node] = {}
    for depth, row in rows.items():
        span = len(row) * NODE + (len(row) - 1) * GAP_X
        left = (width - span) // 2
        for i, job in enumerate(row):
            x, y = left + i * (NODE + GAP_X), MARGIN + depth * (NODE + GAP_Y)
            nodes[job.id] = Node(job, x, y, images.get(job.id), job.id == current)
    edges = [
        Edge(p.x + NODE // 2, p.y + NODE, n.x + NODE // 2, n.y)
        for n in nodes.values()
        if n.job.parent_job_id is not None and (p := nodes.get(n.job.parent_job_id)) is not None
    ]
    depth = max(rows, default=0) + 1
    height = 2 * MARGIN + depth * NODE + (depth - 1) * GAP_Y
    return Tree(tuple(nodes.values()), tuple(edges), width, height)
