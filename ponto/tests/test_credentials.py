"""Recognising a Client ID and the deprecated single API token."""

import pytest

from ponto.credentials import is_legacy_token, looks_like_client_id

CLIENT_ID = "6f1d5b66-3d1b-4a5e-9d0b-2f1c0b8f8a10"


@pytest.mark.parametrize(("value", "expected"), [
    (CLIENT_ID, True),
    (CLIENT_ID.upper(), True),
    (f"  {CLIENT_ID}\n", True),
    (CLIENT_ID.replace("-", ""), False),  # Not the canonical form Ponto shows.
    ("{" + CLIENT_ID + "}", False),
    (CLIENT_ID[:-1], False),
    (CLIENT_ID[:-1] + "g", False),
    (f"{CLIENT_ID}x", False),
    ("", False),
    ("   ", False),
    (None, False),
    (42, False),
])
def test_looks_like_client_id(value, expected):
    assert looks_like_client_id(value) is expected


@pytest.mark.parametrize(("client_id", "client_secret", "expected"), [
    ("a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2", "", True),  # An old dashboard API token.
    ("a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2", None, True),
    ("a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2", "  ", True),
    ("a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2", "secret", False),
    (CLIENT_ID, "", False),  # A Client ID whose secret is still to be typed.
    (f" {CLIENT_ID} ", None, False),
    (CLIENT_ID, "secret", False),
    ("", "", False),
    ("  ", "", False),
    (None, None, False),
])
def test_is_legacy_token(client_id, client_secret, expected):
    assert is_legacy_token(client_id, client_secret) is expected
