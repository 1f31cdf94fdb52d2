"""What both configured kinds do around a call: refuse a key without its declared form before
the call; with the reply, recognise "not found", map it to the record, and check the record
against the dataset's schema file when the configuration names one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.rest import compile_schema
from adapters.xml import XmlRejected, parse_xml
from connectors.generic.replies import NotFoundRules, map_record
from connectors.generic.spec import DatasetSpec
from router.errors import ConfigError
from router.providers import (
    DataRequest,
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderFault,
    SubjectNotFound,
)
from schemas.validation import CompiledSchema


def record_schemas(datasets: Mapping[str, DatasetSpec]) -> dict[str, CompiledSchema]:
    """The compiled schema files of the datasets that name one (a ConfigError for a file that is
    not a JSON Schema)."""
    compiled = {}
    for name, spec in datasets.items():
        if spec.schema is None:
            continue
        try:
            compiled[name] = compile_schema(json.loads(Path(spec.schema).read_text("utf-8")))
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"datasets/{name}/schema: {spec.schema} is not a JSON Schema ({type(error).__name__})"
            ) from None
    return compiled


def requested_dataset(
    datasets: Mapping[str, DatasetSpec], request: DataRequest, provider: str
) -> DatasetSpec:
    """The spec of the dataset ``request`` asks for, its key checked (:func:`check_keys`);
    InvalidProviderRequest for a dataset the connector does not provide."""
    spec = datasets.get(request.dataset)
    if spec is None:
        raise InvalidProviderRequest(f"{provider} does not provide {request.dataset}", provider=provider)
    check_keys(spec, request.key, provider)
    return spec


def check_keys(spec: DatasetSpec, key: Mapping[str, str], provider: str) -> None:
    """Refuses a key that lacks the form ``key_formats`` declares, before it reaches a request;
    the value is not quoted (it may be a person's identifier)."""
    for form in spec.key_formats:
        if not form.fits(key.get(form.key, "")):
            raise InvalidProviderRequest(
                f"{provider}: the {form.key} of a {spec.name} request is not {form.description}",
                provider=provider,
            )


def not_found_fault(rules: NotFoundRules, fault: ProviderFault) -> bool:
    """Whether a fault says "no such record": its code, its string, or the name of its detail's
    element (a SOAP fault declared in the WSDL) is one the rules list."""
    if rules.fault(fault.fault_code, fault.message):
        return True
    if not rules.faults or not fault.fault_detail:
        return False
    try:
        detail = parse_xml(fault.fault_detail.encode("utf-8"))
    except XmlRejected:
        return False
    names = {_local(e.tag) for e in detail.iter() if isinstance(e.tag, str)}
    return bool(names & rules.faults)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def record_of(
    spec: DatasetSpec, reply: Any, schema: CompiledSchema | None, provider: str, element: Any = None
) -> dict[str, Any]:
    """The dataset's record from a reply (and its XML reply ``element``, for a mapping with
    XPath) that is not "not found"; ``SubjectNotFound`` if it is."""
    if spec.not_found.reply(reply):
        raise SubjectNotFound(f"{provider} holds no record for this {spec.name} request", provider=provider)
    try:
        record = map_record(spec.reply, reply, element)
    except InvalidProviderReply as error:
        raise InvalidProviderReply(f"{provider}: {error.detail}", provider=provider) from None
    check(spec.name, record, schema, provider)
    return record


def check(dataset: str, record: Any, schema: CompiledSchema | None, provider: str) -> None:
    if schema is None or schema.is_valid(record):
        return
    # pointers and rules only: the record may be about a person
    problems = "; ".join(
        f"{e.pointer or '/'}: {e.message}" for e in schema.errors(record, "", quote=False)[:5]
    )
    raise InvalidProviderReply(
        f"{provider}: the {dataset} record does not match its schema: {problems}", provider=provider
    )
