"""The moment an event reached the bus, by the bus's own clock: a bus-only header.

A check that depends on when an event arrived (a signing certificate valid when the result reached
the bus, :mod:`adapters.signatures`) must not trust a time the producer chose. A Kafka record's
timestamp is the producer's (``CreateTime``): an agency producing into ``inbound`` directly could
back-date a result signed with a certificate that has since expired. So the router stamps every
message it routes with :data:`RECEIVED_AT_HEADER`, replacing any header of that name a producer
sent, and a sink reads the time from it (:func:`received_at`).

- On Kafka (the router checks inbound messages) the stamp is the router's clock when it consumes
  the message: the first moment the bus itself sees a message a producer may have written.
- On the embedded log only the bus's publisher writes ``inbound``, and routes as it appends
  (``Router.at_publish``): the stamp is the bus's clock at the publish.

The header has no ``ce_`` prefix, so no sink sends it on (webhooks send the ``ce_`` attributes).
"""

from __future__ import annotations

import datetime as dt

from router.ports import Headers, StoredMessage

RECEIVED_AT_HEADER = "lienthong_received_at"  # milliseconds since the epoch, decimal ASCII
_MAX_DIGITS = 16


def stamped(headers: Headers, at_ms: int) -> Headers:
    """``headers`` with :data:`RECEIVED_AT_HEADER` set to ``at_ms`` (any such header dropped)."""
    kept = tuple(h for h in headers if h[0] != RECEIVED_AT_HEADER)
    return (*kept, (RECEIVED_AT_HEADER, str(at_ms).encode("ascii")))


def received_at(message: StoredMessage) -> dt.datetime | None:
    """When the message reached the bus, by the bus's clock; None when it carries no valid stamp
    (the caller then takes its own clock, which is later still: never the producer's time)."""
    raw = message.header(RECEIVED_AT_HEADER)
    if raw is None or not raw.isdigit() or len(raw) > _MAX_DIGITS:
        return None
    return dt.datetime.fromtimestamp(int(raw) / 1000, dt.UTC)
