"""Rate limits and log-in lock-outs count a client by its address: an IPv4 address, an IPv6 /64."""

from __future__ import annotations

import pytest

from gateway.throttle import client_network, ip_subject


@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("unknown", "unknown"),
])
def test_one_client_is_one_address_or_one_ipv6_64(address, network):
    assert client_network(address) == network


def test_a_host_cycling_through_its_64_meets_one_lock_out():
    assert ip_subject("2001:db8:1:2::1") == ip_subject("2001:db8:1:2::ffff") != ip_subject("2001:db8:1:3::1")
