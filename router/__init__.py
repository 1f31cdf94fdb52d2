"""The core of lienthong: envelope, routing, filters, policy, delivery, and the ports.

Nothing here performs I/O of its own or imports a framework (FastAPI, aiokafka, httpx, zeep):
adapters implement the ports declared in :mod:`router.ports`.
"""
