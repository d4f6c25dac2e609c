"""OpenAPI hooks: only the API's own paths, and the one error shape on every operation."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Stable code: validation_error, not_found, bad_token, …"},
        "detail": {
            "description": "A message for people; for validation_error an object naming each bad field.",
            "anyOf": [{"type": "string"}, {"type": "object"}],
        },
    },
}

ERRORS = {
    "400": "Invalid input; `detail` names each bad field.",
    "401": "Missing or wrong credentials.",
    "403": "Not allowed for this token, or an address the source refuses.",
    "404": "No such resource (or not one this token may see).",
    "405": "Method not allowed here.",
    "429": "Too many requests; see Retry-After.",
    "503": "The database could not be reached; nothing was stored. Try again.",
}


def api_paths_only(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    """The schema covers /api/…; the progress service's URLs have their own page (docs/progress.md)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]


# Views whose answer depends on the token: one shape is a subset of the other, so "any of".
ANY_OF_COMPONENTS = ("SourceView",)


def error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every operation can answer with the error shape; list each status with it."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in ANY_OF_COMPONENTS:
        if "oneOf" in schemas.get(name, {}):
            schemas[name]["anyOf"] = schemas[name].pop("oneOf")
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(code, {"description": description, "content": error})
    return result
