"""A deployment's files: read from disk, then parsed together with the stored files they refer to.

Parsing collects problems instead of stopping at the first: every file is tried, and each problem names
its file, element and what is wrong (``engine.deploy`` refuses the deployment when there is any).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from .checks import BPMN_NS, structure_problems
from .errors import NotFound, Problem
from .models import DefinitionFile


@dataclass(frozen=True)
class SourceFile:
    name: str
    content: str

    @property
    def kind(self) -> str:
        lower = self.name.lower()
        if lower.endswith(".dmn"):
            return "dmn"
        if lower.endswith(".json"):
            return "form"
        return "bpmn"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()


def read_sources(paths: Iterable[str | Path]) -> list[SourceFile]:
    """Read files and directories (recursively: *.bpmn, *.bpmn20.xml, *.dmn, *.json)."""
    files: list[SourceFile] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file() and _is_definition(p)]
        elif path.is_file():
            found = [path]
        else:
            raise NotFound(f"no such file or directory: {path}")
        files.extend(SourceFile(p.name, p.read_text(encoding="utf-8")) for p in found)
    return files


def _is_definition(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".bpmn", ".bpmn20.xml", ".dmn", ".json"))


# --------------------------------------------------------------------------------------------- parse


@dataclass
class Parsed:
    parser: SpiffBpmnParser
    own_processes: list[str]
    extra_files: dict[str, DefinitionFile]  # stored files pulled in to resolve references
    forms: dict[str, SourceFile | DefinitionFile]


def parse_all(session: Session, sources: list[SourceFile], problems: list[Problem]) -> Parsed:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    own: list[str] = []
    forms: dict[str, SourceFile | DefinitionFile] = {}
    for src in sources:
        if src.kind == "form":
            try:
                json.loads(src.content)
            except ValueError as exc:
                problems.append(Problem(src.name, None, f"form is not valid JSON: {exc}"))
            forms[src.name] = src
            continue
        try:
            root = etree.fromstring(src.content.encode("utf-8"))
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(src.name, None, f"not well-formed XML: {exc}"))
            continue
        if src.kind == "bpmn":
            before = set(parser.process_parsers)
            if _add(parser.add_bpmn_xml, root, src.name, problems):
                new = [p for p in parser.process_parsers if p not in before]
                own.extend(new)
                problems.extend(structure_problems(root, src.name))
        else:
            _add(parser.add_dmn_xml, root, src.name, problems)
    extra = _pull_in_references(session, parser, sources, forms, problems)
    return Parsed(parser, own, extra, forms)


def _add(method: Any, root: Any, name: str, problems: list[Problem]) -> bool:
    try:
        method(root, name)
        return True
    except ValidationException as exc:
        problems.append(problem_from(exc, name))
    except Exception as exc:  # the parser raises plain errors for some malformed content
        problems.append(Problem(name, None, f"{type(exc).__name__}: {exc}"))
    return False


def problem_from(exc: ValidationException, default_file: str) -> Problem:
    file = Path(exc.file_name).name if getattr(exc, "file_name", None) else default_file
    element = getattr(exc, "id", None) or None
    message = str(getattr(exc, "error_msg", None) or exc).strip().rstrip(".")
    line = getattr(exc, "line_number", None)
    if line:
        message += f" (line {line})"
    return Problem(file, element, message)


def _pull_in_references(
    session: Session,
    parser: SpiffBpmnParser,
    sources: list[SourceFile],
    forms: dict[str, SourceFile | DefinitionFile],
    problems: list[Problem],
) -> dict[str, DefinitionFile]:
    """Add the latest stored files that define processes or decisions this deployment refers to."""
    stored = session.scalars(select(DefinitionFile).order_by(DefinitionFile.id.desc())).all()
    own_names = {s.name for s in sources}
    extra: dict[str, DefinitionFile] = {}
    for _ in range(10):  # references may chain; each pass resolves one level
        wanted_processes, wanted_decisions = references(parser)
        missing_p = wanted_processes - set(parser.process_parsers)
        missing_d = wanted_decisions - set(parser.dmn_parsers)
        added = False
        for f in stored:
            if f.name in own_names or f.name in extra:
                continue
            provides = set(f.provides.get("processes", [])) | set(f.provides.get("decisions", []))
            if provides & (missing_p | missing_d):
                root = etree.fromstring(f.content.encode("utf-8"))
                method = parser.add_dmn_xml if f.kind == "dmn" else parser.add_bpmn_xml
                if _add(method, root, f.name, problems):
                    extra[f.name] = f
                    added = True
                missing_p -= set(parser.process_parsers)
                missing_d -= set(parser.dmn_parsers)
        if not added:
            break
    for f in stored:
        if f.kind == "form" and f.name not in forms:
            forms[f.name] = f
    return extra


def references(parser: SpiffBpmnParser) -> tuple[set[str], set[str]]:
    processes: set[str] = set()
    decisions: set[str] = set()
    for pp in parser.process_parsers.values():
        node = pp.node
        for call in node.iter(f"{{{BPMN_NS}}}callActivity"):
            if call.get("calledElement"):
                processes.add(call.get("calledElement"))
        for rule in node.iter(f"{{{BPMN_NS}}}businessRuleTask"):
            for child in rule.iter():
                if isinstance(child.tag, str) and child.tag.endswith("calledDecisionId") and child.text:
                    decisions.add(child.text.strip())
    return processes, decisions
