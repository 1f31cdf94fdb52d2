"""The operator console (``/console``): a server-rendered page of the bus's state for systems
holding the admin grant, with dead-letter replay.

Signing in posts a system's API key once; the answer sets a signed, HttpOnly, SameSite=Strict
session cookie (adapters.http.console.sessions) limited to ``/console``. Default deny: no valid session,
no figures; a key without the admin grant gets 403. Forms that change something carry the
session's CSRF token, and a cross-origin ``Origin`` is refused. The page refreshes its figures by
fetching ``/console/live`` (the same server-side rendering) every few seconds; no script or style
comes from anywhere but the bus itself.

Optional parts (audit log, portal sync, evidence providers) are given to
:class:`~adapters.http.console.figures.FigureSources`; an absent one shows "not configured".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from adapters.http.body import read_bounded
from adapters.http.console import view
from adapters.http.console.figures import FigureSources
from adapters.http.console.sessions import Session, SessionSigner
from router.bus import Bus, ReplayRequest
from router.directory import System, hash_api_key
from router.errors import (
    Forbidden,
    LienthongError,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from router.state import SessionRevocations

log = logging.getLogger("lienthong.console")

COOKIE = "lienthong_console"
PREFIX = "/console"
SESSION_TTL_S = 8 * 3600.0  # one working day
MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 20
MAX_LETTER_ID = (1 << 63) - 1  # SQLite's largest integer: a dead letter's id is never above it
FORM = "application/x-www-form-urlencoded"
# the official a console action records: the console signs systems in, not officials
CONSOLE_OFFICIAL = "console"

# releases a held portal dossier: (operator, dossier, reason, official) -> what was done
PortalRelease = Callable[[System, str, str, str], Awaitable[Mapping[str, Any]]]
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts say "Origin: null"
    "Cache-Control": "no-store",
}


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


def _see(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


class Console:
    """The console's routes over one bus."""

    def __init__(
        self,
        bus: Bus,
        figures: FigureSources,
        signer: SessionSigner,
        portal_release: PortalRelease | None = None,
    ) -> None:
        # the directory and the policy are the bus's of the moment: a reload changes them
        self.bus = bus
        self.figures = figures
        self.signer = signer
        self.portal_release = portal_release

    # --- who is asking -------------------------------------------------------------------------

    async def operator(self, request: Request) -> tuple[System, Session]:
        """The operator of the request's session: 401 without a valid one, 403 without the grant."""
        session = await self.signer.current(request.cookies.get(COOKIE))
        if session is None:
            raise Unauthenticated("sign in at /console/login")
        system = self.bus.directory.get(session.system)
        # The session ends with the key it was opened with: a removed key signs nobody in.
        if system is None or not any(
            self.signer.fingerprint(h) == session.key_fingerprint for h in system.api_key_hashes
        ):
            raise Unauthenticated("the session's API key is no longer valid; sign in again")
        if not self.bus.is_admin(system.id):
            raise Forbidden(f"'{system.id}' does not hold the admin grant")
        return system, session

    async def form(self, request: Request, session: Session | None) -> dict[str, str]:
        """A posted form's fields (first value of each), after the origin and CSRF checks."""
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise Forbidden("the form was posted from another origin")
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != FORM:
            raise UnsupportedMediaType(f"post the form as {FORM}")
        body = await read_bounded(request, MAX_FORM_BYTES)
        try:
            parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=MAX_FORM_FIELDS)
        except ValueError:  # parse_qs's only complaint: more fields than max_num_fields
            raise PayloadTooLarge(f"the form has more than {MAX_FORM_FIELDS} fields") from None
        fields = {k: v[0] for k, v in parsed.items()}
        if session is not None and not self.signer.csrf_ok(session, fields.get("csrf")):
            raise Forbidden("the form's CSRF token is missing or not this session's; reload the page")
        return fields

    # --- pages ---------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        try:
            system, session = await self.operator(request)
        except Unauthenticated:
            return _see(f"{PREFIX}/login")
        except Forbidden as error:
            return _html(view.login(error.detail), 403)
        figures = await self.figures.gather(system)
        notice = ""
        replayed, name = request.query_params.get("replayed"), request.query_params.get("subscription")
        if (
            replayed is not None
            and replayed.isdigit()
            and name in {s.status.name for s in figures.subscriptions}
        ):
            notice = f"Replayed {replayed} dead letter{'s' if replayed != '1' else ''} of {name}."
        released = request.query_params.get("released")
        if released is not None and 0 < len(released) <= 128 and released.isprintable():
            notice = f"Released dossier {released}: its events flow again, in order."
        return _html(view.page(figures, system.id, self.signer.csrf_token(session), notice))

    async def live(self, request: Request) -> Response:
        system, session = await self.operator(request)
        figures = await self.figures.gather(system)
        return _html(view.live(figures, self.signer.csrf_token(session)))

    async def login_page(self, request: Request) -> Response:
        return _html(view.login(""))

    async def login(self, request: Request) -> Response:
        fields = await self.form(request, None)
        key = fields.get("api_key", "").strip()
        try:
            system = self.bus.authenticate(key)
        except Unauthenticated:
            return _html(view.login("That API key is not valid."), 401)
        if not self.bus.is_admin(system.id):
            log.warning("console sign-in refused: %s does not hold the admin grant", system.id)
            return _html(view.login(f"{system.id} does not hold the admin grant."), 403)
        _, cookie = self.signer.issue(system.id, hash_api_key(key))
        log.info("console: %s signed in", system.id)
        response = _see(PREFIX)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=int(self.signer.ttl_s),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        try:
            _, session = await self.operator(request)
        except LienthongError:
            # the key or the grant is gone for now: the cookie is cleared, and its session revoked
            # all the same, or a copy would work again once the grant is back
            ended = self.signer.read(request.cookies.get(COOKIE))
            if ended is not None:
                await self.signer.revoke(ended)
        else:
            await self.form(request, session)
            await self.signer.revoke(session)  # a copy of the cookie ends with it
        response = _see(f"{PREFIX}/login")
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def replay(self, request: Request) -> Response:
        system, session = await self.operator(request)
        fields = await self.form(request, session)
        name = fields.get("subscription", "")
        letter = fields.get("id")
        # isdigit() alone takes "²" and other digits int() refuses
        if letter is not None and not (
            letter.isascii() and letter.isdigit() and int(letter) <= MAX_LETTER_ID
        ):
            raise NotFound(f"no dead letter '{letter[:40]}'")
        what = ReplayRequest(ids=(int(letter),)) if letter is not None else ReplayRequest(everything=True)
        letters = await self.bus.replay(system, name, what, official=CONSOLE_OFFICIAL)
        log.info(
            "console: %s replayed %d dead letters of %s: %s",
            system.id,
            len(letters),
            name,
            [d.id for d in letters],
        )
        return _see(f"{PREFIX}?{urlencode({'replayed': len(letters), 'subscription': name})}")

    async def release(self, request: Request) -> Response:
        """Releases a held portal dossier; a refusal answers as the API does (problem+json)."""
        system, session = await self.operator(request)
        fields = await self.form(request, session)
        if self.portal_release is None:
            raise NotFound("no portal connector is configured")
        done = await self.portal_release(
            system, fields.get("dossier", "").strip(), fields.get("reason", ""), CONSOLE_OFFICIAL
        )
        log.info("console: %s released dossier %s: %s", system.id, done.get("dossier"), done)
        return _see(f"{PREFIX}?{urlencode({'released': done.get('dossier', '')})}")

    async def static(self, name: str) -> Response:
        media_type = view.STATIC_FILES.get(name)
        if media_type is None:
            raise NotFound(f"no console file '{name}'")
        headers = {**SECURITY_HEADERS, "Cache-Control": "max-age=300"}
        return Response(view.static_file(name), media_type=media_type, headers=headers)


def console_router(
    bus: Bus,
    figures: FigureSources,
    secret: bytes,
    *,
    session_ttl_s: float = SESSION_TTL_S,
    portal_release: PortalRelease | None = None,
    revocations: SessionRevocations | None = None,
) -> APIRouter:
    """The console's routes, for ``create_app(routers=...)``; ``secret`` signs the sessions
    (adapters.http.console.sessions.console_secret); ``portal_release`` releases a held portal
    dossier (none without a portal connector); ``revocations`` keeps the sign-outs (default: in
    this process's memory)."""
    console = Console(bus, figures, SessionSigner(secret, session_ttl_s, revocations), portal_release)
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    router.add_api_route("", console.page, methods=["GET"])
    router.add_api_route("/live", console.live, methods=["GET"])
    router.add_api_route("/login", console.login_page, methods=["GET"])
    router.add_api_route("/login", console.login, methods=["POST"])
    router.add_api_route("/logout", console.logout, methods=["POST"])
    router.add_api_route("/replay", console.replay, methods=["POST"])
    router.add_api_route("/portal/release", console.release, methods=["POST"])
    router.add_api_route("/static/{name}", console.static, methods=["GET"])
    return router
