"""The gettext catalog's sources besides code and templates: the names people read in the diagrams.

Dutch is the source language (the msgid); ``web/translations/en/LC_MESSAGES/messages.po`` holds the
English. ``pybabel extract -F babel.cfg`` finds the texts: ``translate``/``_`` calls in Python and
templates, and with ``extract_bpmn`` every shown name in ``bpmn/*.bpmn`` (processes, lanes, tasks,
events, gateways and their flows). ``translate_diagram`` serves a diagram with those names in the reader's
language, so lanes and steps read in English too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import IO, Any

# BPMN elements whose name is drawn on the diagram or shown on a page (not messages, data items or
# properties: their names are identifiers the engine matches on).
SHOWN = (
    "process|participant|lane|task|userTask|serviceTask|scriptTask|businessRuleTask|manualTask|sendTask|"
    "receiveTask|callActivity|subProcess|startEvent|endEvent|intermediateCatchEvent|intermediateThrowEvent|"
    "boundaryEvent|exclusiveGateway|parallelGateway|inclusiveGateway|eventBasedGateway|sequenceFlow|"
    "textAnnotation"
)
NAMED = re.compile(r"(<bpmn:(?:" + SHOWN + r')\b[^>]*?\sname=")([^"]+)(")', re.DOTALL)


def shown_names(xml: str) -> Iterator[tuple[int, str]]:
    """(line number, name) of each shown element name in a BPMN document, as written (XML-escaped)."""
    for match in NAMED.finditer(xml):
        yield xml.count("\n", 0, match.start()) + 1, _unescape(match.group(2))


def extract_bpmn(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[Any]:
    """A Babel extraction method for BPMN files (``[bpmn: bpmn/**.bpmn]`` in babel.cfg)."""
    for line, name in shown_names(fileobj.read().decode("utf-8")):
        yield line, None, name, ["BPMN element name"]


def translate_diagram(xml: str, translate: Callable[[str], str]) -> str:
    """The BPMN document with each shown name in the reader's language (ids and everything else kept)."""
    return NAMED.sub(lambda m: m.group(1) + _escape(translate(_unescape(m.group(2)))) + m.group(3), xml)


def _unescape(text: str) -> str:
    return (
        text.replace("&#10;", "\n").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        .replace("&amp;", "&")
    )  # fmt: skip


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("\n", "&#10;")
    )  # fmt: skip
