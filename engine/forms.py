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


def load_form(specs: SpecCache, session: Session, version: ProcessVersion, name: str) -> dict[str, Any]:
    forms = specs.forms(session, version)
    if name not in forms:
        raise InvalidInput(f"form '{name}' is not part of version {version.version} of {version.process_key}")
    form: dict[str, Any] = forms[name]
    return form


def as_input_error(exc: Exception) -> InvalidInput | None:
    """Turn a service's validation error (``.errors`` by field, or one ``.field``) into engine terms."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict) and errors:
        return FormErrors({str(k): str(v) for k, v in errors.items()})
    field = getattr(exc, "field", None)
    if isinstance(field, str):
        return FormErrors({field: str(exc)})
    return None


def accept(
    specs: SpecCache, session: Session, inst: ProcessInstance, form_name: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Return the submitted fields that the form defines, or raise ``FormErrors``."""
    version = specs.version(session, inst.process_version_id)
    return accept_for_version(specs, session, version, form_name, data)


def accept_for_version(
    specs: SpecCache, session: Session, version: ProcessVersion, form_name: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Like ``accept``, for a version without an instance yet (a start form)."""
    if not form_name:
        return dict(data)
    from jsonschema import Draft202012Validator  # imported here: it costs 0.4 s, and most runs need none

    schema = load_form(specs, session, version, form_name)
    fields = schema.get("properties", {})
    kept = {k: v for k, v in data.items() if k in fields}
    required = set(schema.get("required", []))
    errors: dict[str, str] = {}
    for error in Draft202012Validator(schema).iter_errors(kept):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            errors.setdefault(missing, "is required")
        elif path and (
            error.instance is None or (error.validator == "pattern" and error.validator_value == "\\S")
        ):
            errors.setdefault(path[0], "is required")  # left empty where a condition of the form asks for it
        else:
            field = path[0] if path else "(form)"
            label = fields.get(field, {}).get("title", field)
            errors.setdefault(field, f"{label}: {error.message}")
    if errors:
        raise FormErrors(errors)
    # An optional field left empty is stored as None, so that conditions and scripts can read it.
    return {**{k: None for k in fields if k not in required}, **kept}
