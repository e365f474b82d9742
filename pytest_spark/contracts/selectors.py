"""Consumer version selectors as written in spark.toml, read into Pact Broker selector objects.

A selector is one string; ``&`` joins several properties into one selector,
e.g. ``deployed&environment=production``. Flags stand alone (``mainBranch``),
values follow ``=`` (``branch=release-1.4``). The property names and meanings
are the Pact Broker's (docs.pact.io/pact_broker/advanced_topics/consumer_version_selectors).
Pure: config validation and the verifier both use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Boolean properties (written without a value).
FLAGS = {
    "mainBranch": "mainBranch",
    "matchingBranch": "matchingBranch",
    "deployedOrReleased": "deployedOrReleased",
    "deployed": "deployed",
    "released": "released",
    "latest": "latest",
}
#: Properties that take a value.
VALUES = {
    "branch": "branch",
    "fallbackBranch": "fallbackBranch",
    "tag": "tag",
    "fallbackTag": "fallbackTag",
    "environment": "environment",
    "consumer": "consumer",
}
#: pact-python's BrokerSelectorBuilder.consumer_version keyword for each property.
KEYWORDS = {
    "mainBranch": "main_branch",
    "matchingBranch": "matching_branch",
    "deployedOrReleased": "deployed_or_released",
    "deployed": "deployed",
    "released": "released",
    "latest": "latest",
    "branch": "branch",
    "fallbackBranch": "fallback_branch",
    "tag": "tag",
    "fallbackTag": "fallback_tag",
    "environment": "environment",
    "consumer": "consumer",
}


def parse_selector(text: str) -> dict[str, Any]:
    """One selector string as the broker's JSON object; ValueError naming what is wrong."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split("&")):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if name in FLAGS and not sep:
            out[FLAGS[name]] = True
        elif name in VALUES and sep and value:
            out[VALUES[name]] = value
        else:
            known = ", ".join([*FLAGS, *(f"{v}=X" for v in VALUES)])
            raise ValueError(f"{part!r} in selector {text!r} is not one of: {known}")
    return out


def parse_selectors(items: Iterable[str]) -> list[dict[str, Any]]:
    """Every configured selector, parsed (an empty list selects nothing extra)."""
    return [parse_selector(item) for item in items]


def as_keywords(selector: dict[str, Any]) -> dict[str, Any]:
    """The same selector as keyword arguments of ``BrokerSelectorBuilder.consumer_version``."""
    return {KEYWORDS[k]: v for k, v in selector.items()}
