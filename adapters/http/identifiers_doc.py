"""The identifiers the API checks, as JSON Schema for its OpenAPI document (router.identifiers holds
the checkers). The tax code's check digit is no regular language: its schema names the format
``vn-tax-code``, and its description says the rule."""

from __future__ import annotations

from typing import Any

from router.identifiers import DESCRIPTIONS, PATTERNS

PERSONAL_ID: dict[str, Any] = {
    "type": "string",
    "pattern": PATTERNS["vn-personal-id"],
    "description": DESCRIPTIONS["vn-personal-id"],
}
# the format alone, without the shape as a pattern: tools that generate requests (schemathesis)
# use a format's generator only for a schema that says nothing else of the string
TAX_CODE: dict[str, Any] = {
    "type": "string",
    "format": "vn-tax-code",
    "description": DESCRIPTIONS["vn-tax-code"],
}
PROCEDURE_CODE: dict[str, Any] = {
    "type": "string",
    "pattern": PATTERNS["vn-procedure-code"],
    "description": DESCRIPTIONS["vn-procedure-code"],
}
PERSON_OR_ENTERPRISE: dict[str, Any] = {
    "description": "a personal ID or a tax code",
    "anyOf": [PERSONAL_ID, TAX_CODE],
}
# any taxpayer's tax code: an enterprise's, or the 12-digit personal ID that is the tax code of an
# individual or a household business since 1 July 2025 (docs/identifiers.md)
TAXPAYER_CODE: dict[str, Any] = {
    "description": DESCRIPTIONS["vn-tax-code-or-personal-id"],
    "anyOf": [TAX_CODE, PERSONAL_ID],
}
