"""The Kafka transport: the bus on an Apache Kafka cluster, through aiokafka.

- :mod:`.options`: :class:`KafkaOptions`, bootstrap servers, security (SASL/TLS), sizes;
- :mod:`.transport`: :class:`KafkaTransport`, the :class:`router.ports.Transport` (append, lag);
- :mod:`.consumer`: :class:`KafkaConsumer`, a consumer-group member (fetch, commit, rewind);
- :mod:`.topics`: the topic layout and topic creation.

Dead letters: a Kafka bus keeps its dead letters in the embedded SQLite store
(:class:`adapters.embedded.EmbeddedDeadLetters`, in the file named by ``transport.path``), one per
process: listing and replay go through the process that dead-lettered the event.
"""

from adapters.kafka.consumer import KafkaConsumer
from adapters.kafka.options import KafkaOptions, KafkaSecurity
from adapters.kafka.transport import KafkaTransport

__all__ = ["KafkaConsumer", "KafkaOptions", "KafkaSecurity", "KafkaTransport"]
