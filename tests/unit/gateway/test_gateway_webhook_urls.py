"""Webhook URLs must point to public addresses: by literal address, by what a host name resolves to, in every
disguise of a private address (a trailing dot, an IPv4-mapped or NAT64 IPv6 address)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gateway.webhooks import url_allowed


@pytest.fixture
async def resolver(monkeypatch):
    """Host names resolve to what the test says (no DNS)."""
    answers: dict[str, list[str]] = {"localhost": ["127.0.0.1"], "api.localhost": ["127.0.0.1"]}
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost/hook", "http://localhost./hook", "http://api.localhost/hook",
    "http://10.0.0.7/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]/hook",
    "http://[::ffff:10.0.0.1]/hook", "http://[64:ff9b::7f00:1]/hook", "http://[fd00::1]/hook",
    # Ranges that lead back to IPv4 or stay local: local-use NAT64, 6to4, SIIT, IPv4-compatible, site-local.
    "http://[64:ff9b:1::a00:1]/hook", "http://[2002:7f00:1::1]/hook", "http://[::ffff:0:a00:1]/hook",
    "http://[::a00:1]/hook", "http://[fec0::1]/hook",
])
async def test_private_literal_addresses_are_refused(resolver, url):
    assert not await url_allowed(url, allow_private=False)
    assert await url_allowed(url, allow_private=True)


async def test_a_host_name_counts_by_every_address_it_resolves_to(resolver):
    resolver["hooks.example.com"] = ["93.184.216.34"]
    resolver["inside.example.com"] = ["127.0.0.1"]
    resolver["mixed.example.com"] = ["93.184.216.34", "10.0.0.7"]
    assert await url_allowed("https://hooks.example.com/youmin", allow_private=False)
    assert await url_allowed("https://HOOKS.example.com./youmin", allow_private=False)
    assert not await url_allowed("https://inside.example.com/youmin", allow_private=False)
    assert not await url_allowed("https://mixed.example.com/youmin", allow_private=False)
    assert not await url_allowed("https://nowhere.example.com/youmin", allow_private=False)  # does not resolve
    assert await url_allowed("http://8.8.8.8/hook", allow_private=False)


async def test_a_delivery_goes_to_the_address_that_was_checked_addressed_to_the_named_host(resolver):
    from gateway.webhooks import resolve_target

    resolver["hooks.example.com"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    target = await resolve_target("https://hooks.example.com:8443/youmin?x=1", allow_private=False)
    assert target.url == "https://93.184.216.34:8443/youmin?x=1"
    assert target.headers == {"host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}  # the certificate is checked for the name
    resolver["hooks.example.com"] = ["10.0.0.7"]  # the name now points inside: the next delivery is refused
    assert await resolve_target("https://hooks.example.com:8443/youmin", allow_private=False) is None
    literal = await resolve_target("http://93.184.216.34/hook", allow_private=False)
    assert literal.url == "http://93.184.216.34/hook" and literal.headers == {}


async def test_a_public_ipv6_address_is_allowed(resolver):
    assert await url_allowed("https://[2606:4700:4700::1111]/hook", allow_private=False)


def test_a_subscription_url_on_port_zero_is_refused_naming_the_url():
    import pydantic
    import pytest as _pytest

    from gateway.schemas import SubscriptionCreate

    with _pytest.raises(pydantic.ValidationError) as caught:
        SubscriptionCreate(url="https://hooks.example.com:0/youmin")
    assert caught.value.errors()[0]["loc"] == ("url",)
    assert SubscriptionCreate(url="https://hooks.example.com:8443/youmin").url.port == 8443
