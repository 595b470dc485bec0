"""The building blocks of the description's JSON Schemas, shared by its request and response bodies."""

from __future__ import annotations

from typing import Any

JSON = "application/json"

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(values: tuple[str, ...]) -> Schema:
    """A string that is one of ``values`` (the tuple a handler or validator checks against)."""
    return {"type": "string", "enum": list(values)}


DATE_TIME: Schema = {"type": "string", "format": "date-time"}
DATE: Schema = {"type": "string", "format": "date"}
STRING: Schema = {"type": "string"}
OPEN_OBJECT: Schema = {"type": "object", "additionalProperties": True}
