"""What changed between two versions of a BPMN diagram, element by element.

Elements are matched by id (the way SpiffWorkflow aligns versions when it migrates a case). Each element
is summed up as a flat map of the properties kmop executes: its name and attributes, its timer, condition
and script texts, and its ``spiffworkflow`` extensions (the service operator and each parameter, each
property such as the form file and due date, the decision called). Layout (BPMN DI) is not compared:
moving a shape is not a change to the procedure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .checks import BPMN_NS

_CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess", "laneSet", "collaboration"}
# Elements compared as a whole; their own children are folded into their properties.
_SKIP_ATTRS = {"id"}
_TEXT_CHILDREN = {
    "timeDuration": "timer.duration",
    "timeDate": "timer.date",
    "timeCycle": "timer.cycle",
    "conditionExpression": "condition",
    "script": "script",
    "documentation": "documentation",
}


@dataclass
class ModelDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "names": self.names,
            "kinds": self.kinds,
        }


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def elements(xml: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    """id -> (kind, name, properties) for every flow element, lane, message and participant."""
    root = etree.fromstring(xml.encode("utf-8"))
    found: dict[str, tuple[str, str, dict[str, str]]] = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el).namespace != BPMN_NS:
            continue
        parent = el.getparent()
        parent_kind = _local(parent.tag) if parent is not None else ""
        kind = _local(el.tag)
        top_level = parent_kind == "definitions" and kind in {"message", "signal", "error", "escalation"}
        if el.get("id") is None or not (parent_kind in _CONTAINERS or top_level):
            continue
        if kind in {"extensionElements", "documentation", "laneSet"}:
            continue
        found[el.get("id")] = (kind, el.get("name") or "", _properties(el, kind))
    return found


def _properties(el: etree._Element, kind: str) -> dict[str, str]:
    props = {f"attribute.{k}": v for k, v in el.attrib.items() if k not in _SKIP_ATTRS and "}" not in k}
    if kind in _CONTAINERS:
        return props  # a subprocess's contents are elements of their own
    for child in el.iter():
        if child is el or not isinstance(child.tag, str):
            continue
        local = _local(child.tag)
        if local in _TEXT_CHILDREN:
            props[_TEXT_CHILDREN[local]] = (child.text or "").strip()
        elif local == "flowNodeRef":
            props.setdefault("lane.nodes", "")
            props["lane.nodes"] = " ".join(sorted([*props["lane.nodes"].split(), (child.text or "").strip()]))
        elif local == "serviceTaskOperator":
            props["operator"] = child.get("id") or ""
            if child.get("resultVariable"):
                props["operator.result"] = child.get("resultVariable") or ""
        elif local == "parameter":
            props[f"parameter.{child.get('id') or child.get('name')}"] = child.get("value") or ""
        elif local == "property" and child.get("name"):
            props[f"property.{child.get('name')}"] = child.get("value") or ""
        elif local in {"calledDecisionId", "preScript", "postScript", "messageVariable"}:
            props[local] = (child.text or "").strip()
        elif local in {"incoming", "outgoing"}:
            continue  # the flows themselves say where they go
        elif local.endswith("EventDefinition"):
            props["event"] = local.removesuffix("EventDefinition")
            for name, value in child.attrib.items():
                if name != "id":
                    props[f"event.{name}"] = value
    return props


def diff(old_xml: str, new_xml: str) -> ModelDiff:
    """The elements added, removed and changed (with each changed property's old and new value)."""
    old, new = elements(old_xml), elements(new_xml)
    result = ModelDiff()
    result.added = sorted(set(new) - set(old))
    result.removed = sorted(set(old) - set(new))
    for eid in sorted(set(old) & set(new)):
        (okind, _, oprops), (nkind, _, nprops) = old[eid], new[eid]
        changes: list[dict[str, str | None]] = []
        if okind != nkind:
            changes.append({"property": "kind", "old": okind, "new": nkind})
        for prop in sorted(set(oprops) | set(nprops)):
            if oprops.get(prop) != nprops.get(prop):
                changes.append({"property": prop, "old": oprops.get(prop), "new": nprops.get(prop)})
        if changes:
            result.changed[eid] = changes
    for eid, (kind, name, _) in {**old, **new}.items():
        result.names[eid] = name
        result.kinds[eid] = kind
    return result
