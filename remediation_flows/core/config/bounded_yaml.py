"""YAML parsing that a hostile document cannot blow up: bounded nesting and alias expansion.

PyYAML shares an aliased node rather than copying it, so a "billion laughs" document
loads small; the damage comes later, from whatever walks the result (schema validation,
an error message that prints the value). And libyaml's composer recurses in C: a
document nested some tens of thousands of levels deep crashes the process.

So the document is composed here, one libyaml event at a time and without recursion,
counting as it goes how many values the document would have with every alias expanded,
and how deep it nests; past either bound it is refused before anything walks it. The
events come from libyaml (the C parser) when PyYAML was built with it, else from the
pure-Python parser; both report line and column.
"""

from __future__ import annotations

import gc
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: Values that aliases may add beyond those written; a programme uses a few dozen at most.
ALIAS_EXPANSION_LIMIT = 100_000
#: Levels of nesting; a programme document needs fewer than ten.
NESTING_LIMIT = 64

_FastSafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StringDatesLoader(_FastSafeLoader):  # type: ignore[valid-type, misc]
    """A safe loader that leaves dates as text, so that the schema sees what was written."""


_StringDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class DocumentTooLarge(yaml.YAMLError):
    """A document nests too deeply or its aliases expand too far; ``problem_mark`` says where."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _Open:
    """A sequence or mapping being composed: its node, expanded size so far, and a pending key."""

    __slots__ = ("anchor", "key", "node", "size")

    def __init__(self, node: Node, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.size = 1
        self.key: Node | None = None


def load_bounded(text: str) -> Any:
    """The single YAML document in ``text`` as Python values, dates left as text.

    Raises :class:`yaml.YAMLError` (with ``problem_mark`` where known) for a syntax error,
    more than one document, an undefined or self-containing alias, nesting deeper than
    :data:`NESTING_LIMIT`, or aliases that add more than :data:`ALIAS_EXPANSION_LIMIT` values.
    """
    loader = _StringDatesLoader(text)
    # Every node made here lives until the document is built, so the cyclic collector's
    # passes find nothing to free and, over a large document, cost as much as the parse.
    collecting = gc.isenabled()
    gc.disable()
    try:
        node = _compose(loader)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
        if collecting:
            gc.enable()


def _compose(loader: Any) -> Node | None:
    """The document's node graph, composed from the parser's events without recursion."""
    anchors: dict[str, tuple[Node, int]] = {}
    open_nodes: list[_Open] = []
    ids_open: set[int] = set()
    written = expanded = 0
    root: Node | None = None
    documents = 0

    def attach(child: Node, size: int) -> None:
        nonlocal root
        if not open_nodes:
            root = child
            return
        parent = open_nodes[-1]
        parent.size += size
        if isinstance(parent.node, SequenceNode):
            parent.node.value.append(child)
        elif parent.key is None:
            parent.key = child
        else:
            parent.node.value.append((parent.key, child))
            parent.key = None

    while True:
        event = loader.get_event()
        kind = type(event)
        if kind is ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(ScalarNode, event.value, event.implicit)
            node: Node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            written += 1
            expanded += 1
            if event.anchor is not None:
                _check_new_anchor(anchors, event)
                anchors[event.anchor] = (node, 1)
            attach(node, 1)
        elif kind is SequenceStartEvent or kind is MappingStartEvent:
            if len(open_nodes) >= NESTING_LIMIT:
                raise DocumentTooLarge(f"nests deeper than {NESTING_LIMIT} levels", event.start_mark)
            is_sequence = kind is SequenceStartEvent
            node_class = SequenceNode if is_sequence else MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(node_class, None, event.implicit)
            node = node_class(tag, [], event.start_mark, None, flow_style=event.flow_style)
            written += 1
            expanded += 1
            frame = _Open(node, event.anchor)
            if event.anchor is not None:
                _check_new_anchor(anchors, event)
                anchors[event.anchor] = (node, -1)  # its size is known when it closes
            open_nodes.append(frame)
            ids_open.add(id(node))
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            frame = open_nodes.pop()
            ids_open.discard(id(frame.node))
            frame.node.end_mark = event.end_mark
            if frame.anchor is not None:
                anchors[frame.anchor] = (frame.node, frame.size)
            attach(frame.node, frame.size)
        elif kind is AliasEvent:
            target = anchors.get(event.anchor)
            if target is None:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            anchored, size = target
            if id(anchored) in ids_open:
                raise DocumentTooLarge(
                    f"alias {event.anchor!r} refers to a value that contains it", event.start_mark
                )
            expanded += size
            if expanded - written > ALIAS_EXPANSION_LIMIT:
                raise DocumentTooLarge(
                    f"aliases expand the document by more than {ALIAS_EXPANSION_LIMIT:,} values "
                    f"(it has {written:,} as written); refused",
                    event.start_mark,
                )
            attach(anchored, size)
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    None,
                    "but found another document",
                    event.start_mark,
                )
            anchors.clear()
        elif kind is StreamEndEvent:
            return root
        elif kind is not DocumentEndEvent and kind is not StreamStartEvent:
            raise yaml.composer.ComposerError(None, None, f"unexpected {kind.__name__}", event.start_mark)


def _check_new_anchor(anchors: dict[str, tuple[Node, int]], event: Any) -> None:
    """PyYAML refuses an anchor defined twice in a document; so does this composer."""
    if event.anchor in anchors:
        raise yaml.composer.ComposerError(
            f"found duplicate anchor {event.anchor!r}; first occurrence",
            anchors[event.anchor][0].start_mark,
            "second occurrence",
            event.start_mark,
        )
