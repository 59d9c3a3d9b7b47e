"""Log-in for the mobile app under /auth: passwords and one-time codes, rotating refresh tokens, lock-out."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import throttle
from gateway.models import OneTimeCode, RefreshToken
from gateway.registry_client import Identity, RegistryClient
from gateway.schemas import LoginRequest, OtpRequest, OtpSent, OtpVerify, RefreshRequest, TokenPair
from gateway.settings import Settings
from youmin.kit.auth import mint_token
from youmin.kit.errors import problem
from youmin.kit.logging import get_logger
from youmin.kit.service import SessionDep

log = get_logger("gateway.auth")

router = APIRouter(prefix="/auth", tags=["auth"])

PROBLEM_RESPONSES = {
    401: {"description": "Wrong credentials or an invalid refresh token", "content": {"application/problem+json": {}}},
    429: {"description": "Locked out after repeated failures (see Retry-After)", "content": {"application/problem+json": {}}},
}


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _registry(request: Request) -> RegistryClient:
    return request.app.state.registry


def _locked(seconds: int) -> JSONResponse:
    resp = problem(429, "Too many failed attempts", f"log-in is locked; try again in {seconds} seconds",
                   "/problems/locked-out", retry_after=seconds)
    resp.headers["Retry-After"] = str(seconds)
    return resp


def _limits(settings: Settings, phone: str, ip: str) -> dict[str, int]:
    return {throttle.phone_subject(phone): settings.lockout_max_failures,
            throttle.ip_subject(ip): settings.lockout_ip_max_failures}


async def _issue(session: AsyncSession, settings: Settings, identity: Identity, family_id: uuid.UUID | None = None,
                 password_set_at: datetime | None = None) -> TokenPair:
    """Mints an access token and the next refresh token of a family: a new family at log-in, under the password the
    registry vouched for (its time of setting); a refresh passes on the family's `password_set_at`."""
    refresh = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    # issued_at is the database's now(), as the registry's time of a password change is: in one deployment both are
    # the same PostgreSQL server's clock, so a log-in and a reset are ordered without any skew between hosts.
    session.add(RefreshToken(
        token_hash=_hash(refresh), family_id=family_id or uuid.uuid4(), person_id=identity.person_id,
        password_set_at=password_set_at if family_id else identity.password_changed_at,
        expires_at=now + timedelta(days=settings.refresh_token_days),
    ))
    await session.flush()
    access = mint_token(settings, identity.person_id, identity.grants, kind="user")
    return TokenPair(access_token=access, expires_in=settings.access_token_minutes * 60, refresh_token=refresh,
                     refresh_expires_in=settings.refresh_token_days * 86400, person_id=identity.person_id)


async def _serialize(session: AsyncSession, key: str) -> None:
    """Holds a transaction-level lock on a key: requests about the same log-in (or phone) take turns."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


async def _token_of_family(session: AsyncSession, refresh_token: str) -> RefreshToken | None:
    """Finds a refresh token and locks its log-in (family) for this transaction, then reads the token again as it is
    once the lock is held: a refresh and a log-out of one log-in never overlap, so a log-out revokes the token a
    concurrent refresh just issued, and a reused token's alarm revokes it too."""
    found = await session.get(RefreshToken, _hash(refresh_token))
    if found is None:
        return None
    await _serialize(session, f"refresh-family:{found.family_id}")
    return await session.get(RefreshToken, found.token_hash, with_for_update=True, populate_existing=True)


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    """Revokes every live refresh token of a log-in."""
    await session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                          .values(revoked_at=now))


async def _failed(session: AsyncSession, settings: Settings, phone: str, ip: str, detail: str) -> JSONResponse:
    """Counts a failure (committed with the response) and answers 401, or 429 when this one locks."""
    seconds = await throttle.record_failure(session, _limits(settings, phone, ip), timedelta(minutes=settings.lockout_minutes))
    if seconds:
        log.warning("auth.locked_out", ip=ip)
        return _locked(seconds)
    return problem(401, "Unauthorized", detail, "/problems/unauthorized")


@router.post("/login", response_model=TokenPair, responses=PROBLEM_RESPONSES)
async def login(body: LoginRequest, request: Request, session: SessionDep) -> Response:
    """Logs a person in by phone and password; the registry checks the argon2 hash."""
    settings, ip = _settings(request), _client_ip(request)
    # Attempts on one phone go one at a time, each seeing the failures before it: concurrent guesses all passed
    # the lock-out check before any failure was recorded (24 passwords checked where 5 are allowed).
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                          {"k": "login:" + _hash(body.phone)})
    if (seconds := await throttle.locked_for(session, list(_limits(settings, body.phone, ip)))) is not None:
        return _locked(seconds)
    identity = await _registry(request).verify(body.phone, body.password, request.state.request_id)
    if identity is None:
        return await _failed(session, settings, body.phone, ip, "wrong phone number or password")
    await throttle.clear(session, throttle.phone_subject(body.phone))
    pair = await _issue(session, settings, identity)
    log.info("auth.logged_in", person_id=identity.person_id, method="password")
    return JSONResponse(pair.model_dump(), headers={"Cache-Control": "no-store"})


@router.post("/refresh", response_model=TokenPair, responses=PROBLEM_RESPONSES)
async def refresh(body: RefreshRequest, request: Request, session: SessionDep) -> Response:
    """Swaps a refresh token for a new pair with the person's current grants; a token used twice revokes its family."""
    settings, now = _settings(request), datetime.now(UTC)
    # Two concurrent uses of one token cannot both succeed, nor a refresh outlive a log-out racing it.
    row = await _token_of_family(session, body.refresh_token)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return problem(401, "Unauthorized", "the refresh token is unknown, expired or revoked", "/problems/unauthorized")
    if row.used_at is not None:
        await _revoke_family(session, row.family_id, now)
        log.warning("auth.refresh_reuse_detected", person_id=row.person_id, family_id=str(row.family_id))
        return problem(401, "Unauthorized", "the refresh token was already used; every session of this log-in is revoked",
                       "/problems/refresh-token-reused")
    row.used_at = now
    # Roles come from the registry: a refresh carries the grants the person holds now, not those of the log-in.
    identity = await _registry(request).current(row.person_id, request.state.request_id)
    if identity is None:
        await _revoke_family(session, row.family_id, now)
        log.warning("auth.refresh_person_unknown", person_id=row.person_id, family_id=str(row.family_id))
        return problem(401, "Unauthorized", "the registry no longer knows this person; log in again",
                       "/problems/unauthorized")
    # A password reset (a phone lost or stolen) ends every log-in made before it, at its next refresh: one made under
    # another password than the person's now (even one checked just before the reset committed). A log-in that kept
    # no password (made before the gateway kept it, or by a person without one) ends if a password was set after it
    # began.
    if row.password_set_at is not None:
        changed = identity.password_changed_at != row.password_set_at
    elif identity.password_changed_at is not None:
        started = await session.scalar(select(func.min(RefreshToken.issued_at))
                                       .where(RefreshToken.family_id == row.family_id))
        changed = started is not None and started < identity.password_changed_at
    else:
        changed = False
    if changed:
        await _revoke_family(session, row.family_id, now)
        log.info("auth.refresh_after_password_change", person_id=row.person_id, family_id=str(row.family_id))
        return problem(401, "Unauthorized", "the password was changed since this log-in; log in again",
                       "/problems/unauthorized")
    pair = await _issue(session, settings, identity, family_id=row.family_id, password_set_at=row.password_set_at)
    return JSONResponse(pair.model_dump(), headers={"Cache-Control": "no-store"})


@router.post("/logout", status_code=204, responses={204: {"description": "Logged out"}})
async def logout(body: RefreshRequest, session: SessionDep) -> Response:
    """Ends a log-in: revokes the refresh token's whole family (unknown tokens are ignored)."""
    row = await _token_of_family(session, body.refresh_token)
    if row is not None:
        await _revoke_family(session, row.family_id, datetime.now(UTC))
    return Response(status_code=204)


@router.post("/otp/request", status_code=202, response_model=OtpSent, responses={429: PROBLEM_RESPONSES[429]})
async def otp_request(body: OtpRequest, request: Request, session: SessionDep) -> Response:
    """Sends a one-time log-in code by SMS (answers the same whether or not the phone is registered)."""
    settings, now = _settings(request), datetime.now(UTC)
    if not getattr(request.app.state.sms_sender, "enabled", True):
        return problem(503, "Service unavailable", "log-in by SMS code is not available here; log in with your password",
                       "/problems/otp-unavailable")
    phone_hash = _hash(body.phone)
    if (seconds := await throttle.locked_for(session, list(_limits(settings, body.phone, _client_ip(request))))) is not None:
        return _locked(seconds)
    if (wait := request.app.state.otp_buckets.take(throttle.client_network(_client_ip(request)))) > 0:
        resp = problem(429, "Too many requests", f"codes have been asked for from this address for many phones; ask again "
                       f"in {math.ceil(wait)} seconds, or log in with your password", "/problems/rate-limited")
        resp.headers["Retry-After"] = str(math.ceil(wait))
        return resp
    await _serialize(session, f"otp:{phone_hash}")  # concurrent requests for one phone see each other's codes
    last = await session.scalar(select(OneTimeCode).where(OneTimeCode.phone_hash == phone_hash)
                                .order_by(OneTimeCode.created_at.desc()).limit(1))
    if last is not None and (wait := (last.created_at + timedelta(seconds=settings.otp_resend_seconds) - now).total_seconds()) > 0:
        resp = problem(429, "Too many requests", f"a code was just sent; ask again in {int(wait) + 1} seconds",
                       "/problems/rate-limited")
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp
    # Counted alike for registered and unknown phones (an unknown phone's requests are recorded as spent codes).
    sent_today, oldest = (await session.execute(
        select(func.count(), func.min(OneTimeCode.created_at))
        .where(OneTimeCode.phone_hash == phone_hash, OneTimeCode.created_at > now - timedelta(hours=24)))).one()
    if sent_today >= settings.otp_daily_max:
        wait = int((oldest + timedelta(hours=24) - now).total_seconds()) + 1
        resp = problem(429, "Too many requests", f"this phone has been sent {settings.otp_daily_max} codes in 24 "
                       "hours; log in with your password, or ask again later", "/problems/rate-limited")
        resp.headers["Retry-After"] = str(wait)
        return resp
    sent = OtpSent(expires_in=settings.otp_minutes * 60, resend_after=settings.otp_resend_seconds)
    if await _registry(request).lookup(body.phone, request.state.request_id) is None:
        # A spent code is recorded all the same, so the resend limit answers as for a registered phone (the
        # 429 on a second request told registered phones apart).
        session.add(OneTimeCode(phone_hash=phone_hash, code_hash=_hash(secrets.token_hex(16)), created_at=now,
                                expires_at=now, attempts=0, used_at=now))
        await session.flush()
        return JSONResponse(sent.model_dump(), status_code=202)
    code = "".join(secrets.choice("0123456789") for _ in range(settings.otp_length))
    # Earlier codes of this phone stop working once a new one is sent.
    await session.execute(update(OneTimeCode).where(OneTimeCode.phone_hash == phone_hash, OneTimeCode.used_at.is_(None))
                          .values(used_at=now))
    session.add(OneTimeCode(phone_hash=phone_hash, code_hash=_hash(f"{phone_hash}:{code}"), created_at=now,
                            expires_at=now + timedelta(minutes=settings.otp_minutes), attempts=0))
    await session.flush()
    # Sent once the code is committed (a code texted before a commit that then failed could never work), and answered
    # as for any phone: a sender that fails logs it (never a 5xx that only registered phones would get).
    return JSONResponse(sent.model_dump(), status_code=202,
                        background=BackgroundTask(request.app.state.sms_sender.send_code, body.phone, code,
                                                  settings.otp_minutes))


@router.post("/otp/verify", response_model=TokenPair, responses=PROBLEM_RESPONSES)
async def otp_verify(body: OtpVerify, request: Request, session: SessionDep) -> Response:
    """Logs a person in with a one-time code."""
    settings, ip, now = _settings(request), _client_ip(request), datetime.now(UTC)
    if (seconds := await throttle.locked_for(session, list(_limits(settings, body.phone, ip)))) is not None:
        return _locked(seconds)
    phone_hash = _hash(body.phone)
    row = await session.scalar(select(OneTimeCode).where(OneTimeCode.phone_hash == phone_hash, OneTimeCode.used_at.is_(None),
                                                         OneTimeCode.expires_at > now)
                               .order_by(OneTimeCode.created_at.desc()).limit(1).with_for_update())
    if row is None or row.attempts >= settings.otp_max_attempts:
        return await _failed(session, settings, body.phone, ip, "the code is wrong or has expired")
    row.attempts += 1
    if not hmac.compare_digest(row.code_hash, _hash(f"{phone_hash}:{body.code}")):
        return await _failed(session, settings, body.phone, ip, "the code is wrong or has expired")
    identity = await _registry(request).lookup(body.phone, request.state.request_id)
    if identity is None:
        return await _failed(session, settings, body.phone, ip, "the code is wrong or has expired")
    row.used_at = now
    await throttle.clear(session, throttle.phone_subject(body.phone))
    pair = await _issue(session, settings, identity)
    log.info("auth.logged_in", person_id=identity.person_id, method="otp")
    return JSONResponse(pair.model_dump(), headers={"Cache-Control": "no-store"})
