"""The release SBOM: read it, and validate it against CycloneDX 1.6 offline and fast.

Validation is cyclonedx-python-lib's ``JsonStrictValidator(SchemaVersion.V1_6)``:
its bundled schema files and a ``referencing`` registry of the bundled
sub-schemas (SPDX, JSF, cryptography defs), so nothing is fetched over the
network.

One deliberate change, for speed: the ``iri`` / ``iri-reference`` format
checks use :mod:`pytest_spark.rules.iri` instead of jsonschema's
``rfc3987-syntax`` backend (installed by the ``json-validation`` extra). That
backend builds 38 lark grammars when jsonschema is imported (measured 13-30 s
here) and then needs ~0.5 s per URL (25+ s for the reference stack's SBOM);
see python-jsonschema/jsonschema#1392. So jsonschema is imported with
``rfc3987_syntax`` blocked (only if nobody imported either yet; the block is
lifted right after), and the two IRI formats are checked by the linear-time
implementation. Every other keyword and format is checked exactly as the
library does. If the library's internals change so the swap is impossible,
the plain library call is used (slow but correct).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import DEFAULT_MAX_BYTES, MIB, ProbeError, TooLarge

__all__ = ["SbomFile", "read", "schema_document", "schema_errors"]

MAX_ERRORS = 20


@dataclass(frozen=True)
class SbomFile:
    """The SBOM as read from disk: raw bytes (for digest/attachment) and parsed JSON."""

    path: str
    raw: bytes
    doc: Any  # None when the bytes are not JSON
    json_error: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def read(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SbomFile | None:
    """The file at ``path``, or None when there is none (a missing SBOM is a finding).

    Only a regular file is read, and at most ``max_bytes`` of it: a FIFO would
    block the run and /dev/zero would fill memory. An unreadable path (a
    directory, a device, permissions) is a ProbeError (could not verify), a
    larger file a ``TooLarge``.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once, and is refused below
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProbeError(f"cannot read SBOM {p}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ProbeError(f"cannot read SBOM {p}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(max_bytes + 1)
        except OSError as exc:
            raise ProbeError(f"cannot read SBOM {p}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise TooLarge(f"SBOM {p} exceeded {max_bytes / MIB:g} MiB")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        return SbomFile(str(p), raw, None, f"not JSON: {exc}")
    return SbomFile(str(p), raw, doc)


def _fast_format_checker(base: Any) -> Any:
    """A copy of ``base`` (a jsonschema FormatChecker) with linear-time IRI checks."""
    from jsonschema import FormatChecker

    from pytest_spark.rules.iri import is_iri, is_iri_reference

    checker = FormatChecker(formats=())
    checker.checkers = dict(base.checkers)
    for name, func in (("iri", is_iri), ("iri-reference", is_iri_reference)):
        checker.checkers[name] = (_accept_non_strings(func), ())
    return checker


def _accept_non_strings(func: Any) -> Any:
    # JSON Schema formats only constrain strings; other types are the "type" keyword's job.
    def check(instance: object) -> bool:
        return func(instance) if isinstance(instance, str) else True

    return check


def _import_jsonschema_fast() -> None:
    """Import jsonschema without its rfc3987-syntax backend (13-30 s of grammar building)."""
    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        return
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import jsonschema  # noqa: F401
    finally:
        if "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None:
            del sys.modules["rfc3987_syntax"]


@lru_cache(maxsize=1)
def _validator() -> Any:
    """The library's strict 1.6 validator, with the fast IRI checks when possible."""
    _import_jsonschema_fast()
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    lib = JsonStrictValidator(SchemaVersion.V1_6)
    try:
        schema_validator = lib._validator  # the jsonschema validator the library builds
        return schema_validator.evolve(
            format_checker=_fast_format_checker(schema_validator.format_checker)
        )
    except (AttributeError, TypeError):  # pragma: no cover - library internals changed
        return lib


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"[:300]


def schema_errors(doc: Any, *, limit: int = MAX_ERRORS) -> list[str]:
    """CycloneDX 1.6 schema violations of the parsed document, ``path: message``."""
    validator = _validator()
    if hasattr(validator, "iter_errors"):
        errors: Iterable[Any] = validator.iter_errors(doc)
        found = [_describe(e) for _, e in zip(range(limit), errors, strict=False)]
    else:  # pragma: no cover - the library fallback
        result = validator.validate_str(json.dumps(doc), all_errors=True)
        found = [_describe(e.data) for _, e in zip(range(limit), result or (), strict=False)]
    return found


@lru_cache(maxsize=1)
def schema_document() -> dict[str, Any]:
    """The CycloneDX 1.6 JSON schema the library validates against (its bundled copy).

    The reference rule (``rules.sbom.reference_findings``) reads from it which
    fields define a bom-ref and which refer to one.
    """
    schema = getattr(_validator(), "schema", None)
    if isinstance(schema, dict):
        return schema
    from cyclonedx.schema import SchemaVersion  # pragma: no cover - library internals changed
    from cyclonedx.schema._res import BOM_JSON

    return json.loads(Path(str(BOM_JSON[SchemaVersion.V1_6])).read_text("utf-8"))
