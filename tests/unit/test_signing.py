"""DSSE framing (secure-systems-lab/dsse protocol.md v1.0.0) and Ed25519 keys."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark import signing
from pytest_spark.signing import SigningError


def test_pae_matches_the_spec_test_vector():
    # protocol.md "Test Vectors": PAE of "hello world" with type http://example.com/HelloWorld
    assert (
        signing.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters():
    assert signing.pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"
    assert signing.pae("", b"") == b"DSSEv1 0  0 "


def test_the_signature_is_ed25519_over_pae_not_over_the_envelope():
    key = Ed25519PrivateKey.generate()
    env = signing.sign(b'{"_type": "x"}', key)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert set(env) == {"payload", "payloadType", "signatures"}
    sig = base64.b64decode(env["signatures"][0]["sig"])
    key.public_key().verify(sig, b'DSSEv1 28 application/vnd.in-toto+json 14 {"_type": "x"}')
    assert env["signatures"][0]["keyid"] == signing.keyid(key.public_key())


@given(payload=st.binary(max_size=200))
def test_sign_then_open_round_trips_any_payload(payload):
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    got, keyids = signing.open_envelope(signing.sign(payload, key), key.public_key())
    assert got == payload and keyids == [signing.keyid(key.public_key())]


def test_url_safe_base64_is_accepted_as_the_spec_requires():
    key = Ed25519PrivateKey.generate()
    payload = bytes(range(256))  # base64 of this has + and /
    env = signing.sign(payload, key)
    env["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    env["signatures"][0]["sig"] = base64.urlsafe_b64encode(
        base64.b64decode(env["signatures"][0]["sig"])
    ).decode()
    assert signing.open_envelope(env, key.public_key())[0] == payload


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e.update(payloadType="application/json"), "payloadType"),
        (lambda e: e.update(payload="not base64!"), "not valid base64"),
        (lambda e: e.update(payload=7), "not a base64 string"),
        (lambda e: e.update(signatures=[]), "no signatures"),
        (lambda e: e.update(signatures="x"), "no signatures"),
        (lambda e: e.update(signatures=[{"sig": 5}]), "not a base64 string"),
        (lambda e: e.update(signatures=["x"]), "malformed"),
        (lambda e: e.update(extra=1), "unexpected fields: extra"),
        (lambda e: e.update(payload=base64.b64encode(b"other").decode()), "no signature"),
    ],
)
def test_malformed_or_wrong_envelopes_are_refused(change, message):
    key = Ed25519PrivateKey.generate()
    env = signing.sign(b"{}", key)
    change(env)
    with pytest.raises(SigningError, match=message):
        signing.open_envelope(env, key.public_key())


def test_the_keyid_hint_only_narrows_the_keys_tried():
    # protocol.md: KEYID "MUST NOT be used for security decisions"; it may narrow the keys tried
    trusted, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    env = signing.sign(b"{}", other)
    env["signatures"][0]["keyid"] = signing.keyid(trusted.public_key())
    with pytest.raises(SigningError, match="no signature"):
        signing.open_envelope(env, trusted.public_key())
    env = signing.sign(b"{}", trusted)
    del env["signatures"][0]["keyid"]
    assert signing.open_envelope(env, trusted.public_key())[0] == b"{}"
    env["signatures"][0]["keyid"] = "another key"
    with pytest.raises(SigningError, match="no signature"):
        signing.open_envelope(env, trusted.public_key())


def test_non_canonical_base64_is_refused():
    # 64 signature bytes: the last base64 quantum has 4 unused bits; setting one is another text
    assert signing.b64decode("AA==", "x") == b"\0"
    with pytest.raises(SigningError, match="not canonical"):
        signing.b64decode("AB==", "x")
    with pytest.raises(SigningError, match="not valid base64"):
        signing.b64decode("AA===", "x")


def test_one_good_signature_among_several_is_enough():
    trusted, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    env = signing.sign(b"{}", other)
    env["signatures"] += signing.sign(b"{}", trusted)["signatures"]
    assert signing.open_envelope(env, trusted.public_key())[0] == b"{}"


def test_without_a_key_the_payload_is_returned_with_the_unverified_hints():
    key = Ed25519PrivateKey.generate()
    payload, hints = signing.open_envelope(signing.sign(b"{}", key), None)
    assert payload == b"{}" and hints == [signing.keyid(key.public_key())]


def test_generate_writes_a_private_key_only_its_owner_reads(tmp_path):
    priv, pub = tmp_path / "k", tmp_path / "k.pub"
    kid = signing.generate(priv, pub)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    key = signing.load_private_key(str(priv))
    assert signing.keyid(signing.load_public_key(pub)) == kid == signing.keyid(key.public_key())
    with pytest.raises(SigningError, match="exists; refusing to overwrite"):
        signing.generate(priv, tmp_path / "other.pub")


def test_private_key_as_pem_text_from_the_environment(tmp_path):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    loaded = signing.load_private_key(pem)
    assert signing.keyid(loaded.public_key()) == signing.keyid(key.public_key())


def test_openssl_style_keys_load(tmp_path):
    # `openssl genpkey -algorithm ed25519` writes PKCS#8 PEM; `openssl pkey -pubout` SPKI PEM
    key = Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "k.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert isinstance(signing.load_public_key(tmp_path / "k.pub"), Ed25519PublicKey)
    assert isinstance(signing.load_private_key(str(tmp_path / "k.pem")), Ed25519PrivateKey)


def _ec_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "cannot open"),
        (lambda p: p.write_text("hello"), "not an unencrypted PEM private key"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: os.symlink("/dev/zero", p), "cannot open"),  # O_NOFOLLOW
        (lambda p: p.write_bytes(b"x" * 20000), "too large for a key"),
        (lambda p: p.write_bytes(_ec_pem()), "not an Ed25519 key"),
    ],
)
def test_bad_private_keys_are_one_line_errors(tmp_path, make, message):
    path = tmp_path / "key.pem"
    make(path)
    with pytest.raises(SigningError, match=message) as info:
        signing.load_private_key(str(path))
    assert "\n" not in str(info.value)


def test_a_private_key_is_not_a_public_key(tmp_path):
    signing.generate(tmp_path / "k", tmp_path / "k.pub")
    with pytest.raises(SigningError, match="not a PEM public key"):
        signing.load_public_key(tmp_path / "k")


def test_interop_with_the_reference_dsse_implementation():
    """securesystemslib (in-toto's library) verifies our envelopes, and we verify its own."""
    dsse = pytest.importorskip("securesystemslib.dsse")
    sslib_signer = pytest.importorskip("securesystemslib.signer")
    key = Ed25519PrivateKey.generate()
    sslib_key = sslib_signer.SSlibKey.from_crypto(
        key.public_key(), keyid=signing.keyid(key.public_key())
    )
    payload = b'{"_type": "https://in-toto.io/Statement/v1"}'
    ours = dsse.Envelope.from_dict(signing.sign(payload, key))
    assert ours.pae() == signing.pae(signing.PAYLOAD_TYPE, payload)
    assert list(ours.verify([sslib_key], 1)) == [signing.keyid(key.public_key())]
    theirs = dsse.Envelope(payload=payload, payload_type=signing.PAYLOAD_TYPE, signatures={})
    theirs.sign(sslib_signer.CryptoSigner(key, sslib_key))
    assert signing.open_envelope(theirs.to_dict(), key.public_key())[0] == payload
    other = Ed25519PrivateKey.generate()
    forged = dsse.Envelope.from_dict(signing.sign(payload, other))
    forged_dict = forged.to_dict()
    forged_dict["signatures"][0]["keyid"] = signing.keyid(key.public_key())
    exceptions = pytest.importorskip("securesystemslib.exceptions")
    with pytest.raises(exceptions.VerificationError, match="Found: 0, Expected 1"):
        dsse.Envelope.from_dict(forged_dict).verify([sslib_key], 1)
