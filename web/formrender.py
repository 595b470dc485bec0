"""Show a JSON Schema form as HTML fields, and read what a person submitted back as typed data.

``fields(schema)`` describes each field (kind, label in the current language, options, required) for the
macros in ``templates/forms/fields.html``; ``parse(schema, form)`` turns ``request.form`` into the data
the engine takes (booleans from checkboxes, whole numbers, lists); ``check(schema, data)`` finds the
errors the schema itself can tell, worded for people; ``messages(exc)`` words an engine error by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from engine.errors import InvalidInput, KmopError

from .i18n import current_language, translate

FormData = MultiDict[str, str]  # what request.form is

# English for the texts of this module and of the forms in bpmn/ (their Dutch titles are the keys).


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Field:
    """One field as the macros show it."""

    name: str
    label: str
    kind: str  # text | textarea | number | date | checkbox | select | radio | checkboxes
    required: bool = False
    options: tuple[Option, ...] = ()
    hint: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    readonly: bool = False

    @property
    def html_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


TEXTAREA_FROM = 500  # a string that may be longer than this gets a text area


def _type(prop: dict[str, Any]) -> str:
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


def label(schema: dict[str, Any], name: str) -> str:
    """The field's label in the current language (``x-labels-en`` in English, else the Dutch title)."""
    prop = schema.get("properties", {}).get(name, {})
    if current_language() == "en":
        english = schema.get("x-labels-en", {}).get(name)
        if english:
            return str(english)
    return str(prop.get("title") or name)


def _options(prop: dict[str, Any]) -> tuple[Option, ...]:
    values = prop.get("enum", [])
    names = prop.get("enumNames", values)
    return tuple(Option(str(v), translate(str(n))) for v, n in zip(values, names, strict=False))


def field(schema: dict[str, Any], name: str, readonly: bool = False) -> Field:
    prop = schema["properties"][name]
    kind = _type(prop)
    common: dict[str, Any] = {
        "name": name,
        "label": label(schema, name),
        "required": name in schema.get("required", []),
        "hint": translate(prop["description"]) if prop.get("description") else None,
        "readonly": readonly,
    }
    if kind == "array" and "enum" in prop.get("items", {}):
        return Field(kind="checkboxes", options=_options(prop["items"]), **common)
    if "enum" in prop:
        choices = _options(prop)
        return Field(kind="radio" if len(choices) <= 3 else "select", options=choices, **common)
    if kind == "boolean":
        return Field(kind="checkbox", **common)
    if kind in ("integer", "number"):
        return Field(kind="number", minimum=prop.get("minimum"), maximum=prop.get("maximum"), **common)
    if prop.get("format") == "date":
        return Field(kind="date", **common)
    length = prop.get("maxLength")
    kind = "textarea" if length and length > TEXTAREA_FROM else "text"
    return Field(kind=kind, max_length=length, **common)


def fields(schema: dict[str, Any], readonly: tuple[str, ...] = ()) -> list[Field]:
    return [field(schema, name, name in readonly) for name in schema.get("properties", {})]


def parse(schema: dict[str, Any], form: FormData) -> dict[str, Any]:
    """Typed data from the submitted form; an empty field is left out (the engine stores None)."""
    data: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        kind = _type(prop)
        if kind == "array":
            chosen = [str(v) for v in form.getlist(name) if str(v).strip()]
            if chosen:
                data[name] = chosen
            continue
        if kind == "boolean":
            data[name] = name in form
            continue
        raw = str(form.get(name, "") or "").strip()
        if not raw:
            continue
        data[name] = _number(raw, kind) if kind in ("integer", "number") else raw
    return data


def _number(raw: str, kind: str) -> Any:
    try:
        return int(raw) if kind == "integer" else float(raw.replace(",", "."))
    except ValueError:
        return raw  # kept as typed; check() says it is not a number


def values(schema: dict[str, Any], form: FormData) -> dict[str, Any]:
    """What the person typed, to show again after an error."""
    shown: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        kind = _type(prop)
        if kind == "array":
            shown[name] = [str(v) for v in form.getlist(name)]
        elif kind == "boolean":
            shown[name] = name in form
        else:
            shown[name] = str(form.get(name, "") or "")
    return shown


def initial(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Display values for typed data (to fill a form in)."""
    shown: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        value = data.get(name)
        kind = _type(prop)
        if kind == "array":
            shown[name] = [str(v) for v in value or []]
        elif kind == "boolean":
            shown[name] = bool(value)
        else:
            shown[name] = "" if value is None else str(value)
    return shown


def _say(name_label: str, dutch: str, **numbers: Any) -> str:
    return f"{name_label}: {translate(dutch).format(**numbers)}"


def check(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    """The errors the schema can tell about ``data``, one per field, in the current language."""
    from jsonschema import Draft202012Validator

    errors: dict[str, str] = {}
    for error in Draft202012Validator(schema).iter_errors(data):
        if error.validator == "required":
            name = error.message.split("'")[1] if "'" in error.message else "?"
            errors.setdefault(name, _say(label(schema, name), "is verplicht."))
            continue
        path = [str(p) for p in error.absolute_path]
        name = path[0] if path else ""
        errors.setdefault(name, _worded(schema, name, error))
    return errors


def _worded(schema: dict[str, Any], name: str, error: Any) -> str:
    text, value = label(schema, name), error.validator_value
    kind = str(error.validator)
    if error.instance is None or (kind == "pattern" and value == "\\S"):
        return _say(text, "is verplicht.")  # left empty where a condition asks for it (a refusal's reason)
    if kind == "type":
        integer = "integer" in (value if isinstance(value, list) else [value])
        return _say(text, "moet een geheel getal zijn." if integer else "moet een getal zijn.")
    words = {
        "minimum": "moet minstens {n} zijn.",
        "maximum": "mag hoogstens {n} zijn.",
        "minLength": "moet minstens {n} tekens tellen.",
        "maxLength": "mag hoogstens {n} tekens tellen.",
        "minItems": "kies er minstens {n}.",
        "enum": "kies een van de mogelijkheden.",
        "const": "moet aangevinkt zijn.",
    }
    return _say(text, words.get(kind, "is ongeldig."), n=value)


def messages(exc: KmopError, schema: dict[str, Any] | None = None) -> dict[str, str]:
    """An engine error as ``{field: message}`` in the current language ("" for the form as a whole)."""
    lang = current_language()
    cause = exc.__cause__
    if cause is not None and hasattr(
        cause, "messages"
    ):  # tasks.validation.ValidationErrors: Dutch and English messages
        worded = cause.messages(lang)
        if isinstance(worded, dict) and worded:
            return {str(k): str(v) for k, v in worded.items()}
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict) and errors:
        result = {}
        for name, text in errors.items():
            if text == "is required" and schema is not None:
                text = _say(label(schema, name), "is verplicht.")
            result[str(name)] = str(text)
        return result
    if isinstance(exc, InvalidInput) and exc.field:
        return {exc.field: exc.message}
    return {"": exc.message}
