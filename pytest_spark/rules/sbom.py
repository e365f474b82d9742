"""BS-09 / RT-10 rules on a parsed CycloneDX document (schema validation is the probe's job).

BS-09 asks what the SBOM *claims*: its ``metadata.component`` is the service at
the release version, and every component is identified by a valid purl (a
component without one cannot be matched against vulnerability feeds).

RT-10 asks whether that claim is *what runs*: the version and build id the
SBOM records must be the ones every API instance reports on ``/version``.
CycloneDX has no standard field for the build's commit, so the build id is read
from a ``metadata.component`` property whose name ends in ``git_sha`` /
``git-sha`` / ``commit`` / ``revision`` (the reference stack writes
``spark:git_sha``); ``build_time`` is compared the same way when present.

BS-09 also checks what the CycloneDX 1.6 schema cannot express (the spec's
own words in its ``bom-ref`` descriptions): "Every bom-ref must be unique
within the BOM", and a reference (``refLinkType``: "an element identified by
the attribute 'bom-ref' in the same BOM document") must name one.
cyclonedx-python-lib checks neither on deserialisation (its deprecated
``Bom.validate`` only checks dependency refs), so :func:`reference_findings`
walks the document *with the schema*: every value the schema types as
``refType`` under a ``bom-ref`` key is a definition, every ``refLinkType`` (and
the crypto ``*Ref`` fields typed ``refType``, and the string arrays titled
"BOM references") is a reference -- so the places are the schema's, not a
list kept here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from pytest_spark.rules.findings import FAIL, WARN, Finding, Severity
from pytest_spark.rules.identity import normalize_version, sha_matches

__all__ = [
    "SPEC_VERSION",
    "build_property",
    "format_findings",
    "iter_components",
    "purl_findings",
    "reference_findings",
    "release_findings",
    "root_component",
    "running_findings",
]

SPEC_VERSION = "1.6"

_BUILD_ID = re.compile(r"(?:^|[:._-])(?:git[_-]?sha|commit|revision)$", re.IGNORECASE)
_BUILD_TIME = re.compile(r"(?:^|[:._-])build[_-]?time$", re.IGNORECASE)
_SHOW_MAX = 5


def root_component(bom: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``metadata.component``: what the SBOM says it describes."""
    meta = bom.get("metadata")
    comp = meta.get("component") if isinstance(meta, Mapping) else None
    return comp if isinstance(comp, Mapping) else None


def iter_components(bom: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(JSON path, component) for every component, nested ones included."""
    stack: list[tuple[str, Any]] = [("components", bom.get("components"))]
    while stack:
        path, items = stack.pop(0)
        if not isinstance(items, list):
            continue
        for i, comp in enumerate(items):
            if isinstance(comp, Mapping):
                here = f"{path}[{i}]"
                yield here, comp
                stack.append((f"{here}.components", comp.get("components")))


def _parse_purl(purl: object) -> Any | None:
    """The parsed PackageURL, or None when ``purl`` is not a valid purl string."""
    if not isinstance(purl, str):
        return None
    from packageurl import PackageURL

    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None


def _purl_version(purl: object) -> str | None:
    parsed = _parse_purl(purl)
    return parsed.version if parsed is not None else None


def _label(comp: Mapping[str, Any]) -> str:
    return f"{comp.get('name', '?')}@{comp.get('version', '?')}"


def format_findings(bom: Mapping[str, Any]) -> list[Finding]:
    """The document declares itself CycloneDX 1.6 (the schema it is validated against)."""
    out: list[Finding] = []
    if bom.get("bomFormat") != "CycloneDX":
        out.append(
            Finding(
                "sbom-not-cyclonedx", f"SBOM bomFormat is {bom.get('bomFormat')!r}, not CycloneDX"
            )
        )
    if bom.get("specVersion") != SPEC_VERSION:
        out.append(
            Finding(
                "sbom-spec-version",
                f"SBOM specVersion is {bom.get('specVersion')!r}, expected {SPEC_VERSION!r}",
            )
        )
    return out


def release_findings(bom: Mapping[str, Any], *, service: str, version: str) -> list[Finding]:
    """BS-09: metadata.component names ``service`` at the release ``version``."""
    root = root_component(bom)
    want = normalize_version(version)
    if root is None:
        return [Finding("sbom-no-metadata-component", "SBOM has no metadata.component")]
    out: list[Finding] = []
    name, got = root.get("name"), root.get("version")
    if name != service:
        out.append(
            Finding(
                "sbom-wrong-service",
                f"SBOM metadata.component.name is {name!r}, expected release.service {service!r}",
            )
        )
    if not isinstance(got, str) or normalize_version(got) != want:
        out.append(
            Finding(
                "sbom-wrong-version",
                f"SBOM metadata.component.version is {got!r}, expected release {want!r}",
            )
        )
    purl_version = _purl_version(root.get("purl"))
    if root.get("purl") is not None and purl_version is not None and purl_version != got:
        out.append(
            Finding(
                "sbom-root-purl-version",
                f"SBOM metadata.component.purl {root.get('purl')} disagrees with version {got!r}",
            )
        )
    return out


def purl_findings(bom: Mapping[str, Any]) -> list[Finding]:
    """BS-09: there are components, and each carries a parsable purl."""
    comps = list(iter_components(bom))
    if not comps:
        return [Finding("sbom-no-components", "SBOM lists no components")]
    missing: list[str] = []
    invalid: list[str] = []
    drift: list[str] = []
    for path, comp in comps:
        purl = comp.get("purl")
        if purl in (None, ""):
            missing.append(f"{_label(comp)} ({path})")
            continue
        parsed = _parse_purl(purl)
        if parsed is None:
            invalid.append(f"{_label(comp)}: {purl!r}")
        elif parsed.version is not None and comp.get("version") not in (None, parsed.version):
            drift.append(f"{_label(comp)}: {purl}")
    out: list[Finding] = []
    groups: tuple[tuple[str, list[str], str, Severity], ...] = (
        ("sbom-component-without-purl", missing, "carry no purl", FAIL),
        ("sbom-component-invalid-purl", invalid, "carry an invalid purl", FAIL),
        ("sbom-purl-version-drift", drift, "have a purl version unlike their version", WARN),
    )
    for code, items, what, severity in groups:
        if items:
            shown = ", ".join(items[:_SHOW_MAX]) + (" ..." if len(items) > _SHOW_MAX else "")
            message = f"{len(items)} of {len(comps)} SBOM components {what}: {shown}"
            out.append(Finding(code, message, severity))
    return out


def build_property(bom: Mapping[str, Any], kind: str = "id") -> tuple[str, str] | None:
    """(property name, value) of the build id (``kind="id"``) or build time recorded."""
    root = root_component(bom)
    props = root.get("properties") if root is not None else None
    pattern = _BUILD_ID if kind == "id" else _BUILD_TIME
    for prop in props if isinstance(props, list) else []:
        if not isinstance(prop, Mapping):
            continue
        name, value = prop.get("name"), prop.get("value")
        if isinstance(name, str) and isinstance(value, str) and pattern.search(name):
            return name, value
    return None


def running_findings(bom: Mapping[str, Any], instances: Mapping[str, Any]) -> list[Finding]:
    """RT-10: what the SBOM records about the build equals what each instance reports.

    ``instances`` maps base URL -> ``/version`` document.
    """
    root = root_component(bom)
    if root is None:
        return [Finding("sbom-no-metadata-component", "SBOM has no metadata.component")]
    out: list[Finding] = []
    sbom_version = root.get("version")
    bom_ref = root.get("bom-ref")
    ref_version = (
        bom_ref.rpartition("@")[2] if isinstance(bom_ref, str) and "@" in bom_ref else None
    )
    purl_version = _purl_version(root.get("purl"))
    build = build_property(bom, "id")
    built_at = build_property(bom, "time")
    if build is None:
        out.append(
            Finding(
                "sbom-no-build-id",
                "SBOM metadata.component records no build id (a git_sha/commit/revision "
                "property), so it cannot be tied to the running build",
            )
        )
    for url, doc in instances.items():
        if not isinstance(doc, Mapping):
            out.append(Finding("version-not-object", f"{url}/version is not a JSON object"))
            continue
        running = doc.get("version")
        run_v = normalize_version(running) if isinstance(running, str) else None
        for field, version_in_it, shown in (
            ("version", sbom_version, sbom_version),
            ("bom-ref", ref_version, bom_ref),
            ("purl", purl_version, root.get("purl")),
        ):
            if field != "version" and version_in_it is None:
                continue  # that field does not carry a version
            if not isinstance(version_in_it, str) or normalize_version(version_in_it) != run_v:
                out.append(
                    Finding(
                        "sbom-version-not-running",
                        f"SBOM metadata.component.{field} is {shown!r} but {url} runs version "
                        f"{running!r}",
                    )
                )
        sha = doc.get("git_sha")
        if build is not None and not (isinstance(sha, str) and sha_matches(build[1], sha)):
            out.append(
                Finding(
                    "sbom-build-not-running",
                    f"SBOM build id {build[0]}={build[1]} but {url} runs git_sha {sha!r}",
                )
            )
        running_time = doc.get("build_time")
        if built_at is not None and isinstance(running_time, str) and built_at[1] != running_time:
            out.append(
                Finding(
                    "sbom-build-time-not-running",
                    f"SBOM {built_at[0]}={built_at[1]} but {url} reports build_time {running_time}",
                )
            )
    return out


# ---------------------------------------------------------------------------
# bom-ref uniqueness and references (CycloneDX 1.6, beyond the JSON schema)
# ---------------------------------------------------------------------------

_DEFS = "#/definitions/"
_BOM_LINK = re.compile(
    r"urn:cdx:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/([1-9][0-9]*)#(.+)\Z"
)


def _path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _walk_refs(
    schema: Mapping[str, Any],
    node: Any,
    value: Any,
    where: tuple[str | int, ...],
    found: dict[tuple[str | int, ...], tuple[str, str]],
    depth: int = 0,
) -> None:
    """Record (kind, value) by path: kind "def" (a bom-ref) or "ref" (a reference to one)."""
    if depth > 64 or not isinstance(node, Mapping):
        return
    target = node.get("$ref")
    if isinstance(target, str) and target.startswith(_DEFS):
        name = target[len(_DEFS) :]
        if name == "bomLinkElementType" and isinstance(value, str):
            if value.startswith("urn:cdx:"):  # else another anyOf branch (a URL) applies
                found.setdefault(where, ("ref", value))
            return
        if name in ("refType", "refLinkType") and isinstance(value, str):
            is_def = name == "refType" and where and where[-1] == "bom-ref"
            found.setdefault(where, ("def" if is_def else "ref", value))
            return
        _walk_refs(schema, schema["definitions"].get(name), value, where, found, depth + 1)
    if node.get("title") == "BOM references" and isinstance(value, list):
        # compositions.dependencies / .vulnerabilities: "the bom-ref identifiers of ...",
        # typed as plain strings by the schema
        for i, item in enumerate(value):
            if isinstance(item, str):
                found.setdefault((*where, i), ("ref", item))
        return
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or ():
            _walk_refs(schema, sub, value, where, found, depth + 1)
    if isinstance(value, Mapping):
        props = node.get("properties") or {}
        for key, item in value.items():
            if key in props:
                _walk_refs(schema, props[key], item, (*where, key), found, depth + 1)
    elif isinstance(value, list):
        items = node.get("items")
        for i, item in enumerate(value):
            sub = items[i] if isinstance(items, list) and i < len(items) else items
            if isinstance(sub, Mapping):
                _walk_refs(schema, sub, item, (*where, i), found, depth + 1)


def _this_bom_link(bom: Mapping[str, Any], link: str) -> str | None:
    """The bom-ref a BOM-Link names when it links into *this* BOM (serial and version)."""
    m = _BOM_LINK.match(link)
    serial = str(bom.get("serialNumber") or "")
    if m and serial == f"urn:uuid:{m.group(1)}" and str(bom.get("version", 1)) == m.group(2):
        return unquote(m.group(3))
    return None


def reference_findings(bom: Mapping[str, Any], schema: Mapping[str, Any]) -> list[Finding]:
    """BS-09: bom-refs unique within the BOM, every reference names an existing one.

    ``schema``: the CycloneDX 1.6 JSON schema (the library's bundled copy),
    which says where definitions and references are. BOM-Links
    (``urn:cdx:serial/version#ref``) into this BOM are resolved; links to
    other BOMs cannot be checked here and are left alone.
    """
    found: dict[tuple[str | int, ...], tuple[str, str]] = {}
    _walk_refs(schema, schema, bom, (), found)
    defined: dict[str, list[str]] = {}
    for where, (kind, value) in found.items():
        if kind == "def":
            defined.setdefault(value, []).append(_path(where))
    out: list[Finding] = []
    dupes = {ref: paths for ref, paths in defined.items() if len(paths) > 1}
    if dupes:
        shown = "; ".join(
            f"{ref!r} at {', '.join(p)}" for ref, p in list(dupes.items())[:_SHOW_MAX]
        )
        more = " ..." if len(dupes) > _SHOW_MAX else ""
        out.append(
            Finding(
                "sbom-duplicate-bom-ref",
                f"{len(dupes)} bom-ref(s) defined more than once (CycloneDX: every bom-ref must "
                f"be unique within the BOM): {shown}{more}",
            )
        )
    dangling: list[str] = []
    for where, (kind, value) in found.items():
        if kind != "ref":
            continue
        target: str | None = value
        if value.startswith("urn:cdx:"):
            target = _this_bom_link(bom, value)
            if target is None:
                continue  # a link to another BOM document
        if target not in defined:
            dangling.append(f"{_path(where)} = {value!r}")
    if dangling:
        shown = ", ".join(dangling[:_SHOW_MAX]) + (" ..." if len(dangling) > _SHOW_MAX else "")
        out.append(
            Finding(
                "sbom-dangling-reference",
                f"{len(dangling)} reference(s) name no bom-ref in this BOM: {shown}",
            )
        )
    links = sorted(p for ref, paths in defined.items() if ref.startswith("urn:cdx:") for p in paths)
    if links:
        out.append(
            Finding(
                "sbom-bom-ref-looks-like-bom-link",
                f"bom-ref at {', '.join(links[:_SHOW_MAX])} starts with 'urn:cdx:' (CycloneDX: "
                "SHOULD not, it reads as a BOM-Link)",
                WARN,
            )
        )
    return out
