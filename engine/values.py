"""Keep an instance's large task-data values once, by content, however many tasks hold them.

SpiffWorkflow gives every task its own copy of the data: a list handed to a multi-instance of N items
sits in every child and in every task of every child's subprocess, and a list collected item by item
exists in N versions, each one item longer. Stored as they are, the bytes grow with N squared.

Here a value of a data dict (a task's data, its delta against its parent, a workflow's data) whose JSON
is at least ``MIN_SHARED`` bytes is replaced by a reference, ``{"__kmop_ref__": hash}``, and stored once
per instance under that hash:

- a dict as its JSON, its own large values referenced in turn;
- a list as a node ``{"p": prefix, "t": [items]}``: the items after the longest prefix already stored
  (``p``, the hash of that shorter list; absent when none is). The hash of a list is a chain over its
  items, so a list one item longer than a stored one costs that one item, not the whole list again.

A node's text is JSON; references resolve to JSON values, which a load restores into fresh objects for
each task that refers to them (``engine.state``): no two tasks that refer to a value share a container
of it (a task rebuilt from its delta shares its parent's, as the library's restore makes it).
Imports nothing of kmop.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["MIN_SHARED", "REF", "Values", "refs_in"]

REF = "__kmop_ref__"
MIN_SHARED = 256  # bytes of JSON below which a value stays inline: a reference would save little


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def refs_in(data: Any) -> set[str]:
    """The hashes a packed data dict refers to directly (its values that are references)."""
    if not isinstance(data, dict):
        return set()
    return {v[REF] for v in data.values() if isinstance(v, dict) and len(v) == 1 and REF in v}


class Values:
    """The values of one instance: what is stored (``bodies``), what a save adds, and how to resolve."""

    def __init__(self, dumps: Callable[[Any], str]) -> None:
        self.dumps = dumps
        self.bodies: dict[str, str] = {}  # hash -> node text: every value known (stored or new)
        self.deps: dict[str, set[str]] = {}  # hash -> the hashes its node refers to
        self.stored: set[str] = set()  # hashes that have a row in the database
        self._texts: dict[int, tuple[Any, str]] = {}  # id(container) -> (container, JSON), one save
        self._resolved: dict[str, Any] = {}  # hash -> JSON value, one load
        self._by_text: dict[str, str] = {}  # hash of a list's whole text -> its chain hash

    # ------------------------------------------------------------------------------------ saving

    def pack(self, data: dict[str, Any], refs: set[str]) -> dict[str, Any]:
        """``data`` with its large values replaced by references (collected into ``refs``)."""
        out: dict[str, Any] = {}
        for key, value in data.items():
            ref = self._ref(value) if isinstance(value, dict | list) else None
            if ref is None:
                out[key] = value
            else:
                out[key] = {REF: ref}
                refs.add(ref)
        return out

    def forget_texts(self) -> None:
        """Drop what this save learned about objects in memory (they may change before the next)."""
        self._texts.clear()

    def _text(self, value: Any) -> str:
        seen = self._texts.get(id(value))
        if seen is not None and seen[0] is value:
            return seen[1]
        text = self.dumps(value)
        if isinstance(value, dict | list):
            self._texts[id(value)] = (value, text)
        return text

    def _ref(self, value: dict[str, Any] | list[Any]) -> str | None:
        if isinstance(value, list):
            return self._list_ref(value)
        text = self._text(value)
        if len(text) < MIN_SHARED:
            return None
        inner: set[str] = set()
        packed = self.pack(value, inner)
        key = _hash("d" + text)
        if key not in self.bodies:
            self.bodies[key] = '{"d":' + (text if not inner else self.dumps(packed)) + "}"
            self.deps[key] = inner
        return key

    def _list_ref(self, value: list[Any]) -> str | None:
        text = self._text(value)
        if len(text) < MIN_SHARED:
            return None
        whole = _hash("w" + text)  # the same list again (most are): no need to look at its items
        known = self._by_text.get(whole)
        if known is not None and known in self.bodies:
            return known
        texts = _item_texts(text)
        chain, h = [], "l"
        for item in texts:
            h = _hash(h + "\n" + item)
            chain.append(h)
        key = chain[-1]
        self._by_text[whole] = key
        if key in self.bodies:
            return key
        start = next((i + 1 for i in range(len(chain) - 2, -1, -1) if chain[i] in self.bodies), 0)
        items = ",".join(texts[start:])
        if start:
            self.bodies[key] = f'{{"p":"{chain[start - 1]}","t":[{items}]}}'
            self.deps[key] = {chain[start - 1]}
        else:
            self.bodies[key] = f'{{"t":[{items}]}}'
            self.deps[key] = set()
        return key

    def live(self, roots: Iterable[str]) -> set[str]:
        """The hashes reachable from ``roots``: the values still in use."""
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            key = stack.pop()
            if key not in seen:
                seen.add(key)
                stack.extend(self.deps.get(key, ()))
        return seen

    # ----------------------------------------------------------------------------------- loading

    def add_stored(self, key: str, body: str) -> None:
        """A node read from the database (a row of its own)."""
        self.add_node(key, body)
        self.stored.add(key)

    def add_node(self, key: str, body: str) -> None:
        """A node read from a completed instance's document (no row of its own)."""
        self.bodies[key] = body
        node = json.loads(body)
        self.deps[key] = {node["p"]} if "p" in node else refs_in(node.get("d"))

    def forget(self, key: str) -> None:
        """A value no longer in use (its row, if any, is deleted by the caller)."""
        self.bodies.pop(key, None)
        self.deps.pop(key, None)
        self.stored.discard(key)

    def unpack(self, data: Any, wrap: Callable[[str, Any], Any] | None = None) -> Any:
        """``data`` (a parsed data dict) with its references resolved to JSON values, each handed to
        ``wrap(hash, value)`` first when given (what a load does with a value many tasks share)."""
        if not isinstance(data, dict) or not data:
            return data
        if wrap is None:
            return {k: self._resolve(v[REF]) if _is_ref(v) else v for k, v in data.items()}
        return {k: wrap(v[REF], self._resolve(v[REF])) if _is_ref(v) else v for k, v in data.items()}

    def forget_resolved(self) -> None:
        self._resolved.clear()

    def _resolve(self, key: str) -> Any:
        done = self._resolved.get(key)
        if done is not None:
            return done
        node = json.loads(self.bodies[key])
        if "d" in node:
            value: Any = self.unpack(node["d"])
            self._resolved[key] = value
            return value
        # A list: walk back to its first node (or to one resolved already), then forward, keeping each.
        keys, nodes = [key], [node]
        while "p" in nodes[-1] and nodes[-1]["p"] not in self._resolved:
            keys.append(nodes[-1]["p"])
            nodes.append(json.loads(self.bodies[keys[-1]]))
        value = self._resolved[nodes[-1]["p"]] if "p" in nodes[-1] else []
        for k, part in zip(reversed(keys), reversed(nodes), strict=True):
            value = value + part["t"]
            self._resolved[k] = value
        return value


_DECODER = json.JSONDecoder()


def _item_texts(text: str) -> list[str]:
    """The JSON texts of the items of a list, cut from the list's compact JSON (one C scan per item)."""
    texts: list[str] = []
    at = 1
    while text[at] != "]":
        end = _DECODER.raw_decode(text, at)[1]
        texts.append(text[at:end])
        at = end + 1 if text[end] == "," else end
    return texts


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and REF in value
