"""DSSE envelopes signed with Ed25519: who produced a bundle, not only that it is intact.

The envelope and its signature follow the DSSE spec (secure-systems-lab/dsse,
protocol.md v1.0.0 and envelope.md): the signature is over
``PAE(payloadType, payload)`` = ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``,
never over the JSON text of the envelope, so nothing outside the payload and its
type is trusted. ``keyid`` is an unauthenticated hint only (protocol.md: "MUST NOT
be used for security decisions"); the verifier's own public key decides.

Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public), the format
``openssl genpkey -algorithm ed25519`` writes. ``cryptography`` does the Ed25519
(RFC 8032) work; this module only frames it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when used: an unsigned run never pays for loading OpenSSL
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

PAYLOAD_TYPE = "application/vnd.in-toto+json"  # in-toto's DSSE payload type (in-toto spec)
MAX_KEY_FILE = 16 * 1024  # a PEM Ed25519 key is ~120 bytes; anything larger is not a key
PEM_START = "-----BEGIN"


class SigningError(ValueError):
    """A one-line, user-facing problem with a key or an envelope."""


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding (protocol.md, "PAE")."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def keyid(public_key: Ed25519PublicKey) -> str:
    """A stable hint naming the key: sha256 of its 32 raw bytes (hex)."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(payload: bytes, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The DSSE JSON envelope of ``payload`` (an in-toto Statement) with one signature."""
    sig = private_key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [
            {"keyid": keyid(private_key.public_key()), "sig": base64.b64encode(sig).decode()}
        ],
    }


def is_envelope(doc: Any) -> bool:
    return isinstance(doc, dict) and "payloadType" in doc and "_type" not in doc


def b64decode(text: Any, what: str) -> bytes:
    """Strict base64, standard or URL-safe alphabet (protocol.md: verifiers MUST accept both),
    padded or not; non-canonical encodings are refused so no byte of an envelope is free."""
    if not isinstance(text, str):
        raise SigningError(f"{what} is not a base64 string")
    standard = text.replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SigningError(f"{what} is not valid base64") from None
    # one text per byte string: unused trailing bits set, or stray padding, is another text
    if base64.b64encode(data).decode().rstrip("=") != standard.rstrip("="):
        raise SigningError(f"{what} is not canonical base64")
    return data


def open_envelope(
    envelope: dict[str, Any], public_key: Ed25519PublicKey | None
) -> tuple[bytes, list[str]]:
    """(payload bytes, keyids that signed it) after the DSSE checks.

    With ``public_key`` the envelope must carry a signature by that key over PAE,
    else SigningError; a signature whose keyid hint names another key is not tried
    (the hint narrows, never decides). Without a key the payload is returned
    unauthenticated and the caller must say so.
    """
    if set(envelope) - {"payload", "payloadType", "signatures"}:
        extra = ", ".join(sorted(set(envelope) - {"payload", "payloadType", "signatures"}))
        raise SigningError(f"DSSE envelope has unexpected fields: {extra}")
    payload_type = envelope.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise SigningError(f"DSSE payloadType {payload_type!r} is not {PAYLOAD_TYPE!r}")
    payload = b64decode(envelope.get("payload"), "DSSE payload")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise SigningError("DSSE envelope has no signatures")
    from cryptography.exceptions import InvalidSignature

    message = pae(payload_type, payload)
    hints, valid = [], False
    wanted = keyid(public_key) if public_key is not None else ""
    for i, entry in enumerate(sigs):
        if not isinstance(entry, dict) or not isinstance(entry.get("keyid", ""), str):
            raise SigningError(f"DSSE signatures[{i}] is malformed")
        if set(entry) - {"keyid", "sig"}:
            raise SigningError(f"DSSE signatures[{i}] has unexpected fields")
        sig = b64decode(entry.get("sig"), f"DSSE signatures[{i}].sig")
        hint = entry.get("keyid", "")
        hints.append(hint)
        # protocol.md: KEYID may narrow the keys tried (never widen them)
        if public_key is not None and not valid and hint in ("", wanted):
            try:
                public_key.verify(sig, message)
                valid = True
            except InvalidSignature:
                pass
    if public_key is not None and not valid:
        raise SigningError(
            f"no signature in the DSSE envelope verifies with the given key "
            f"(keyid {keyid(public_key)[:16]}...; envelope names "
            f"{', '.join(h[:16] + '...' if h else '(none)' for h in hints)})"
        )
    return payload, ([keyid(public_key)] if public_key is not None else hints)


# ---------------------------------------------------------------- keys


def _read_key_file(path: Path, what: str) -> bytes:
    """A small regular file (no FIFO, no /dev/zero), read with a size cap."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise SigningError(f"{what} {path}: cannot open: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SigningError(f"{what} {path}: not a regular file")
        if st.st_size > MAX_KEY_FILE:
            raise SigningError(f"{what} {path}: {st.st_size} bytes is too large for a key")
        return os.read(fd, MAX_KEY_FILE + 1)
    finally:
        os.close(fd)


def load_private_key(value: str) -> Ed25519PrivateKey:
    """The signing key from a setting: a PEM file path, or PEM text (e.g. from ${ENV})."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if value.lstrip().startswith(PEM_START):
        data, where = value.encode(), "evidence.signing_key (PEM text)"
    else:
        data, where = (
            _read_key_file(Path(value).expanduser(), "signing key"),
            f"signing key {value}",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningError(
            f"{where}: not an unencrypted PEM private key "
            "(make one with `pytest-spark keygen` or `openssl genpkey -algorithm ed25519`)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{where}: is a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The verifier's trusted key: a PEM public key file (``openssl pkey -pubout``)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read_key_file(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningError(f"public key {path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"public key {path}: is a {type(key).__name__}, not an Ed25519 key")
    return key


def generate(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (private 0600, never overwriting); returns the keyid."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for path in (private_path, public_path):
        if path.exists():
            raise SigningError(f"{path} exists; refusing to overwrite a key")
    _create(private_path, private_pem, 0o600)
    _create(public_path, public_pem, 0o644)
    return keyid(key.public_key())


def _create(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
