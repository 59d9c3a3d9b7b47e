"""The gateway skeleton: routing, bearer verification, request ids, upstream failures as problem+json."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.testing import InProcessServer, running


async def test_gateway_routes_to_each_service_with_a_valid_token_and_propagates_the_request_id(stack):
    token = stack.token("district_staff", "370705")
    async with stack.client(token) as client:
        for service in ("registry", "matters", "mediation", "disclosure"):
            resp = await client.get(f"/api/v1/{service}/no/such/route/here", headers={"x-request-id": f"rid-{service}"})
            assert resp.status_code == 404, service  # reached the service, which knows no such route
            assert resp.headers["x-request-id"] == f"rid-{service}"
            assert resp.headers["content-type"].startswith("application/problem+json")


async def test_missing_or_forged_bearer_token_is_refused_at_the_gateway(stack):
    async with stack.client() as anonymous:
        resp = await anonymous.get("/api/v1/registry/anything")
        assert resp.status_code == 401 and resp.json()["status"] == 401
    forged = mint_token(stack.settings.model_copy(update={"signing_key": "someone-else"}), "x",
                        [Grant(role="district_staff", scope="370705")])
    async with stack.client(forged) as client:
        resp = await client.get("/api/v1/registry/anything")
        assert resp.status_code == 401 and "invalid token" in resp.json()["detail"]


async def test_gateway_readiness_reports_every_service(stack):
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        body = (await client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert {"database", "broker", "registry", "matters", "mediation", "disclosure"} <= set(body["checks"])


async def test_aggregated_openapi_contains_every_services_paths(stack):
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    prefixes = {p.split("/")[3] for p in doc["paths"] if p.startswith("/api/v1/")}
    assert {"registry", "matters", "mediation", "disclosure"} <= prefixes
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        docs = await client.get("/docs")  # the README's API reference: Swagger UI over that document
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "swagger" in docs.text.lower()


async def test_no_schema_name_means_two_things_in_the_aggregated_openapi(stack):
    # The gateway merges the services' components by name: a name two services define differently would
    # describe one service's responses with the other's schema.
    meanings: dict[str, dict[str, object]] = {}
    async with httpx.AsyncClient() as client:
        for service, url in stack.service_urls.items():
            for name, schema in (await client.get(f"{url}/openapi.json")).json()["components"]["schemas"].items():
                meanings.setdefault(name, {})[service] = schema
    clashes = {name: sorted(by) for name, by in meanings.items() if len({repr(s) for s in by.values()}) > 1}
    assert not clashes


async def test_a_service_that_is_down_gives_502_and_a_slow_one_504(infra):
    slow = FastAPI()

    @slow.get("/api/v1/matters/slow")
    async def hang() -> dict:
        await asyncio.sleep(5)
        return {}

    slow_server = InProcessServer(slow, free_port())
    await slow_server.start()
    settings = GatewaySettings(
        service_database_url=infra.database_url("gateway"), kafka_bootstrap_servers=infra.bootstrap,
        environment="test", registry_url=f"http://127.0.0.1:{free_port()}", matters_url=slow_server.url,
        upstream_timeout_seconds=0.5,
    )
    token = mint_token(settings, "u", [Grant(role="district_staff", scope="370705")])
    try:
        async with running(create_gateway(settings)) as client:
            headers = {"authorization": f"Bearer {token}"}
            down = await client.get("/api/v1/registry/units/370705", headers=headers)
            assert down.status_code == 502
            assert down.headers["content-type"].startswith("application/problem+json")
            assert "registry" in down.json()["detail"]
            timeout = await client.get("/api/v1/matters/slow", headers=headers)
            assert timeout.status_code == 504 and "matters" in timeout.json()["detail"]
    finally:
        await slow_server.stop()


async def test_a_collection_root_without_trailing_slash_is_routed_without_redirect(stack):
    async with stack.client(stack.token("district_staff", "370705")) as client:
        resp = await client.get("/api/v1/matters", follow_redirects=False)
    assert resp.status_code == 200, resp.text


async def test_a_path_segment_with_reserved_characters_reaches_the_service_as_that_one_segment(stack):
    async with stack.client(stack.token("district_staff", "370705")) as client:
        matter = await client.get("/api/v1/matters/%23x", follow_redirects=False)
        item = await client.get("/public/v1/items/%3Fx%25", follow_redirects=False)
    assert matter.status_code == 422 and matter.json()["errors"][0]["field"] == "matter_id", matter.text
    assert item.status_code == 422 and item.json()["errors"][0]["field"] == "item_id", item.text


async def test_proxied_routes_keep_the_gateway_headers_the_route_label_and_method_rules(stack):
    async with stack.client(stack.token("district_staff", "370705")) as client:
        read = await client.get("/api/v1/registry/units/370705")
        assert read.headers["x-content-type-options"] == "nosniff"
        assert read.headers["cache-control"] == "no-store"
        assert len(read.headers["x-request-id"]) == 32
        public = await client.get("/public/v1/items", params={"unit": "370705"})
        assert public.status_code == 200 and public.headers["etag"]
        assert public.headers.get("cache-control", "").startswith("public")
        # Methods the proxied routes do not take are FastAPI's to refuse, as before.
        refused = await client.post("/public/v1/items", json={})
        assert refused.status_code == 405
        assert refused.headers["content-type"].startswith("application/problem+json")
        # A service token is refused on /api/v1 by the gateway itself.
        service_token = mint_token(stack.settings, "svc", [], kind="service")
        forbidden = await client.get("/api/v1/registry/units/370705", headers={"authorization": f"Bearer {service_token}"})
        assert forbidden.status_code == 403 and "department" in forbidden.json()["detail"]
        # Dot segments never reach a service.
        dots = await client.get("/api/v1/registry/units/%2E%2E/%2E%2E/metrics")
        assert dots.status_code == 404
        metrics = (await client.get("/metrics")).text
    assert 'route="/api/v1/{service}/{path:path}"' in metrics
    assert 'route="/public/v1/{path:path}"' in metrics


async def test_pooled_connection_closed_by_the_service_is_retried_for_reads_and_only_client_headers_go_on(infra):
    # A service that answers the first request on each connection and drops the connection at the second,
    # as a service closing an idle keep-alive connection just as the gateway reuses it would.
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answered in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                names = sorted(line.split(b":", 1)[0].decode().lower() for line in head.split(b"\r\n")[1:] if line)
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                if answered:
                    break
                body = json.dumps(names).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async with gateway_before(infra, serve) as (client, headers):
        first = await client.get("/api/v1/matters/a", headers=headers)
        assert first.status_code == 200
        # What the service saw: the client headers the gateway forwards and its own, none of httpx's defaults
        # (the test client's accept-encoding is not forwarded, and the gateway adds none).
        assert first.json() == ["accept", "authorization", "host", "user-agent", "x-forwarded-for", "x-request-id"]
        # The pooled connection is dropped at the next request: a read is sent again on a new connection...
        again = await client.get("/api/v1/matters/b", headers=headers)
        assert again.status_code == 200, again.text
        # ...a write is not, since the service may have acted on it: 502, and the client decides.
        write = await client.post("/api/v1/matters/c", headers=headers, json={})
        assert write.status_code == 502 and "matters" in write.json()["detail"]


async def test_a_service_that_trickles_its_answer_past_the_timeout_gives_504(infra):
    # Each part of the body comes within the read timeout; the whole answer does not come within the deadline.
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n")
            for _ in range(40):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async with gateway_before(infra, trickle, upstream_timeout_seconds=0.5) as (client, headers):
        resp = await client.get("/api/v1/matters/slow", headers=headers)
    # Without the deadline the gateway would wait out the 4 s trickle and answer 200.
    assert resp.status_code == 504 and "matters" in resp.json()["detail"]


async def test_a_non_ascii_header_goes_on_and_no_cookie_of_one_answer_rides_on_the_next_call(infra):
    # A service that answers every request with a cookie, and tells which headers it got and its user-agent.
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if line)
                body = json.dumps({"names": sorted(k.decode().lower() for k in fields),
                                   "user_agent": fields.get(b"user-agent", b"").strip().hex()}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nset-cookie: sid=someone-else\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async with gateway_before(infra, echo) as (client, headers):
        first = await client.get("/api/v1/matters/a", headers={**headers, "user-agent": "小米 Redmi".encode()})
        latin = await client.get("/api/v1/matters/a", headers={**headers, "user-agent": "Mozilla ü".encode("latin-1")})
        second = await client.get("/api/v1/matters/b", headers=headers)
    assert first.status_code == 200, first.text
    assert bytes.fromhex(first.json()["user_agent"]) == "小米 Redmi".encode()  # UTF-8, as phones send it: unchanged
    assert latin.status_code == 200, latin.text  # bytes that are no UTF-8 go on too (aiohttp writes them as UTF-8)
    # The service's cookie went back to the caller it was meant for, and not on to the service with the next call.
    assert first.headers["set-cookie"] == "sid=someone-else"
    assert second.status_code == 200 and "cookie" not in second.json()["names"]


@asynccontextmanager
async def gateway_before(infra, serve, **settings):
    """Runs a raw TCP service as the matters service and a gateway (without consumers) in front of it; yields an
    in-process client of the gateway and a staff bearer header."""
    service = await asyncio.start_server(serve, "127.0.0.1", 0)
    gateway_settings = GatewaySettings(
        service_database_url=infra.database_url("gateway"), kafka_bootstrap_servers=infra.bootstrap,
        environment="test", matters_url=f"http://127.0.0.1:{service.sockets[0].getsockname()[1]}",
        consumers_enabled=False, webhook_enabled=False, **settings,
    )
    token = mint_token(gateway_settings, "u", [Grant(role="district_staff", scope="370705")])
    try:
        async with running(create_gateway(gateway_settings)) as client:
            yield client, {"authorization": f"Bearer {token}"}
    finally:
        service.close()
        await service.wait_closed()
