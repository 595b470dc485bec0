"""Accept the data a person submits for a user task: only its form's fields, validated by the form.

A form file is a JSON Schema (deployed with the diagram). Fields the form does not define are dropped
and never reach process data; each invalid field is reported by name. A task without a form accepts
the data as given.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .errors import InvalidInput
from .models import ProcessInstance, ProcessVersion
from .specs import SpecCache


class FormErrors(InvalidInput):
    """One or more fields are invalid; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        text = "; ".join(f"{k}: {v}" for k, v in errors.items())
        super().__init__(f"the form has errors: {text}", field=first)
        self.errors = errors


def load_form(specs: SpecCache, session: Session, inst: ProcessInstance, name: str) -> dict[str, Any]:
    version = session.get(ProcessVersion, inst.process_version_id)
    assert version is not None
    forms = specs.forms(session, version)
    if name not in forms:
        raise InvalidInput(f"form '{name}' is not part of version {version.version} of {inst.process_key}")
    form: dict[str, Any] = forms[name]
    return form


def accept(
    specs: SpecCache, session: Session, inst: ProcessInstance, form_name: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Return the submitted fields that the form defines, or raise ``FormErrors``."""
    if not form_name:
        return dict(data)
    from jsonschema import Draft202012Validator  # imported here: it costs 0.4 s, and most runs need none

    schema = load_form(specs, session, inst, form_name)
    fields = schema.get("properties", {})
    kept = {k: v for k, v in data.items() if k in fields}
    errors: dict[str, str] = {}
    for error in Draft202012Validator(schema).iter_errors(kept):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            errors.setdefault(missing, "is required")
        else:
            field = path[0] if path else "(form)"
            label = fields.get(field, {}).get("title", field)
            errors.setdefault(field, f"{label}: {error.message}")
    if errors:
        raise FormErrors(errors)
    return kept
