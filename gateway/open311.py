"""Open311 GeoReport v2 under /open311/v2, over the matters service (JSON and XML, the standard's errors)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qsl
from uuid import UUID
from xml.sax.saxutils import escape

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway import apikeys
from gateway.proxy import Answer, upstream
from gateway.ratelimit import key_bucket
from youmin.kit.auth import mint_token
from youmin.kit.errors import DomainError, storable_instant
from youmin.kit.names import masked_free_text
from youmin.kit.pii import MaskingRules, redact_text

XML = "application/xml"
RAISED_VIA = "open311"
# A search answers at most this many requests, newest first; without dates, those of the last DEFAULT_DAYS days.
MAX_REQUESTS, DEFAULT_DAYS, PAGE = 1000, 90, 500
# What a new request's description loses before it is stored: the reporter's name and e-mail (and the ID and phone
# numbers free-text masking always finds), not the clauses the public read removes.
CONTACT_ONLY = MaskingRules(text_addresses=False, text_health=False, text_minors=False)

# One service_code per matter category (services/matters/rules/routing.py Category), with its Chinese name.
SERVICES: dict[str, tuple[str, str, str]] = {
    "city_management": ("城市管理", "市容、占道、违章搭建等城市管理问题", "城市运行"),
    "social_governance": ("社会治理", "社区治理与矛盾化解相关事项", "社会事务"),
    "land_expropriation": ("土地征收", "土地征收、补偿安置相关事项", "城市运行"),
    "public_order": ("社会治安", "治安隐患、安全防范相关事项", "平安建设"),
    "city_campaigns": ("城市创建", "文明城市、卫生城市等创建工作", "城市运行"),
    "property_management": ("物业管理", "物业服务、公共设施维护", "居住环境"),
    "old_estate_renovation": ("老旧小区改造", "老旧小区改造需求与进度", "居住环境"),
    "environmental_sanitation": ("环境卫生", "垃圾清运、环境卫生", "居住环境"),
    "public_safety": ("公共安全", "消防、燃气、房屋等公共安全隐患", "平安建设"),
    "community_planning": ("社区发展规划", "社区发展规划与公共空间", "社会事务"),
}
# The matters service's field names and the GeoReport v2 fields they come from.
STANDARD_FIELDS = {"unit_code": "address_id", "latitude": "lat", "longitude": "long", "category": "service_code"}
# What a request's status_notes say of the move into its current status (services/matters/rules/lifecycle.py Action):
# a fixed phrase per move, and per reason code (services/matters/schemas.py ReasonCode) when the move gave one. Never
# staff's own words (a transition's `reason`): these reads take no key, and a name no cue word stands beside
# ("已联系王建国，下周维修") passes the masking. `place` keeps the status and is passed over, as are side notes
# (flags changed, a covenant filed, a meeting demanded), which are no change of status.
MOVE_NOTES: dict[str, str] = {
    "accept": "已受理",
    "reject": "不予受理",
    "merge": "已与相同事项合并办理",
    "route": "已确定议事渠道",
    "start_deliberation": "议事协商中",
    "start_decision": "表决中",
    "decide": "已议定",
    "fail_decision": "表决未通过",
    "cancel_decision": "表决已取消，待重新安排",
    "start_implementation": "实施中",
    "start_evaluation": "待居民评价",
    "close": "已办结",
    "reopen": "评价未通过，重新办理",
    "withdraw": "提出人已撤回",
}
REASON_NOTES: dict[str, str] = {
    "duplicate": "与已有事项重复",
    "out_of_scope": "不属于社区议事范围",
    "insufficient_information": "信息不足，可补充后重新提出",
    "unlawful": "违反法律法规或公序良俗",
    "already_resolved": "受理前已解决",
    "no_longer_needed": "需求已不存在",
    "resident_request": "应居民要求",
    "rework": "需重新办理",
    "other": "其他原因",
}
# The gateway's own answers when the matters service did not answer in time (504) or the connection failed (502):
# the request may have been carried out all the same.
UPSTREAM_LOST = frozenset({502, 504})
CLOSED_STATUSES = frozenset({"closed", "completed", "concluded", "rated", "archived", "rejected", "withdrawn", "done",
                             "resolved", "evaluated"})


class Format(StrEnum):
    json = "json"
    xml = "xml"


class Open311Error(Exception):
    """An error rendered in the standard's format: [{"code": ..., "description": ...}]."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def _fmt_of(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


# Characters XML 1.0 does not allow, even escaped (control characters other than tab and line breaks, lone
# surrogates, U+FFFE and U+FFFF): one in a pasted description would make the whole listing unreadable to its client.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(_NOT_XML.sub("\ufffd", str(value)))


def to_xml(root: str, item: str, rows: list[dict[str, Any]]) -> str:
    """Renders a list of flat records the way GeoReport v2 XML does."""
    out = ['<?xml version="1.0" encoding="utf-8"?>', f"<{root}>"]
    for row in rows:
        out.append(f"<{item}>")
        for key, value in row.items():
            if isinstance(value, list):
                out.append(f"<{key}>" + "".join(f"<{key[:-1] or key}>{_xml_value(v)}</{key[:-1] or key}>" for v in value)
                           + f"</{key}>")
            else:
                out.append(f"<{key}>{_xml_value(value)}</{key}>")
        out.append(f"</{item}>")
    out.append(f"</{root}>")
    return "".join(out)


def render(fmt: str, root: str, item: str, rows: list[dict[str, Any]], status: int = 200) -> Response:
    """Answers in JSON or XML."""
    if fmt == "xml":
        return Response(to_xml(root, item, rows), status_code=status, media_type=XML)
    return Response(json.dumps(rows, ensure_ascii=False, default=str), status_code=status, media_type="application/json")


def error_response(fmt: str, status: int, description: str) -> Response:
    """Renders an error in the standard's format."""
    return render(fmt, "errors", "error", [{"code": status, "description": description}], status)


class Open311Route(APIRoute):
    """Turns every error of an Open311 route into the standard's error format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            fmt = _fmt_of(request)
            try:
                return await handler(request)
            except Open311Error as exc:
                response = error_response(fmt, exc.status, exc.description)
                if exc.retry_after is not None:
                    response.headers["Retry-After"] = str(exc.retry_after)
                return response
            except RequestValidationError as exc:
                reasons = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('query', 'path', 'body'))}: {e.get('msg')}"
                    for e in exc.errors())
                return error_response(fmt, 404 if _bad_format(exc) else 400, reasons or "invalid request")
            except DomainError as exc:
                return error_response(fmt, exc.status, exc.detail)

        return wrapped


def _bad_format(exc: RequestValidationError) -> bool:
    return any(tuple(e.get("loc", ()))[-1:] == ("fmt",) for e in exc.errors())


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)

ERRORS = {
    400: {"description": "Bad request (standard error list)", "model": list[dict[str, Any]]},
    403: {"description": "Invalid api_key (standard error list)"},
    404: {"description": "Not found (standard error list)"},
}


def _xml_alt() -> dict:
    return {"content": {XML: {"schema": {"type": "string"}}}}


# ---- service discovery ----------------------------------------------------------------------

class ServiceInfo(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]]


def _services() -> list[dict[str, Any]]:
    return [ServiceInfo(service_code=code, service_name=name, description=desc, metadata=False, type="realtime",
                        keywords=name, group=group).model_dump() for code, (name, desc, group) in SERVICES.items()]


FmtPath = Annotated[Format, Path(description="json or xml")]


@router.get("/services.{fmt}", response_model=list[ServiceInfo], responses={200: _xml_alt(), **ERRORS})
async def services(fmt: FmtPath) -> Response:
    """Lists the request types: one service_code per matter category."""
    return render(fmt, "services", "service", _services())


@router.get("/services/{service_code}.{fmt}", response_model=ServiceDefinition, responses={200: _xml_alt(), **ERRORS})
async def service_definition(service_code: Annotated[str, Path(max_length=64)], fmt: FmtPath) -> Response:
    """Describes a request type; matters need no extra attributes."""
    if service_code not in SERVICES:
        raise Open311Error(404, f"service_code {service_code} not found")
    if fmt == "xml":
        body = ('<?xml version="1.0" encoding="utf-8"?><service_definition>'
                f"<service_code>{escape(service_code)}</service_code><attributes></attributes></service_definition>")
        return Response(body, media_type=XML)
    return Response(json.dumps({"service_code": service_code, "attributes": []}), media_type="application/json")


# ---- requests -------------------------------------------------------------------------------

class NewRequest(BaseModel):
    """POST requests: the standard's form fields (contact details are accepted, never forwarded)."""

    model_config = ConfigDict(extra="ignore")

    api_key: str = Field(min_length=1, max_length=200)
    service_code: str = Field(min_length=1, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, min_length=1, max_length=500)
    address_id: str | None = Field(default=None, pattern=r"^[0-9]{12,24}$", description="An org unit code (community or below)")
    description: str = Field(min_length=1, max_length=4000)
    email: str | None = Field(default=None, max_length=200)
    device_id: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    media_url: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _location(self) -> NewRequest:
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name}: must not contain NUL characters")
        if not self.description.strip():
            raise ValueError("description: must say what the request is about")
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long must be given together")
        if self.lat is None and not self.address_string and not self.address_id:
            raise ValueError("a location is required: lat and long, address_string or address_id")
        return self


NEW_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["api_key", "service_code", "description"],
    "properties": {name: {k: v for k, v in prop.items() if k in ("type", "anyOf", "minLength", "maxLength", "minimum",
                                                                 "maximum", "pattern", "description")}
                   for name, prop in NewRequest.model_json_schema()["properties"].items()},
}


class RequestCreated(BaseModel):
    service_request_id: str
    token: str
    service_notice: str
    account_id: str | None = None


class ServiceRequest(BaseModel):
    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str | None
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class TokenAnswer(BaseModel):
    service_request_id: str | None
    token: str


def _service_headers(request: Request, sub: str = "gateway:open311", department: str | None = None) -> dict[str, str]:
    settings = request.app.state.settings
    if department:
        token = mint_token(settings, f"department:{department}", [], kind="department", department=department, minutes=5)
    else:
        token = mint_token(settings, sub, [], kind="service", minutes=5)
    return {"authorization": f"Bearer {token}", "accept": "application/json", "content-type": "application/json"}


async def _matters(request: Request, method: str, path: str, *, headers: dict[str, str], body: dict | None = None,
                   params: list[tuple[str, str]] | None = None) -> Any:
    return _read(await _call(request, method, path, headers=headers, body=body, params=params))


async def _call(request: Request, method: str, path: str, *, headers: dict[str, str], body: dict | None = None,
                params: list[tuple[str, str]] | None = None) -> Answer | Response:
    return await upstream(request, "matters", method, path, headers=headers,
                          content=json.dumps(body).encode() if body is not None else None, params=params)


def _read(answer: Answer | Response) -> Any:
    """The matters service's JSON answer, or its refusal or absence as the standard's error."""
    if isinstance(answer, Response):
        raise Open311Error(answer.status_code, "the matters service is unavailable")
    if answer.status_code == 404:
        raise Open311Error(404, "not found")
    if answer.status_code in (400, 409, 422):
        try:
            found = answer.json()
            detail, field = str(found.get("detail") or "invalid request"), found.get("field")
        except (ValueError, AttributeError):
            detail, field = "invalid request", None
        # The matters service names its own fields; a GeoReport client knows the standard's names.
        if field in STANDARD_FIELDS and detail.startswith(f"{field}:"):
            detail = STANDARD_FIELDS[field] + detail[len(field):]
        raise Open311Error(400, detail)
    if answer.status_code in (401, 403):
        raise Open311Error(403, "the request was refused")
    if not answer.is_success:
        raise Open311Error(502, f"the matters service answered {answer.status_code}")
    try:
        return answer.json()
    except ValueError:
        raise Open311Error(502, "the matters service answered with invalid JSON") from None


def _iso(value: Any) -> str | None:
    return value if isinstance(value, str) else (value.isoformat() if isinstance(value, datetime) else None)


def _status_notes(m: dict[str, Any]) -> str | None:
    """The move into the request's current status in fixed words (with its reason code's), when the matter's timeline
    is at hand (one request read), else the stage it waits in; never staff's own words (see MOVE_NOTES)."""
    timeline = m.get("timeline")
    moves = [t for t in timeline if isinstance(t, dict) and isinstance(t.get("action"), str)
             and t["action"] in MOVE_NOTES] if isinstance(timeline, list) else []
    if moves and moves[-1].get("to_state") == m.get("state"):
        last = moves[-1]
        reason_code = last.get("reason_code")
        reason = REASON_NOTES.get(reason_code) if isinstance(reason_code, str) else None
        return f"{MOVE_NOTES[last['action']]}：{reason}" if reason else MOVE_NOTES[last["action"]]
    notes = m.get("status_notes") or (m.get("stage") or {}).get("title") or m.get("state")
    return notes if isinstance(notes, str) else None


def to_service_request(m: dict[str, Any]) -> dict[str, Any]:
    """Maps a matter to a GeoReport request, keeping only what may be public (no address, no contact)."""
    status = str(m.get("status") or "")
    closed = status == "closed" or status in CLOSED_STATUSES
    code = m.get("category")
    # The reads take no key: a request's own words are shown only for a request that came in by this API (its
    # reporter's contact details were stripped as it came). A resident's words in the app, or staff's at a meeting,
    # are theirs and the community's, not the world's; a name no cue word stands beside would pass the masking.
    description = (m.get("description") if isinstance(m.get("description"), str) else m.get("title")) \
        if m.get("raised_via") == "open311" else None
    return ServiceRequest(
        service_request_id=str(m.get("matter_id") or m.get("id")),
        status="closed" if closed else "open",
        status_notes=_status_notes(m),
        service_name=SERVICES.get(code, (None,))[0] if isinstance(code, str) else None,
        service_code=code if isinstance(code, str) else None,
        description=masked_free_text(description) if isinstance(description, str) else None,
        agency_responsible=m.get("agency_responsible") or m.get("department_code") or m.get("community_code"),
        service_notice=None,
        requested_datetime=_iso(m.get("raised_at") or m.get("created_at")),
        updated_datetime=_iso(m.get("state_entered_at") or m.get("updated_at")),
        expected_datetime=_iso(m.get("due_at") or m.get("expected_at")),
        address=None,
        address_id=m.get("unit_code") if isinstance(m.get("unit_code"), str) else None,
        zipcode=None,
        lat=m.get("latitude") if isinstance(m.get("latitude"), (int, float)) else None,
        long=m.get("longitude") if isinstance(m.get("longitude"), (int, float)) else None,
        media_url=None,
    ).model_dump()


async def _read_form(request: Request) -> dict[str, Any]:
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            data = json.loads(raw or b"{}")
            if not isinstance(data, dict):
                raise Open311Error(400, "the body must be an object of request fields")
            return data
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=False))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise Open311Error(400, "the body could not be parsed") from None


@router.post(
    "/requests.{fmt}", status_code=201, response_model=list[RequestCreated], responses={201: _xml_alt(), **ERRORS},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": NEW_REQUEST_SCHEMA},
    }}},
)
async def create_request(fmt: FmtPath, request: Request) -> Response:
    """Raises a matter on behalf of a resident (needs a department's api_key).

    address_id places it at an org unit. A location alone (lat/long or address_string) is placed by the matters
    service at the department's community, or, for a department bound to several, for triage at the street or
    district that covers them all; the location itself is kept with the matter but never published."""
    form = await _read_form(request)
    try:
        new = NewRequest.model_validate(form)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise Open311Error(400, reasons) from None
    if new.service_code not in SERVICES:
        raise Open311Error(400, f"service_code {new.service_code} is not a known service")
    async with request.app.state.sessions() as session:
        department = await apikeys.verify_key(session, new.api_key)
    if department is None:
        raise Open311Error(403, "the api_key is invalid or revoked")
    settings = request.app.state.settings
    if settings.rate_limit_enabled:
        # The key comes in the form body, which the gateway's guard does not read: the key's bucket is taken here, as
        # the guard takes it for a key given in a header or the query.
        hit = request.app.state.rate_limiter.check([("key", key_bucket(new.api_key))])
        if hit:
            raise Open311Error(429, f"the key's rate limit is exhausted; retry in {hit[1]} s", retry_after=hit[1])
    request.state.department = department
    token = secrets.token_urlsafe(16)
    # Contact details (name, e-mail, phone, device) are dropped here: they never reach the matters service or the bus.
    # Reporters often repeat their name or e-mail in the description, which the public GET shows and which has no name
    # to look for later: those are masked now. The rest (the place of the problem, phone numbers) stays for the staff
    # handling it; the public read masks it as it masks every description.
    given = [n.strip() for n in (new.last_name, new.first_name) if n and n.strip()]
    names = ["".join(given)] if given else []
    if given and all(n.isascii() for n in given):
        names += [" ".join(given), " ".join(reversed(given)), "".join(reversed(given))]  # "Wang Wei", "Wei Wang"
    description = redact_text(new.description, CONTACT_ONLY, known_names=[n for n in names if len(n) > 1])
    name = SERVICES[new.service_code][0]
    body: dict[str, Any] = {"title": f"{name}：{description[:60]}"[:200], "category": new.service_code,
                            "description": description, "raised_via": RAISED_VIA, "external_token": token}
    if new.address_id:
        body["unit_code"] = new.address_id
    if new.lat is not None:
        body |= {"latitude": new.lat, "longitude": new.long}
    if new.address_string:
        body["address_string"] = new.address_string
    headers = _service_headers(request, department=department)
    answer = await _call(request, "POST", "/api/v1/matters/", headers=headers, body=body)
    if answer.status_code in UPSTREAM_LOST:
        # The matters service may have raised the matter and answered after the gateway gave up on it (or the
        # connection broke after the request went): the client never learns the token, and its retry would raise the
        # matter a second time. The token the gateway gave it finds it; then the POST answers for that matter.
        answer = await _raised_by_token(request, token, headers) or answer
        if answer.status_code in UPSTREAM_LOST:
            # Not raised yet as far as can be told: the matters service may still commit it (it commits just before
            # it answers). The client asks for it by the token rather than posting the request again.
            raise Open311Error(answer.status_code, f"the matters service did not answer; the request may still be "
                               f"accepted under token {token}: ask GET /open311/v2/tokens/{token}.{fmt} before "
                               "sending it again")
    created = _read(answer)
    matter_id = str(created.get("matter_id") or created.get("id"))
    row = RequestCreated(service_request_id=matter_id, token=token,
                         service_notice="已受理，将按社区议事流程办理").model_dump()
    return render(fmt, "service_requests", "request", [row], 201)


async def _raised_by_token(request: Request, token: str, headers: dict[str, str]) -> Answer | None:
    """The matters service's answer for the matter raised under `token`, if there is one."""
    found = await _call(request, "GET", f"/api/v1/matters/by-token/{token}", headers=headers)
    if isinstance(found, Response) or not found.is_success:
        return None
    try:
        matter = found.json()
    except ValueError:
        return None
    return found if isinstance(matter, dict) and matter.get("external_token") == token and matter.get("matter_id") \
        else None


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    ids = [v.strip() for v in value.split(",") if v.strip()]
    for v in ids:
        try:
            UUID(v)
        except ValueError:
            raise Open311Error(400, f"service_request_id: {v} is not a request id") from None
    return ids


@router.get("/requests.{fmt}", response_model=list[ServiceRequest], responses={200: _xml_alt(), **ERRORS})
async def list_requests(
    fmt: FmtPath, request: Request,
    service_request_id: Annotated[str | None, Query(max_length=2000, description="Comma-separated ids")] = None,
    service_code: Annotated[str | None, Query(max_length=64)] = None,
    start_date: Annotated[datetime | None, Query()] = None,
    end_date: Annotated[datetime | None, Query()] = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)(,(open|closed))?$")] = None,
) -> Response:
    """Finds requests by id, type, date range and status (newest first, at most 1000 or 90 days)."""
    if service_code is not None and service_code not in SERVICES:
        raise Open311Error(400, f"service_code {service_code} is not a known service")
    for name, value in (("start_date", start_date), ("end_date", end_date)):
        if value is not None and value.tzinfo is None:
            # Open311 dates carry their zone (2024-01-01T00:00:00Z); a bare one cannot be placed, nor compared.
            raise Open311Error(400, f"{name} needs a time zone, e.g. 2024-01-01T00:00:00+08:00")
        if value is not None:
            try:
                storable_instant(value)
            except ValueError as exc:
                raise Open311Error(400, f"{name} {exc}") from None
    if start_date and end_date and start_date > end_date:
        raise Open311Error(400, "start_date must not be after end_date")
    ids = _ids(service_request_id)
    params: list[tuple[str, str]] = [("ids", ",".join(ids))] if ids else []
    if service_code:
        params.append(("category", service_code))
    statuses = set((status or "").split(",")) - {""}
    if len(statuses) == 1:
        params.append(("status", statuses.pop()))
    if end_date is None:
        # The pages are read as of one moment: a request raised between two pages would shift the second by one
        # (repeating the first page's last request).
        end_date = datetime.now(UTC)
    if start_date is None and not ids:
        # GeoReport v2: without a date range, the last 90 days (from the first instant there is, for an end that early).
        earliest = datetime.min.replace(tzinfo=UTC)
        start_date = end_date - timedelta(days=DEFAULT_DAYS) if end_date - earliest > timedelta(days=DEFAULT_DAYS) \
            else earliest
    if start_date:
        params.append(("start", start_date.isoformat()))
    params.append(("end", end_date.isoformat()))
    rows: list[dict] = []
    while len(rows) < MAX_REQUESTS:  # up to 1000, newest first, in the pages the matters service serves
        page = [*params, ("limit", str(PAGE)), ("offset", str(len(rows)))]
        found = await _matters(request, "GET", "/api/v1/matters/", headers=_service_headers(request), params=page)
        items = found.get("items", []) if isinstance(found, dict) else found
        rows += [to_service_request(m) for m in items if isinstance(m, dict)]
        if len(items) < PAGE:
            break
    return render(fmt, "service_requests", "request", rows[:MAX_REQUESTS])


@router.get("/requests/{service_request_id}.{fmt}", response_model=list[ServiceRequest], responses={200: _xml_alt(), **ERRORS})
async def get_request(service_request_id: Annotated[UUID, Path()], fmt: FmtPath, request: Request) -> Response:
    """Reads one request."""
    found = await _matters(request, "GET", f"/api/v1/matters/{service_request_id}", headers=_service_headers(request))
    return render(fmt, "service_requests", "request", [to_service_request(found)])


@router.get("/tokens/{token}.{fmt}", response_model=list[TokenAnswer], responses={200: _xml_alt(), **ERRORS})
async def by_token(token: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")], fmt: FmtPath, request: Request) -> Response:
    """Finds the request id a POST token became."""
    found = await _matters(request, "GET", f"/api/v1/matters/by-token/{token}", headers=_service_headers(request))
    matter_id = (found.get("matter_id") or found.get("id")) if isinstance(found, dict) else None
    return render(fmt, "service_requests", "request", [{"service_request_id": str(matter_id) if matter_id else None,
                                                        "token": token}])
