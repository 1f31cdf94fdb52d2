"""The commands that talk to a running bus's API (``dlq``, ``reload``, ``portal release``): the
client with the operator's key, the options naming the bus and the key, and how an answer is read
(a problem printed as ``<status> <code>: <detail>``, exit 1)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

UrlOption = Annotated[str, typer.Option(help="the bus's base URL", envvar="LIENTHONG_URL")]
KeyOption = Annotated[str | None, typer.Option(help="API key", envvar="LIENTHONG_API_KEY")]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def api(url: str, key: str | None, headers: dict[str, str] | None = None) -> httpx.Client:
    if not key:
        raise fail("give the API key of an operator or of the subscribing system: --key or LIENTHONG_API_KEY")
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {key}", **(headers or {})}, timeout=30
    )


def show(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            problem = response.json()
            raise fail(f"{response.status_code} {problem.get('code')}: {problem.get('detail')}", 1)
        except ValueError:
            raise fail(f"{response.status_code}: {response.text[:500]}", 1) from None
    return response.json()
