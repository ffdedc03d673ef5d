"""The PHI keyring: AES-256-GCM under named keys, bound to the column it was written for."""

import base64

import pytest

from app.core.crypto import DecryptionError, Keyring

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()
CONTEXT = "patients.ssn"


def keyring(spec: str = f"new:{KEY_A}") -> Keyring:
    return Keyring.parse(spec)


def payload_of(stored: str) -> bytes:
    return base64.b64decode(stored.split(":", 2)[2])


def with_payload(stored: str, raw: bytes) -> str:
    version, key_id, _ = stored.split(":", 2)
    return f"{version}:{key_id}:{base64.b64encode(raw).decode()}"


@pytest.mark.parametrize(
    "plaintext", ["123-45-6789", "", "Penicillin; ibuprofen 200 mg", "é ✓ 日本"]
)
def test_round_trip(plaintext):
    ring = keyring()
    assert ring.decrypt(ring.encrypt(plaintext, context=CONTEXT), context=CONTEXT) == plaintext


def test_ciphertext_names_version_and_primary_key_and_hides_the_plaintext():
    stored = keyring().encrypt("123-45-6789", context=CONTEXT)
    assert stored.startswith("v1:new:")
    assert "123-45-6789" not in stored
    # 12-byte nonce, 11 bytes of ciphertext, 16-byte tag.
    assert len(payload_of(stored)) == 12 + 11 + 16


def test_each_encryption_uses_a_fresh_nonce():
    ring = keyring()
    values = {ring.encrypt("123-45-6789", context=CONTEXT) for _ in range(20)}
    assert len(values) == 20
    assert len({payload_of(value)[:12] for value in values}) == 20


def test_a_value_does_not_decrypt_under_another_context():
    ring = keyring()
    stored = ring.encrypt("123-45-6789", context="patients.ssn")
    with pytest.raises(DecryptionError):
        ring.decrypt(stored, context="patients.allergies_and_medication")


@pytest.mark.parametrize("position", [0, 11, 12, 20, -1])
def test_a_tampered_byte_is_refused(position):
    ring = keyring()
    stored = ring.encrypt("123-45-6789", context=CONTEXT)
    raw = bytearray(payload_of(stored))
    raw[position] ^= 0x01
    with pytest.raises(DecryptionError):
        ring.decrypt(with_payload(stored, bytes(raw)), context=CONTEXT)


def test_a_truncated_value_is_refused():
    ring = keyring()
    stored = ring.encrypt("123-45-6789", context=CONTEXT)
    with pytest.raises(DecryptionError):
        ring.decrypt(with_payload(stored, payload_of(stored)[:-1]), context=CONTEXT)


@pytest.mark.parametrize(
    "stored",
    [
        "v1:new:not base64!",
        "v1:new:",
        "v1:new:AAAAAAAA",
        "",
        "plain text",
        "v2:new:AAAA",
    ],
)
def test_malformed_values_are_refused(stored):
    with pytest.raises(DecryptionError):
        keyring().decrypt(stored, context=CONTEXT)


def test_a_value_under_an_unknown_key_id_is_refused():
    stored = Keyring.parse(f"gone:{KEY_B}").encrypt("123-45-6789", context=CONTEXT)
    with pytest.raises(DecryptionError, match="gone"):
        keyring().decrypt(stored, context=CONTEXT)


def test_a_value_relabelled_with_another_configured_key_id_is_refused():
    ring = Keyring.parse(f"new:{KEY_A},old:{KEY_B}")
    stored = ring.encrypt("123-45-6789", context=CONTEXT)
    relabelled = stored.replace("v1:new:", "v1:old:", 1)
    with pytest.raises(DecryptionError):
        ring.decrypt(relabelled, context=CONTEXT)


def test_several_keys_new_writes_use_the_first_and_old_values_still_decrypt():
    old_ring = Keyring.parse(f"old:{KEY_B}")
    old_value = old_ring.encrypt("123-45-6789", context=CONTEXT)

    ring = Keyring.parse(f"new:{KEY_A},old:{KEY_B}")
    assert ring.primary_id == "new"
    new_value = ring.encrypt("987-65-4321", context=CONTEXT)
    assert new_value.startswith("v1:new:")
    assert ring.decrypt(old_value, context=CONTEXT) == "123-45-6789"
    assert ring.decrypt(new_value, context=CONTEXT) == "987-65-4321"
    # The old key alone cannot read what the new key wrote.
    with pytest.raises(DecryptionError):
        old_ring.decrypt(new_value, context=CONTEXT)


def test_needs_rotation():
    old_value = Keyring.parse(f"old:{KEY_B}").encrypt("x", context=CONTEXT)
    ring = Keyring.parse(f"new:{KEY_A},old:{KEY_B}")
    assert ring.needs_rotation(old_value)
    assert not ring.needs_rotation(ring.encrypt("x", context=CONTEXT))


def test_parse_accepts_spaces_and_a_trailing_comma():
    ring = Keyring.parse(f" new:{KEY_A} , old:{KEY_B} ,")
    assert ring.primary_id == "new"
    old_value = Keyring.parse(f"old:{KEY_B}").encrypt("x", context=CONTEXT)
    assert ring.decrypt(old_value, context=CONTEXT) == "x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("k1:not*base64", "base64 of 32 bytes"),
        ("k1:" + base64.b64encode(b"k" * 16).decode(), "32 bytes"),
        ("k1:" + base64.b64encode(b"k" * 33).decode(), "32 bytes"),
        ("k1:", "32 bytes"),
        ("", "at least one encryption key"),
        (" , ,", "at least one encryption key"),
        ("k-1:" + KEY_A, "alphanumeric"),
        ("k_1:" + KEY_A, "alphanumeric"),
        (":" + KEY_A, "alphanumeric"),
        (KEY_A, "alphanumeric"),
    ],
)
def test_parse_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        Keyring.parse(spec)


def test_parse_errors_do_not_quote_the_key():
    secret = base64.b64encode(b"s" * 16).decode()
    with pytest.raises(ValueError, match="32 bytes") as error:
        Keyring.parse(f"k1:{secret}")
    assert secret not in str(error.value)


def test_a_key_without_an_id_is_not_quoted_in_the_error():
    with pytest.raises(ValueError, match="alphanumeric") as error:
        Keyring.parse(KEY_A)
    assert KEY_A not in str(error.value)
