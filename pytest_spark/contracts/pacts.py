"""Pact files: find them, read who they are between, and fingerprint them. Pure (no pact import).

A pact file is JSON (Pact specification V2..V4, github.com/pact-foundation/
pact-specification): ``consumer.name``, ``provider.name``, ``interactions``
(V4 types ``Synchronous/HTTP`` and ``Asynchronous/Messages``) or V3's
``messages``. The consumer *version* is not part of the format (a broker keeps
it); the suite records it under ``metadata["pytest-spark"]["consumerVersion"]``
and a user dropping in a pact of a consumer version in production can do the same.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HTTP, MESSAGE = "http", "message"
METADATA_KEY = "pytest-spark"
MAX_PACT_BYTES = 5 * 1024 * 1024
UNKNOWN_VERSION = "(version not recorded)"


class PactFileError(ValueError):
    """A file in the pact dir is not a readable pact (one line naming the file)."""


@dataclass(frozen=True)
class PactFile:
    """What a reviewer needs to know about one pact file."""

    path: str
    name: str
    consumer: str
    provider: str
    consumer_version: str
    kind: str  # "http" or "message"
    sha256: str
    size: int
    specification: str
    interactions: tuple[str, ...]

    @property
    def label(self) -> str:
        """``consumer version (file)``: how messages name this pact."""
        return f"{self.consumer} {self.consumer_version} ({self.name})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def interaction_kind(interaction: dict[str, Any]) -> str:
    """http or message for one interaction (V4 ``type``, else by shape)."""
    kind = str(interaction.get("type", ""))
    if kind == "Synchronous/HTTP" or (not kind and "request" in interaction):
        return HTTP
    if kind.endswith("Messages") or "contents" in interaction:
        return MESSAGE
    return kind or "unknown"


def parse_pact(raw: bytes, path: Path) -> PactFile:
    """Describe one pact file's bytes; PactFileError when it is not a pact."""
    where = path.name
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise PactFileError(f"{where}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PactFileError(f"{where}: not a pact (top level is not an object)")
    consumer = (
        (doc.get("consumer") or {}).get("name") if isinstance(doc.get("consumer"), dict) else None
    )
    provider = (
        (doc.get("provider") or {}).get("name") if isinstance(doc.get("provider"), dict) else None
    )
    if not consumer or not provider:
        raise PactFileError(f"{where}: not a pact (no consumer.name / provider.name)")
    items = doc.get("interactions")
    if items is None:
        items = doc.get("messages")
    if not isinstance(items, list) or not items:
        raise PactFileError(f"{where}: pact {consumer} -> {provider} has no interactions")
    kinds = {interaction_kind(i) for i in items if isinstance(i, dict)}
    if len(kinds) != 1 or not kinds <= {HTTP, MESSAGE}:
        raise PactFileError(f"{where}: mixes or has unknown interaction types {sorted(kinds)}")
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    ours = metadata.get(METADATA_KEY) if isinstance(metadata.get(METADATA_KEY), dict) else {}
    spec = metadata.get("pactSpecification") or metadata.get("pact-specification") or {}
    return PactFile(
        path=str(path),
        name=path.name,
        consumer=str(consumer),
        provider=str(provider),
        consumer_version=str(ours.get("consumerVersion") or UNKNOWN_VERSION),
        kind=kinds.pop(),
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        specification=str(spec.get("version", "")) if isinstance(spec, dict) else "",
        interactions=tuple(str(i.get("description", "")) for i in items if isinstance(i, dict)),
    )


def find_pacts(pact_dir: Path) -> list[PactFile]:
    """Every ``*.json`` pact directly in ``pact_dir``, sorted by name; PactFileError on a bad one.

    A broken file is an error, not skipped: a pact nobody can read is a consumer
    nobody verified.
    """
    if not pact_dir.is_dir():
        raise PactFileError(f"pact dir {pact_dir} does not exist")
    found = []
    for path in sorted(pact_dir.glob("*.json")):
        if not path.is_file():
            continue
        if path.stat().st_size > MAX_PACT_BYTES:
            raise PactFileError(f"{path.name}: larger than {MAX_PACT_BYTES} bytes")
        found.append(parse_pact(path.read_bytes(), path))
    return found
