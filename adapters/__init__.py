"""Technology behind the ports of :mod:`router`: transports, HTTP API, sinks, metrics."""
