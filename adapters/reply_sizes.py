"""The sizes of the replies providers send during a block of code (``lienthong datasets try``
reports the raw reply's size next to the mapped record). The SOAP and REST adapters note each
reply body they read; outside :func:`measured` that costs one context variable lookup."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_sizes: ContextVar[list[int] | None] = ContextVar("provider_reply_sizes", default=None)


def note(size: int) -> None:
    """A reply of ``size`` bytes was read (kept only inside :func:`measured`)."""
    sizes = _sizes.get()
    if sizes is not None:
        sizes.append(size)


@contextmanager
def measured() -> Iterator[list[int]]:
    """The sizes of the replies read in the block, and in the tasks it starts, in order."""
    sizes: list[int] = []
    token = _sizes.set(sizes)
    try:
        yield sizes
    finally:
        _sizes.reset(token)
