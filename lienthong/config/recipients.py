"""The configuration check of released personal data: a subscription that would receive an
event type carrying personal data released to one system (its contract says
``released_personal_data``) must be that system's, restricted to the events addressed to it.

The router enforces the same at every event (router.recipients); refusing the configuration
says so at load, with the subscription's line and the fix, instead of dropping events quietly.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from lienthong.config.problems import JsonPath, Problem
from router.policy import Policy
from router.recipients import RECIPIENT, excluded
from router.subscriptions import Subscription


def recipient_problems(
    subscriptions: Sequence[Subscription], policy: Policy, released: Collection[str]
) -> list[Problem]:
    """A problem per subscription and released type it would receive without being restricted
    to its own system's events (``subscriptions`` in file order)."""
    problems: list[Problem] = []
    for i, subscription in enumerate(subscriptions):
        for event_type in sorted(released):
            if event_type in subscription.types:
                at: JsonPath = ("subscriptions", i, "types", subscription.types.index(event_type))
            elif not subscription.types and policy.may_subscribe(subscription.system, event_type):
                at = ("subscriptions", i)
            else:
                continue
            if excluded(subscription.filters, event_type, subscription.system):
                continue
            problems.append(_problem(at, subscription, event_type))
    return problems


def _problem(at: JsonPath, subscription: Subscription, event_type: str) -> Problem:
    only_mine = f"exact: {{{RECIPIENT}: {subscription.system}}}"
    message = (
        f"subscription '{subscription.name}' would receive '{event_type}', whose events carry "
        f"personal data released to one system, the one their '{RECIPIENT}' attribute names: "
        f"data released to another system would reach '{subscription.system}' and sit in this "
        "subscription's queue and dead letters"
    )
    if subscription.types:
        fix = (
            f"remove '{event_type}' from the types; if '{subscription.system}' is the system the "
            f"data is released to, keep it and add the filter {only_mine}"
        )
    else:
        fix = (
            f"list the types it needs (without '{event_type}'), or add the filter "
            f"not: {{exact: {{type: {event_type}}}}}; if '{subscription.system}' is the system "
            f"the data is released to, add the filter {only_mine} instead"
        )
    return Problem(at, message, fix)
