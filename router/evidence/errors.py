"""The evidence query's own errors (the provider's are in :mod:`router.providers`)."""

from __future__ import annotations

from router.errors import Forbidden, LienthongError, NotFound


class UnknownDataset(NotFound):
    """No dataset of that name is in the catalogue."""

    code = "unknown_dataset"
    title = "No such dataset"


class InvalidEvidenceQuery(LienthongError):
    """The query lacks an identifier the dataset is keyed by, or carries one it is not."""

    code = "invalid_evidence_query"
    status = 400
    title = "The evidence query is not valid"


class OfficialRequired(LienthongError):
    """Personal data is released only to a named official (the ``X-Official-Id`` header)."""

    code = "official_required"
    status = 400
    title = "The official's id is required for personal data"


class DataRequestDenied(Forbidden):
    """No policy lets the requester have this dataset for this procedure and purpose."""

    code = "data_request_denied"
    title = "Not allowed to request this data"


class NoProvider(LienthongError):
    """The dataset's provider is not configured or does not answer the dataset."""

    code = "no_provider"
    status = 503
    title = "The dataset has no provider"
