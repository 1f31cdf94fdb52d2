"""``GET /problems`` and ``GET /problems/{code}``: the stable error codes of the API's problem+json
answers (adapters.http.problems), where each answer's ``type`` points."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from adapters.http import problems
from adapters.http.responses import errors
from router.errors import NotFound


class ProblemCode(BaseModel):
    status: int
    title: str
    description: str


class NamedProblemCode(ProblemCode):
    code: str


def problem_codes_router() -> APIRouter:
    router = APIRouter()

    @router.get("/problems", tags=["operations"], summary="The stable error codes")
    async def problem_codes() -> dict[str, ProblemCode]:
        return {code: ProblemCode(**entry) for code, entry in problems.catalogue().items()}

    @router.get(
        "/problems/{code}",
        responses=errors(NotFound),
        tags=["operations"],
        summary="One error code",
    )
    async def problem_code(code: str) -> NamedProblemCode:
        found = problems.catalogue().get(code)
        if found is None:
            raise NotFound(f"no problem code '{code}'")
        return NamedProblemCode(code=code, **found)

    return router
