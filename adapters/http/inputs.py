"""The inputs of the management calls, read as strictly as their OpenAPI schemas say: what JSON
Schema calls a boolean or an integer is one, nothing else is (pydantic's lax mode would take 1
for true and "5" for 5, which a client generated from the document never sends)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from router.bus import MAX_REPLAY


def _strict_bool(value: object) -> object:
    """A query's boolean is ``true`` or ``false``, as OpenAPI serialises it; not 1, on or yes."""
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("true or false")
    return value


def _json_integer(value: object) -> object:
    """An integer as JSON Schema counts them: 547.0 is one, "547" and true are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


QueryBool = Annotated[bool, BeforeValidator(_strict_bool)]
# in a strict model: only what JSON Schema's "integer" accepts
JsonInteger = Annotated[int, BeforeValidator(_json_integer)]
# any integer: one past every letter names none (the store reads it as such)
LetterId = JsonInteger
# what a replay or purge names: ids, a subject, or all (the bus refuses a request naming none)
_NAMES_LETTERS: dict[str, Any] = {
    "anyOf": [
        {"required": ["ids"], "properties": {"ids": {"minItems": 1}}},
        {"required": ["subject"], "properties": {"subject": {"type": "string"}}},
        {"required": ["all"], "properties": {"all": {"const": True}}},
    ]
}


class ReplayBody(BaseModel):
    """``POST .../dead-letters/replay``: which letters, and how many at most this round."""

    # strict: 1 is not a boolean nor "1" an id; a misspelt member is refused, not ignored
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_NAMES_LETTERS)

    ids: list[LetterId] = Field(default_factory=list, max_length=MAX_REPLAY)
    subject: str | None = Field(default=None, max_length=2048)
    all: bool = False
    limit: JsonInteger = Field(
        default=MAX_REPLAY, ge=1, le=MAX_REPLAY, description="replay at most this many, oldest first"
    )
