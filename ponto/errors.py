"""Typed errors of the Ponto client.

Every error carries what is known of the failed call (`code`, `detail`, `request_id`, `status`)
and reads as a sentence fit for a user; no error ever holds a secret or a token.
"""


class PontoError(Exception):
    """Base class: a Ponto call failed."""

    default_detail = "The call to Ponto failed."

    def __init__(self, detail=None, *, code=None, request_id=None, status=None):
        self.detail = detail or self.default_detail
        self.code = code
        self.request_id = request_id
        self.status = status
        super().__init__(self.detail)

    def __str__(self):
        context = [
            label % value
            for label, value in (
                ("code %s", self.code), ("HTTP %s", self.status), ("request id %s", self.request_id)
            )
            if value is not None
        ]
        return f"{self.detail} ({', '.join(context)})" if context else self.detail


class PontoCredentialsError(PontoError):
    """The Client ID/Secret are refused, or the access token is refused even after renewal."""

    default_detail = "Ponto refused the Client ID and Secret: credentials revoked or invalid."


class PontoAuthorizationError(PontoError):
    """The bank consent (authorization) of an account is invalid or expired."""

    default_detail = (
        "The bank authorization of this account is invalid or expired: "
        "reauthorize the account in Ponto."
    )


class PontoNotFound(PontoError):
    """The resource does not exist (any more) for this integration."""

    default_detail = "Ponto could not find the requested resource."


class PontoRateLimited(PontoError):
    """Too many requests; `retry_after` (seconds) is Ponto's advice, when it gave one."""

    default_detail = "Ponto is rate limiting the requests; try again later."

    def __init__(self, detail=None, *, retry_after=None, **kwargs):
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class PontoRecentlySynchronized(PontoError):
    """A synchronization of this kind was created too recently for the account."""

    default_detail = "This account was synchronized recently; Ponto refuses a new synchronization."


class PontoServerError(PontoError):
    """Ponto answered with a server error (5xx)."""

    default_detail = "Ponto is unavailable (server error); try again later."


class PontoConnectionError(PontoError):
    """Ponto could not be reached, did not answer in time, or the answer broke off."""

    default_detail = "Could not connect to Ponto."


class PontoMalformedResponse(PontoError):
    """The answer is not JSON or not of the expected shape; `field` names the bad field."""

    default_detail = "Ponto sent a response that could not be understood."

    def __init__(self, detail=None, *, field=None, **kwargs):
        super().__init__(detail, **kwargs)
        self.field = field


class PontoRequestError(PontoError):
    """Ponto refused the request (any other 4xx, e.g. a validation error)."""

    default_detail = "Ponto refused the request."


# The errors the client's retry loop may retry: they are transient.
RETRYABLE_ERRORS = (PontoRateLimited, PontoServerError, PontoConnectionError)
