"""The JSON API under /api/v1/ (django-ninja): a member's keys for scripts, with a personal access token.

It calls the services the pages call: the same refusals (the form's codes), key states, audit (the
origin is marked `api token "<name>"`), submission rate and emails. The token stands in for the
password-again rule. Authentication is `Authorization: Bearer <token>` only: a browser session opens
nothing here, so the API needs no CSRF token. Errors are {"error": {"code", "message", "field"}}; a 401
never says what was wrong with a token. A registration NSML has not confirmed yet answers 202 (the key
is `pending`), a revocation NSML has not confirmed yet answers 202 (the key is `revoking`).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
from datetime import UTC, date, datetime
from http import HTTPStatus

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.utils.log import log_response
from django.utils.translation import gettext, gettext_noop, ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from ninja import Field, NinjaAPI, Query, Schema
from ninja import Status as Answer
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaError
from ninja.openapi.docs import Swagger
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from keys import member_messages, selectors, services
from keys.audit import Origin
from keys.models import ApiToken, RegisteredKey
from keys.ratelimit import SubmissionQuota
from keys.services import tokens
from keys.sshkeys import PRIVATE_KEY_MESSAGE, holds_private_key
from nsml.client import Failure
from nsml.titles import MAX_TITLE_LENGTH, TITLE_PATTERN

logger = logging.getLogger("keys.api")

MAX_BODY_BYTES = 64 * 1024
# NSML busy or away and not saying for how long: the minute the member's message names.
BUSY_RETRY_AFTER_SECONDS = 60
Status = RegisteredKey.Status
# The key list's page when the client names none: a member's list is rarely longer (a few keys each, rotated by
# hand), so a client that knows nothing of pages reads the whole list as before; a script that rotates keys daily
# and keeps every failed and revoked row gets pages, and a Link to the next.
KEYS_PAGE_SIZE = 100
KEYS_PAGE_MAX = 500


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


class UpstreamError(ApiError):
    """NSML did not do what was asked (`upstream_error`); the client is told why, and to try again when it may."""


class BodyTooLarge(Exception):
    pass


class RefusedBody(Exception):
    """A body the parser read and refuses; `sent` is all it held, the values a repeated name dropped included,
    so a private key anywhere in it is refused as one."""

    def __init__(self, sent: list) -> None:
        super().__init__()
        self.sent = sent


class NotAnObject(RefusedBody):
    pass


class RepeatedField(RefusedBody):
    def __init__(self, name: str | None, sent: list) -> None:
        super().__init__(sent)
        self.name = name


class LimitedParser(Parser):
    """JSON objects of at most 64 KiB (the gate refuses a declared larger one before anything is read).

    Anything else is refused here: ninja would read the fields of a string or a list as attributes of it
    (`"abc def".title`, a method, as the title). So is a name sent twice: json keeps the last one without a word,
    so `{"key": <private key>, "key": <public key>}` registered the public key and never said a private one came."""

    def parse_body(self, request: HttpRequest):
        if len(request.body) > MAX_BODY_BYTES:
            raise BodyTooLarge
        repeated: list[tuple[str, dict]] = []  # each name sent twice, and the object it was sent twice in
        dropped: list = []

        def keep_every_pair(pairs: list[tuple[str, object]]) -> dict:
            read: dict = {}
            for name, value in pairs:
                if name in read:
                    repeated.append((name, read))
                    dropped.append(read[name])
                read[name] = value
            return read

        body = json.loads(request.body, object_pairs_hook=keep_every_pair)
        if not isinstance(body, dict):
            raise NotAnObject([body])
        if repeated:
            # A field is named only when the body's own object repeats it, not an object sent inside a field.
            field = next((name for name, place in repeated if place is body), None)
            raise RepeatedField(field, [body, *dropped])
        return body


def holds_a_private_key(sent) -> bool:
    """Whether any text in a parsed JSON body, its names included, at any depth, holds a private key. A loop, not
    recursion: the body is at most 64 KiB, but may be nested as deep as json reads."""
    pending = [sent]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if holds_private_key(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


class TokenAuth(HttpBearer):
    """The gate of every API call: a usable token in `Authorization: Bearer`, and a body the API will read."""

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        # Not HttpBearer's own: it logs a header with another scheme, which may hold a secret.
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = tokens.find_token(token)
        if found is None:
            return None
        # The services and the rate limit act for request.user: the token's user, whatever cookie came along.
        request.user = request._cached_user = found.user  # _cached_user: the log lines name them (jsonlog)
        request.api_token = found
        tokens.note_use(found, origin=Origin.from_request(request))  # after: its first use's line names the user
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_BODY_BYTES:
            raise body_too_large()
        return found


class PortalSwagger(Swagger):
    """ninja's Swagger page, always from the portal's own static files: ninja falls back to a CDN when
    "ninja" is not an installed app (it is not: the API loads lazily), and the portal's CSP allows no CDN."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        # add_csrf: no, bearer tokens only (TokenAuth); a browser session opens nothing here.
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api, "add_csrf": False}
        return render(request, self.template, context)


def _read_only(view):
    """The schema and its docs page change nothing: another method is the 405 that names GET and HEAD, not
    CSRF's 403 for a POST without a cookie (there is nothing to forge)."""
    return csrf_exempt(require_safe(view))


class PortalAPI(NinjaAPI):
    """The schema in the reader's language: its texts are marked with gettext_noop where they are written, and
    translated here, at each request for it (ninja builds the schema per request)."""

    def get_openapi_schema(self, **kwargs):
        # A copy: the schema holds the texts of openapi_extra (NEXT_PAGE_HEADER) by reference, and translating them in
        # place left the Link header's description in the first reader's language for everyone after.
        schema = copy.deepcopy(super().get_openapi_schema(**kwargs))
        schema["info"]["title"] = gettext(schema["info"]["title"])
        _say_when_to_retry(schema)
        _translate_texts(schema)
        return schema


RETRY_AFTER_HEADER = {
    "description": gettext_noop("Seconds to wait before trying again: the wait the message names."),
    "schema": {"type": "integer", "minimum": 1},
    "required": True,
}


def _say_when_to_retry(schema: dict) -> None:
    """Every 429 and 503 carries Retry-After (the rate limit, NSML busy or away, the portal's own outage): a client
    generated from the schema can read it without looking for it."""
    for item in schema["paths"].values():
        for operation in item.values():
            for status, answer in operation["responses"].items():
                if str(status) in ("429", "503"):  # ninja's keys are numbers until the schema is JSON
                    answer.setdefault("headers", {})["Retry-After"] = dict(RETRY_AFTER_HEADER)


def _translate_texts(node, *, status: str = "") -> None:
    """Every summary and description: the texts written for people. Not an answer's HTTP reason phrase ("Created",
    ninja's description of a 201), which would take a page's word of the same spelling; nor property titles,
    pydantic's spelling of the JSON's field names ("Expires At")."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name in ("summary", "description") and isinstance(value, str):
                if not (status.isdigit() and value == HTTPStatus(int(status)).phrase):
                    node[name] = gettext(value)
            else:
                _translate_texts(value, status=str(name))
    elif isinstance(node, list):
        for item in node:
            _translate_texts(item)


api = PortalAPI(
    title=gettext_noop("NSML Key Portal API"),
    version="1",
    description=gettext_noop(
        "Register and revoke your SSH public keys with CLOVA NSML from scripts. Authenticate with a personal "
        "access token from the portal's Access tokens page: `Authorization: Bearer <token>`. Errors are "
        '`{"error": {"code", "message", "field"}}`.'
    ),
    urls_namespace="api",
    auth=TokenAuth(),
    parser=LimitedParser(),
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs=PortalSwagger(),
    docs_decorator=_read_only,
)


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None  # always sent; null when the error is not about one field


class ErrorOut(Schema):
    error: ErrorDetail


def _described(schema: dict) -> None:
    """Say in the schema that title and key must be sent, and NSML's rules for a title. Their defaults ("") and
    the rules checked in the view, not by pydantic, let a breach be refused with the form's code
    (title_required, title_characters, malformed) and words, rather than with pydantic's."""
    schema["required"] = ["title", "key"]
    for name in schema["required"]:
        schema["properties"][name].pop("default", None)
    schema["properties"]["title"].update(minLength=1, maxLength=MAX_TITLE_LENGTH, pattern=TITLE_PATTERN)
    schema["properties"]["key"].update(minLength=1)


DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
NOT_A_DAY = "not_a_day"  # the type of a pydantic error on_schema_error words for the member
# An unknown field is named back only when it reads as a field's name: any other text a client put there
# (a private key, a token's secret) is never echoed.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}", re.ASCII)


class KeyIn(Schema):
    # extra="forbid": a misspelt field ("expires" for expires_at) would otherwise be dropped without a word,
    # and the key registered with the default lifetime the script meant to shorten.
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: _described(schema))

    title: str = ""
    key: str = ""
    expires_at: date | None = Field(
        None,
        description=gettext_noop(
            "The last day the key works, in the portal's time zone: a date, YYYY-MM-DD, with no time. "
            "Without it, the portal's default lifetime."
        ),
        examples=["2026-12-01"],
    )

    @field_validator("expires_at", mode="before")
    @classmethod
    def _a_day_only(cls, value):
        """A date written YYYY-MM-DD and nothing else: pydantic would take a time at midnight, or a Unix time
        that falls on one, as a day, and a script sending a moment would believe its time was kept."""
        if value is None:
            return None
        if isinstance(value, str) and DAY.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise PydanticCustomError(NOT_A_DAY, "not a date written YYYY-MM-DD")


class KeyOut(Schema):
    id: int
    title: str
    key_type: str
    bits: int | None
    comment: str
    fingerprint_sha256: str
    fingerprint_md5: str
    status: str = Field(json_schema_extra={"enum": Status.values})
    created_at: datetime
    expires_at: datetime | None  # always sent; null when the key never expires


def _not_null(schema: dict) -> None:
    """An optional query parameter is left out, never sent as null: the schema says integer, not integer or null."""
    schema.update(next(each for each in schema.pop("anyOf") if each.get("type") != "null"))


# The key list's query parameters. A value out of bounds is refused (422, query_problem), never clamped: a script
# that asked for 1,000 keys is told, rather than reading 500 as all there are. A comment, not a docstring: pydantic
# would publish a docstring in the OpenAPI document, and the image's python -OO drops it (test_image_interpreter).
class KeyListQuery(Schema):
    status: list[Status] = Field(
        [], description=gettext_noop("Only keys in this state; repeat it for several: ?status=active&status=pending.")
    )
    limit: int = Field(
        KEYS_PAGE_SIZE,
        ge=1,
        le=KEYS_PAGE_MAX,
        description=gettext_noop("How many keys a page holds, 1 to 500; 100 when not sent."),
    )
    before: int | None = Field(
        None,
        ge=1,
        json_schema_extra=lambda schema: _not_null(schema),
        description=gettext_noop(
            "The id of one of your keys: the page starts with the key listed after it. The Link header's next page "
            "sets it to the last key of a page."
        ),
    )


def errors(*statuses: int) -> dict:
    """The error answers an operation can give, for its schema: every call can be refused as unreadable (400: a
    NUL character, portal/bad_requests.py), a token (401), a body sent in chunks (411, portal/bad_requests.py) or
    a declared body over 64 KiB (413), and answered 503 while the database or the cache is away
    (portal/outages.py); a generated client should not be told a list can be a 409 or a 502."""
    return {status: ErrorOut for status in sorted({400, 401, 411, 413, 503, *statuses})}


def _origin(request: HttpRequest) -> Origin:
    return Origin.from_request(request).via_api(request.api_token.name)


def _utc(moment: datetime | None) -> datetime | None:
    """Every time the API answers is in UTC: a new key's expiry is computed in the portal's time zone, and
    would otherwise read +09:00 in the answer to its POST and Z in every later GET."""
    return moment.astimezone(UTC) if moment is not None else None


def _out(key: RegisteredKey) -> dict:
    return {
        "id": key.pk,
        "title": key.title,
        "key_type": key.key_type,
        "bits": key.bits,
        "comment": key.comment,
        "fingerprint_sha256": key.fingerprint_sha256,
        "fingerprint_md5": key.fingerprint_md5,
        "status": key.status,
        "created_at": _utc(key.created_at),
        "expires_at": _utc(key.expires_at),
    }


def _own_key(request: HttpRequest, key_id: int) -> RegisteredKey:
    return get_object_or_404(selectors.keys_of(request.user), pk=key_id)


def read(path: str, *, response: dict, **options):
    """A GET operation that answers HEAD too, as Django's own views do: the same auth, status and headers, and
    the server (gunicorn, runserver) sends no body. HEAD stays out of the schema, where it would repeat GET's
    operationId."""

    def register(view):
        api.api_operation(["HEAD"], path, response=response, include_in_schema=False)(view)
        return api.get(path, response=response, **options)(view)

    return register


NEXT_PAGE_HEADER = {
    "description": gettext_noop(
        'The next page, when more keys follow: <URL>; rel="next" (RFC 8288), the same call with before set to the '
        "last key of this page. Absent on the last page."
    ),
    "schema": {"type": "string"},
}


def _next_page(request: HttpRequest, statuses: list[str], limit: int, last: RegisteredKey) -> str:
    """The Link header's value: this call's filter and page size, after the page's last key. Built from what the call
    read, not the query string as sent, so nothing else a client put in the URL is repeated."""
    query = QueryDict(mutable=True)
    query.setlist("status", statuses)
    query["limit"] = str(limit)
    query["before"] = str(last.pk)
    return f'<{request.build_absolute_uri(f"{request.path}?{query.urlencode()}")}>; rel="next"'


@read(
    "/keys",
    response={200: list[KeyOut], **errors(422)},
    summary=gettext_noop("List your keys"),
    description=gettext_noop(
        "Your keys, newest first, in every state (pending, active, failed, revoking, revoked), or in those named by "
        "status; a page at a time, the next page's address in the Link header."
    ),
    openapi_extra={"responses": {200: {"headers": {"Link": NEXT_PAGE_HEADER}}}},
)
def list_keys(request: HttpRequest, response: HttpResponse, query: Query[KeyListQuery]):
    # A misspelt filter (?statuses=active) would otherwise list every key, and a script acting on the list would
    # act on all of them: refused, as a body's unknown field is.
    if unknown := next((name for name in request.GET if name not in KeyListQuery.model_fields), None):
        message = gettext("The key list takes no such parameter: it takes status, limit and before.")
        raise ApiError(422, "unknown_field", message, _as_named(unknown))
    statuses = list(dict.fromkeys(Status(each).value for each in query.status))
    limit, position = query.limit, None
    if query.before is not None:
        position = selectors.key_position(request.user, query.before)
        if position is None:
            raise ApiError(422, "invalid", query_problem("before"), "before")
    keys, more = selectors.page_of_keys(request.user, statuses=statuses, before=position, limit=limit)
    if more:
        response["Link"] = _next_page(request, statuses, limit, keys[-1])
    return [_out(key) for key in keys]


@api.post(
    "/keys",
    response={201: KeyOut, 202: KeyOut, **errors(400, 422, 429, 502, 503)},
    summary=gettext_noop("Register a key"),
    description=gettext_noop(
        "Register a public key (the contents of a .pub file) under a title. 201 when NSML registered it (its "
        "`status` is what it is now: `active`, or `revoking`/`revoked` when a revocation reached it before NSML's "
        "answer); 202 when NSML's answer is not known yet (status `pending`; the portal keeps checking by itself)."
    ),
    openapi_extra={"responses": {202: {"description": gettext_noop("NSML has not confirmed yet: the key is pending")}}},
)
def create_key(request: HttpRequest, payload: KeyIn):
    try:
        key = services.register_key(
            owner=request.user,
            title=payload.title,
            key_text=payload.key,
            origin=_origin(request),
            expires_on=payload.expires_at,
            quota=SubmissionQuota(request, origin=_origin(request)),
        )
    except services.SubmissionLimited as limited:
        retry_after = limited.retry_after
        message = ngettext(
            "Too many submissions. Nothing was sent to NSML; try again in %(seconds)d second.",
            "Too many submissions. Nothing was sent to NSML; try again in %(seconds)d seconds.",
            retry_after,
        )
        raise ApiError(
            429, "rate_limited", message % {"seconds": retry_after}, headers={"Retry-After": retry_after}
        ) from None
    except ValidationError as refusal:
        field, errors = next(iter(refusal.error_dict.items()))
        error = errors[0]
        message = error.message % error.params if error.params else error.message
        raise ApiError(422, error.code or "invalid", str(message), field) from None
    except services.RegistrationFailed as failure:
        raise upstream_error(failure) from None
    return Answer(202 if key.status == Status.PENDING else 201, _out(key))


@read("/keys/{int:key_id}", response={200: KeyOut, **errors(404)}, summary=gettext_noop("Show one of your keys"))
def get_key(request: HttpRequest, key_id: int):
    return _out(_own_key(request, key_id))


@api.delete(
    "/keys/{int:key_id}",
    response={200: KeyOut, 202: KeyOut, **errors(404, 409, 422, 502, 503)},
    summary=gettext_noop("Revoke one of your keys"),
    description=gettext_noop(
        "Revoke a key in NSML. 200 once NSML confirms it is gone (or it was revoked already); 202 while the "
        "outcome is being settled (status `revoking`). A key that is not active or revoked cannot be revoked (409)."
    ),
    openapi_extra={
        "responses": {202: {"description": gettext_noop("NSML has not confirmed yet: the key is revoking")}}
    },
)
def revoke_key(request: HttpRequest, key_id: int):
    key = _own_key(request, key_id)
    if key.status == Status.ACTIVE:
        try:
            services.revoke_key(key=key, actor=request.user, origin=_origin(request))
        except services.RevocationFailed as failure:
            raise upstream_error(failure) from None
    elif key.status not in (Status.REVOKED, Status.REVOKING):
        raise ApiError(409, "not_active", member_messages.not_revocable(key))
    return Answer(200 if key.status == Status.REVOKED else 202, _out(key))


def upstream_error(failure: services.UpstreamFailed) -> UpstreamError:
    """NSML did not do it: 422 when it refused, 503 when busy or away, 502 otherwise.

    A 503 says when to try again, as a client's retry reads it (Retry-After): as NSML said it, rounded up,
    or else in the minute the message names."""
    status = {Failure.REJECTED: 422, Failure.THROTTLED: 503, Failure.UNAVAILABLE: 503}.get(failure.failure, 502)
    headers = {}
    if status == 503:
        advised = failure.retry_after
        headers["Retry-After"] = BUSY_RETRY_AFTER_SECONDS if advised is None else max(1, math.ceil(advised))
    return UpstreamError(status, f"nsml_{failure.failure}", failure.message, failure.field, headers=headers)


def body_too_large() -> ApiError:
    message = gettext("The request body is larger than %(kib)d KiB.") % {"kib": MAX_BODY_BYTES // 1024}
    return ApiError(413, "too_large", message)


def error_response(request: HttpRequest, error: ApiError) -> HttpResponse:
    body = {"error": {"code": error.code, "message": error.message, "field": error.field}}
    response = api.create_response(request, body, status=error.status)
    for name, value in error.headers.items():
        response[name] = str(value)
    if isinstance(error, UpstreamError) and error.status >= 500:
        # NSML's failure, which the client was told of: a WARNING, not the ERROR Django logs a 5xx at, which pages an
        # operator. The audit row of it holds NSML's answer; a portal bug's 500 stays an ERROR with its traceback.
        log_response(
            "%s: %s (%s)",
            response.reason_phrase,
            request.path,
            error.code,
            response=response,
            request=request,
            level="warning",
        )
    return response


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return error_response(request, error)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    message = gettext("Send a valid access token: Authorization: Bearer <token>.")
    response = error_response(request, ApiError(401, "unauthorized", message))
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return error_response(request, ApiError(404, "not_found", gettext("There is no such key among yours.")))


def private_key_sent() -> ApiError:
    return ApiError(422, "private_key", gettext(PRIVATE_KEY_MESSAGE))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    cause = error.__cause__
    if isinstance(cause, BodyTooLarge):
        return error_response(request, body_too_large())
    if isinstance(cause, RefusedBody) and holds_a_private_key(cause.sent):
        return error_response(request, private_key_sent())
    if isinstance(cause, NotAnObject):
        message = gettext("The request body must be one JSON object, with the fields title and key.")
        return error_response(request, ApiError(422, "invalid", message))
    if isinstance(cause, RepeatedField):
        message = gettext("A field is sent more than once in the request body: send each field once.")
        return error_response(request, ApiError(422, "invalid", message, _as_named(cause.name)))
    if error.status_code == 400:
        message = gettext("The request body is not valid JSON.")
        return error_response(request, ApiError(400, "malformed_json", message))
    return error_response(request, ApiError(error.status_code, "error", str(error)))


def unknown_field(name: str | None) -> ApiError:
    """A field the call does not take, named back when it reads as a name (a private key in it, or in its value,
    was refused as one before: on_schema_error)."""
    message = gettext("This call takes no such field: send title and key, and expires_at if you want.")
    return ApiError(422, "unknown_field", message, _as_named(name))


def _as_named(name: str | None) -> str | None:
    """A field or parameter a client sent, to name back: only when it reads as a name, never a secret."""
    return name if name and FIELD_NAME.fullmatch(name) and not tokens.holds_token_secret(name) else None


def query_problem(name: str) -> str:
    """What the key list's query parameter `name` takes, in the reader's language; never the value sent."""
    if name == "status":
        return gettext("status must be one of: %(states)s.") % {"states": ", ".join(Status.values)}
    if name == "limit":
        return gettext("limit must be a whole number from 1 to %(most)d.") % {"most": KEYS_PAGE_MAX}
    return gettext(
        "before must be the id of one of your keys: the last key of the page before, as the Link header gives it."
    )


@api.exception_handler(SchemaError)
def on_schema_error(request: HttpRequest, error: SchemaError) -> HttpResponse:
    about_the_body = any(tuple(each.get("loc", ()))[:1] == ("body",) for each in error.errors)
    if about_the_body and not request.body:
        # ninja reads no body as no fields at all, which pydantic would call a missing payload.
        message = gettext("The request body is empty: send one JSON object, with the fields title and key.")
        return error_response(request, ApiError(400, "malformed_json", message))
    # The body LimitedParser read (an object of at most 64 KiB), read again: ninja's errors keep no values.
    if about_the_body and holds_a_private_key(json.loads(request.body)):
        # Before any other rule, as the form does: a private key in a field of the wrong type (the key file's lines as
        # a list), in a field the call does not take, or beside another field's mistake is refused as one.
        return error_response(request, private_key_sent())
    # Pydantic's own errors quote the input, which may be a private key: only the place is told.
    first = error.errors[0] if error.errors else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "payload", "path", "query")]
    field = location[0] if location else None
    if tuple(first.get("loc", ()))[:1] == ("query",) and field in ("status", "limit", "before"):
        return error_response(request, ApiError(422, "invalid", query_problem(field), field))
    if first.get("type") == "extra_forbidden":
        return error_response(request, unknown_field(field))
    if first.get("type") == NOT_A_DAY:
        message = gettext("%(field)s must be a date written YYYY-MM-DD, with no time.") % {"field": field}
    elif field:
        message = gettext("This field has the wrong type or format.")
    else:
        message = gettext("The request is not valid.")
    return error_response(request, ApiError(422, "invalid", message, field))
