"""lowkey's domain errors and their mapping to RFC 9457 problem+json responses.

Handlers raise these; one place turns them (and Litestar's own errors, and a lost
database) into `application/problem+json`. Handlers never build error responses.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.types import ExceptionHandlersMap

from shared.http.field_errors import BODY, describe, describe_msgspec

log = logging.getLogger("lowkey.http")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 5


class LowkeyError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers


class BadRequest(LowkeyError):
    status_code, title = 400, "Bad request"


class Unauthorized(LowkeyError):
    status_code, title = 401, "Unauthorized"

    def __init__(self, detail: str = "a valid Authorization: Bearer key is required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(LowkeyError):
    status_code, title = 403, "Forbidden"


class NotFound(LowkeyError):
    status_code, title = 404, "Not found"


class Conflict(LowkeyError):
    status_code, title = 409, "Conflict"


class Invalid(LowkeyError):
    """422: names each field and why."""

    status_code, title = 422, "Invalid input"

    @classmethod
    def field(cls, field: str, reason: str) -> Invalid:
        return cls(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


class TooManyRequests(LowkeyError):
    status_code, title = 429, "Too many requests"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"rate limit reached; retry in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


class Unavailable(LowkeyError):
    status_code, title = 503, "Service unavailable"

    def __init__(self, detail: str = "a backing service is unavailable; retry shortly") -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_S)})


def _problem(
    status: int,
    title: str,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status, title=title, detail=detail, extra=extra, headers=headers
    )


def lowkey_error_to_problem(exc: LowkeyError) -> ProblemDetailsException:
    extra = {"errors": exc.errors} if exc.errors else None
    return _problem(exc.status_code, exc.title, exc.detail, extra=extra, headers=exc.headers)


def _data_type(request: Request[Any, Any, Any]) -> Any:
    """The handler's body type, to resolve an error's path in (None when unknown)."""
    try:
        field = request.route_handler.parsed_data_field
    except (KeyError, AttributeError):
        return None
    return None if field is None else field.annotation


def _wire_parameter(request: Request[Any, Any, Any], key: str) -> str:
    """A handler parameter's name on the wire (`from_` is sent as `from`)."""
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    except (KeyError, AttributeError):
        return key
    kwarg = getattr(parameter, "kwarg_definition", None)
    return getattr(kwarg, "query", None) or getattr(kwarg, "name", None) or key


def invalid(errors: list[dict[str, str]]) -> ProblemDetailsException:
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid input"
    return _problem(422, "Invalid input", detail, extra={"errors": errors} if errors else None)


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's own validation (query, path and header parameters): 422 naming each one."""
    errors: list[dict[str, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "")
        message = str(item.get("message", "is not valid"))
        field, reason = describe(message, [])
        if key and item.get("source") != "body":
            field = _wire_parameter(request, key)
        elif key:
            field, reason = describe_msgspec(f"{message} - at `$.{key}`", _data_type(request))
        errors.append({"field": field, "reason": reason})
    if not errors:
        errors.append({"field": BODY, "reason": exc.detail or "is not valid"})
    return invalid(errors).to_response(request)


def msgspec_validation_handler(
    request: Request[Any, Any, Any], exc: msgspec.ValidationError
) -> Response[Any]:
    field, reason = describe_msgspec(str(exc), _data_type(request))
    return invalid([{"field": field, "reason": reason}]).to_response(request)


# Handlers that need the request (the route's body type, its parameters' wire names).
VALIDATION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: validation_handler,
    msgspec.ValidationError: msgspec_validation_handler,
}


def http_to_problem(exc: HTTPException) -> ProblemDetailsException:
    return _problem(exc.status_code, exc.detail or "Error", exc.detail or "", headers=exc.headers)


def database_down_to_problem(exc: Exception) -> ProblemDetailsException:
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return _problem(
        503,
        "Service unavailable",
        "the database is unavailable; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


DATABASE_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,  # in flight when the server was stopped
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,  # every process reconnecting at once after a restart
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    # Connection refused, timeouts, and a unix socket that is gone while the server is down.
    OSError,
)


# Two transactions that crossed: PostgreSQL rolled one back whole, so the request can be
# sent again as it was (an Idempotency-Key is released on a 5xx).
CONCURRENT_CONFLICT: tuple[type[Exception], ...] = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.LockNotAvailableError,
)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, DATABASE_DOWN):
        return database_down_to_problem(exc).to_response(request)
    if isinstance(exc, asyncpg.DataError) and isinstance(exc.__cause__, OverflowError):
        # An id past bigint's range in a path: no row can have it.
        return _problem(404, "Not found", "no such resource").to_response(request)
    if isinstance(exc, CONCURRENT_CONFLICT):
        log.warning("write rolled back by a concurrent change", extra={"error": type(exc).__name__})
        return _problem(
            503,
            "Service unavailable",
            "a concurrent change got in the way and nothing was saved; retry",
            headers={"Retry-After": "1"},
        ).to_response(request)
    log.exception("unhandled error", extra={"path_template": request.scope.get("path_template")})
    return _problem(500, "Internal error", "something went wrong on our side").to_response(request)


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            enable_for_all_http_exceptions=False,
            exception_to_problem_detail_map={
                LowkeyError: lowkey_error_to_problem,
                HTTPException: http_to_problem,
            },
        )
    )
