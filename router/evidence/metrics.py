"""What the evidence broker reports (``adapters.evidence_metrics`` puts it on Prometheus)."""

from __future__ import annotations

from typing import Protocol


class EvidenceMetrics(Protocol):
    def request(self, dataset: str, provider: str, outcome: str) -> None:
        """One query answered; ``outcome`` is ``released`` or an error code."""
        ...

    def provider_latency(self, provider: str, seconds: float) -> None: ...

    def cache(self, dataset: str, hit: bool) -> None: ...

    def fields(self, procedure: str, how: str, count: int) -> None:
        """Fields of a collected dossier: ``how`` is ``auto`` (filled by the bus) or ``asked``
        (left for the applicant to provide)."""
        ...


class NoEvidenceMetrics:
    def request(self, dataset: str, provider: str, outcome: str) -> None:
        pass

    def provider_latency(self, provider: str, seconds: float) -> None:
        pass

    def cache(self, dataset: str, hit: bool) -> None:
        pass

    def fields(self, procedure: str, how: str, count: int) -> None:
        pass
