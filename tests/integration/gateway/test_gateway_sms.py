"""Sending one-time codes: the SMS relay sender, the disabled sender, and which sender production accepts."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from gateway.sms import DisabledSender, HttpSender, make_sender
from youmin.infra import free_port
from youmin.testing import InProcessServer, running


class Relay:
    """The deployment's SMS relay: records what it is asked to send; refuses once `down` is set."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, str | None]] = []
        self.down = False
        app = FastAPI()

        @app.post("/sms")
        async def sms(request: Request) -> Response:
            if self.down:
                return Response(status_code=503)
            self.received.append((await request.json(), request.headers.get("authorization")))
            return Response(status_code=204)

        self.server = InProcessServer(app, free_port())


async def test_the_http_sender_hands_the_code_to_the_relay_after_answering_and_logs_a_refusal():
    relay = Relay()
    await relay.server.start()
    try:
        sender = make_sender("http", "production", f"{relay.server.url}/sms", "relay-secret")
        assert isinstance(sender, HttpSender)
        async with httpx.AsyncClient(timeout=5) as client:
            sender.client = client
            await sender.send_code("13800138000", "123456", 5)  # returns at once; the code goes in a task
            await sender.drain()
            assert relay.received == [({"phone": "13800138000", "code": "123456", "valid_minutes": 5},
                                       "Bearer relay-secret")]
            relay.down = True
            assert await sender.deliver("13800138000", "654321", 5) is False  # logged, never raised to the caller
            await sender.send_code("13800138000", "654321", 5)
            await sender.drain()
            assert len(relay.received) == 1
    finally:
        await relay.server.stop()


def test_production_takes_the_relay_or_no_sms_but_never_the_console():
    with pytest.raises(RuntimeError, match="development"):
        make_sender("console", "production")
    with pytest.raises(RuntimeError, match="GATEWAY_SMS_URL"):
        make_sender("http", "production")
    with pytest.raises(RuntimeError, match="unknown SMS sender"):
        make_sender("carrier-pigeon", "production")
    assert isinstance(make_sender("disabled", "production"), DisabledSender)


async def test_without_sms_a_code_is_refused_alike_for_every_phone(make_gateway):
    app = make_gateway(sms_sender="disabled")
    async with running(app) as client:
        for phone in ("13800138000", "13900139000"):
            resp = await client.post("/auth/otp/request", json={"phone": phone})
            assert resp.status_code == 503 and resp.headers["content-type"].startswith("application/problem+json")
            assert "password" in resp.json()["detail"]


async def test_one_address_asking_codes_for_phone_after_phone_is_stopped_after_its_burst(make_gateway):
    # A registry that knows none of the phones: each request records a spent code, as for any phone.
    registry = FastAPI()

    @registry.post("/internal/v1/registry/credentials/lookup")
    async def lookup() -> Response:
        return Response(status_code=404)

    server = InProcessServer(registry, free_port())
    await server.start()
    try:
        app = make_gateway(registry_url=server.url, otp_requests_per_address_hour=60)  # a burst of 10
        async with running(app) as client:
            answers = [await client.post("/auth/otp/request", json={"phone": f"1390013{n:04d}"}) for n in range(11)]
        assert [a.status_code for a in answers] == [202] * 10 + [429], [a.text for a in answers]
        assert int(answers[-1].headers["Retry-After"]) > 0 and "password" in answers[-1].json()["detail"]
    finally:
        await server.stop()
