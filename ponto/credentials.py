"""Recognise what an administrator pasted: a Client ID, or the deprecated single API token."""

import re

# Ponto Client IDs are canonical UUIDs (8-4-4-4-12 hexadecimal digits).
_UUID_PATTERN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


def looks_like_client_id(value):
    """Tell whether `value` is a UUID, ignoring surrounding whitespace."""
    return isinstance(value, str) and _UUID_PATTERN.fullmatch(value.strip()) is not None


def is_legacy_token(client_id, client_secret):
    """Tell whether the credentials are the deprecated single API token.

    That mode had one value and no secret: a non-empty value that is not a UUID, with an empty
    secret.
    """
    has_value = isinstance(client_id, str) and bool(client_id.strip())
    has_secret = isinstance(client_secret, str) and bool(client_secret.strip())
    return has_value and not has_secret and not looks_like_client_id(client_id)
