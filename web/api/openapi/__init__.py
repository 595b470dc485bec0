"""Describe the API as an OpenAPI 3.1 document (served at ``/api/v1/openapi.json`` without a token).

The description is put together here from its parts, each importing only those listed before it:

- :mod:`.schema`: the building blocks of its JSON Schemas;
- :mod:`.bodies`: the request bodies, built from what the handlers and their validators check;
- :mod:`.answers`: the response bodies and the errors;
- :mod:`.paths`: each route with its parameters, request body and answers.

``tests/web/test_openapi.py`` holds it against the routes of the blueprint and the request bodies against
what their handlers validate with.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from ..core import bp
from .answers import ANSWERS, ERROR_RESPONSES
from .bodies import BODIES
from .paths import PATHS

PREFIX = "/api/v1"
SCHEMAS = {**ANSWERS, **BODIES}

__all__ = ["PATHS", "PREFIX", "SCHEMAS", "document", "openapi"]


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "kmop API",
            "version": "1.0.0",
            "description": (
                "Registration of kmo-portefeuille service providers: start applications, follow cases, "
                "complete tasks, send audit reports, read the register. Authenticate with "
                "'Authorization: Bearer <token>'; the token's person and roles apply. Dates are ISO 8601. "
                "No text may contain a NUL character (U+0000, %00), in the path, query or body: 400."
            ),
        },
        "servers": [{"url": PREFIX}],
        "security": [{"bearerAuth": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "kmop_<random>",
                    "description": "an API token issued to a person; that person's roles apply",
                }
            },
            "schemas": SCHEMAS,
            "responses": ERROR_RESPONSES,
        },
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(document())
