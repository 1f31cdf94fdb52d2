"""``lienthong config check``'s comparison of configured datasets with their providers' documents
(WSDL, OpenAPI): it loads each document (a file, or the URL on the connector's host) and reports
each operation, request element, parameter or reply pointer the document lacks at its file, line
and path. Only the check command does this: a start loads a document when it needs it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps
from connectors.generic.problems import ChecksContract
from connectors.kinds import builder
from lienthong.config.problems import Problem, config_error
from lienthong.config.settings import Settings
from lienthong.config.source import read_document
from router.providers import ProviderTimeout, ProviderUnavailable


async def check_contracts(path: Path, settings: Settings) -> list[str]:
    """Raises a ConfigError listing every mismatch between the configuration and the documents;
    returns what could not be checked (a document on a registry that did not answer)."""
    deps = ConnectorDeps(CollectorRegistry(), settings.transport.path.parent, path.parent.resolve())
    problems: list[Problem] = []
    unchecked: list[str] = []
    for index, entry in enumerate(settings.connectors):
        connector = builder(entry.kind)(entry, deps)
        try:
            if not isinstance(connector, ChecksContract):
                continue
            try:
                found = await connector.contract_problems()
            except (ProviderUnavailable, ProviderTimeout) as error:
                unchecked.append(f"connector {entry.name}: its document was not checked ({error.detail})")
                continue
            problems += [Problem(("connectors", index, "options", *p.path), p.message, p.fix) for p in found]
        finally:
            await connector.aclose()
    if problems:
        document = read_document(path)
        raise config_error(path, problems, lambda p: document.position(p.path, p.at_key))
    return unchecked
