"""The embedded transport: a durable, partitioned log with consumer groups in one SQLite file.

It is the default transport of ``lienthong serve``: no other server to run. The parts, in the order
a newcomer should read them:

- :mod:`.log`: :class:`EmbeddedLog`, the :class:`router.ports.Transport` (topics, append, lag);
- :mod:`.consumer`: :class:`EmbeddedConsumer`, a consumer-group member (fetch, commit, rewind);
- :mod:`.deadletters`: :class:`EmbeddedDeadLetters`, the dead-letter store in the same file;
- :mod:`.writer` and :mod:`.reader`: the threads that do all SQLite work off the event loop;
- :mod:`.tables`, :mod:`.codec`, :mod:`.lock`: tables, row encoding, the one-process guard.
"""

from adapters.embedded.consumer import EmbeddedConsumer
from adapters.embedded.deadletters import EmbeddedDeadLetters
from adapters.embedded.log import EmbeddedLog
from adapters.embedded.tables import Durability

__all__ = ["Durability", "EmbeddedConsumer", "EmbeddedDeadLetters", "EmbeddedLog"]
