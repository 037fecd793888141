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
    # Every value made here lives until the document is built, so the cyclic collector's
    # passes find nothing to free and, over a large document, cost as much as the parse.
    collecting = gc.isenabled()
    gc.disable()
    try:
        loader = _StringDatesLoader(text)
        try:
            return _build(loader)
        except _UncommonTag:
            pass  # a tag the direct builder does not make: PyYAML's constructor makes it
        finally:
            loader.dispose()
        loader = _StringDatesLoader(text)
        try:
            node = _compose(loader)
            return None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    finally:
        if collecting:
            gc.enable()


class _UncommonTag(Exception):
    """A tag beyond a programme's plain maps, lists, strings, numbers, booleans and nulls."""


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE, _VALUE = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"
_PLAIN_SCALARS = {"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int"}
_PLAIN_SCALARS |= {"tag:yaml.org,2002:float"}
#: The pending key of a mapping whose next value is merged in (``<<: *defaults``).
_MERGE_KEY = object()


class _Building:
    """A list or dict being built: its expanded size so far, a pending key, and merged-in values."""

    __slots__ = ("anchor", "key", "mark", "merges", "size", "value")

    def __init__(self, value: list[Any] | dict[Any, Any], anchor: str | None, mark: Any) -> None:
        self.value = value
        self.anchor = anchor
        self.mark = mark
        self.size = 1
        self.key: Any = _NO_KEY
        self.merges: list[Any] = []


_NO_KEY = object()


def _build(loader: Any) -> Any:
    """The document's values, built straight from the parser's events, as PyYAML's safe constructor
    would build them, under the same bounds as :func:`_compose`.

    Composing nodes and then constructing values from them walked a large programme twice, in
    Python, and resolved the same few hundred distinct plain scalars hundreds of thousands of times;
    here each event becomes its value at once and each distinct scalar is resolved once. Anything
    but plain maps, lists and scalars raises :class:`_UncommonTag`, and the caller composes instead.
    """
    anchors: dict[str, tuple[Any, int]] = {}
    building: list[_Building] = []
    ids_open: set[int] = set()
    scalars: dict[tuple[str, tuple[bool, bool], str | None], tuple[str, Any]] = {}
    anchor_marks: dict[str, Any] = {}

    def new_anchor(event: Any) -> None:
        if event.anchor in anchor_marks:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {event.anchor!r}; first occurrence",
                anchor_marks[event.anchor],
                "second occurrence",
                event.start_mark,
            )
        anchor_marks[event.anchor] = event.start_mark

    written = expanded = 0
    root: Any = None
    documents = 0

    def attach(child: Any, size: int, tag: str | None, mark: Any) -> None:
        nonlocal root
        if not building:
            root = child
            return
        parent = building[-1]
        parent.size += size
        container = parent.value
        is_key = type(container) is dict and parent.key is _NO_KEY
        if tag is not None and tag is not _STR and not is_key:
            raise _UncommonTag(tag)  # '<<' or '=' other than as a key: PyYAML says what it makes of it
        if type(container) is list:
            container.append(child)
        elif is_key:
            if tag == _MERGE:
                parent.key = _MERGE_KEY
                return
            if isinstance(child, list | dict):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", parent.mark, "found unhashable key", mark
                )
            parent.key = child
        elif parent.key is _MERGE_KEY:
            parent.merges.append((child, mark))
            parent.key = _NO_KEY
        else:
            container[parent.key] = child
            parent.key = _NO_KEY

    while True:
        event = loader.get_event()
        kind = type(event)
        if kind is ScalarEvent:
            value = event.value
            key = (value, event.implicit, event.tag)
            made = scalars.get(key)
            if made is None:
                tag = event.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(ScalarNode, value, event.implicit)
                if tag == _STR:
                    made = (_STR, value)
                elif tag in (_MERGE, _VALUE):
                    made = (tag, value)  # as a key: a merge, or the string '=' (PyYAML's flatten_mapping)
                elif tag in _PLAIN_SCALARS:
                    node = ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
                    made = (_STR, loader.yaml_constructors[tag](loader, node))
                else:
                    raise _UncommonTag(tag)
                scalars[key] = made
            written += 1
            expanded += 1
            if event.anchor is not None:
                new_anchor(event)
                anchors[event.anchor] = (made[1], 1)
            attach(made[1], 1, made[0], event.start_mark)
        elif kind is SequenceStartEvent or kind is MappingStartEvent:
            if len(building) >= NESTING_LIMIT:
                raise DocumentTooLarge(f"nests deeper than {NESTING_LIMIT} levels", event.start_mark)
            is_sequence = kind is SequenceStartEvent
            tag = event.tag
            if tag is not None and tag != "!" and tag != (_SEQ if is_sequence else _MAP):
                raise _UncommonTag(tag)
            written += 1
            expanded += 1
            frame = _Building([] if is_sequence else {}, event.anchor, event.start_mark)
            if event.anchor is not None:
                new_anchor(event)
                anchors[event.anchor] = (None, -1)  # made when it closes
            building.append(frame)
            ids_open.add(id(frame))
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            frame = building.pop()
            ids_open.discard(id(frame))
            value = frame.value
            if frame.merges:
                value = _merged(frame, event.end_mark)
            if frame.anchor is not None:
                anchors[frame.anchor] = (value, frame.size)
            attach(value, frame.size, None, frame.mark)
        elif kind is AliasEvent:
            anchored, size = _anchored(anchors, event)
            if size == -1:
                raise DocumentTooLarge(
                    f"alias {event.anchor!r} refers to a value that contains it", event.start_mark
                )
            expanded += size
            _check_expansion(expanded, written, event.start_mark)
            attach(anchored, size, None, event.start_mark)
        elif kind is DocumentStartEvent:
            documents += 1
            _check_single_document(documents, event.start_mark)
            anchors.clear()
            anchor_marks.clear()
        elif kind is StreamEndEvent:
            return root
        elif kind is not DocumentEndEvent and kind is not StreamStartEvent:
            raise yaml.composer.ComposerError(None, None, f"unexpected {kind.__name__}", event.start_mark)


def _merged(frame: _Building, end_mark: Any) -> dict[Any, Any]:
    """A mapping with its merge keys applied as PyYAML's ``flatten_mapping`` does: the merged
    mappings first (of a list of them, the earlier wins), then the mapping's own keys over them."""
    merged: dict[Any, Any] = {}
    for value, mark in frame.merges:
        sources = value if isinstance(value, list) else [value]
        for source in reversed(sources):
            if not isinstance(source, dict):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    frame.mark,
                    f"expected a mapping or list of mappings for merging, but found {type(source).__name__}",
                    mark,
                )
            merged.update(source)
    merged.update(frame.value)
    return merged


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
            anchored, size = _anchored(anchors, event)
            if id(anchored) in ids_open:
                raise DocumentTooLarge(
                    f"alias {event.anchor!r} refers to a value that contains it", event.start_mark
                )
            expanded += size
            _check_expansion(expanded, written, event.start_mark)
            attach(anchored, size)
        elif kind is DocumentStartEvent:
            documents += 1
            _check_single_document(documents, event.start_mark)
            anchors.clear()
        elif kind is StreamEndEvent:
            return root
        elif kind is not DocumentEndEvent and kind is not StreamStartEvent:
            raise yaml.composer.ComposerError(None, None, f"unexpected {kind.__name__}", event.start_mark)


def _anchored(anchors: dict[str, tuple[Any, int]], event: Any) -> tuple[Any, int]:
    """The value an alias refers to and its size; an undefined alias is refused as PyYAML does."""
    target = anchors.get(event.anchor)
    if target is None:
        raise yaml.composer.ComposerError(
            None, None, f"found undefined alias {event.anchor!r}", event.start_mark
        )
    return target


def _check_expansion(expanded: int, written: int, mark: Any) -> None:
    """Refuse a document whose aliases add more than :data:`ALIAS_EXPANSION_LIMIT` values."""
    if expanded - written > ALIAS_EXPANSION_LIMIT:
        raise DocumentTooLarge(
            f"aliases expand the document by more than {ALIAS_EXPANSION_LIMIT:,} values "
            f"(it has {written:,} as written); refused",
            mark,
        )


def _check_single_document(documents: int, mark: Any) -> None:
    """Refuse a second document in the stream, as PyYAML's single-document loader does."""
    if documents > 1:
        raise yaml.composer.ComposerError(
            "expected a single document in the stream", None, "but found another document", mark
        )


def _check_new_anchor(anchors: dict[str, tuple[Node, int]], event: Any) -> None:
    """PyYAML refuses an anchor defined twice in a document; so does this composer."""
    if event.anchor in anchors:
        raise yaml.composer.ComposerError(
            f"found duplicate anchor {event.anchor!r}; first occurrence",
            anchors[event.anchor][0].start_mark,
            "second occurrence",
            event.start_mark,
        )
