"""Which addresses outbound HTTP may reach: the classification and the allow-list."""

from __future__ import annotations

import ipaddress

import pytest

from stateyard.config import load_settings
from stateyard.integrations.http import AllowList, OutboundRefused, checked_addresses, refusal

ip = ipaddress.ip_address


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "reserved"),
        ("192.0.2.10", "documentation"),
        ("192.168.0.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.7", "documentation"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::127.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b:1::1", "private"),
        ("2002:7f00:1::1", "loopback"),
        ("2002:c0a8:101::1", "private"),
        ("100::1", "reserved"),
        ("2001::1", "reserved"),
        ("2001:db8::1", "documentation"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fec0::1", "private"),
        ("ff02::1", "multicast"),
        ("4000::1", "reserved"),
    ],
)
def test_internal_and_reserved_addresses_are_refused_with_their_reason(address: str, reason: str) -> None:
    assert refusal(ip(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "1.1.1.1",
        "8.8.8.8",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "169.253.255.255",
        "223.255.255.255",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ip(address)) is None


def test_an_allow_list_takes_networks_single_addresses_and_host_names() -> None:
    allow = AllowList(["127.0.0.1/32", "10.0.0.0/8", "::1", "[fd00::/8]", " Internal.Example. ", ""])
    assert allow.allows_address(ip("127.0.0.1")) and not allow.allows_address(ip("127.0.0.2"))
    assert allow.allows_address(ip("10.200.0.1")) and allow.allows_address(ip("::ffff:10.0.0.5"))
    assert allow.allows_address(ip("::1")) and allow.allows_address(ip("fd00::5"))
    assert not allow.allows_address(ip("192.168.0.1"))
    assert allow.allows_host("internal.example") and allow.allows_host("INTERNAL.EXAMPLE.")
    assert not allow.allows_host("other.example")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://host", "user@host", "a..b", "host name"])
def test_an_unusable_allow_list_entry_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError, match="STATEYARD_HTTP_ALLOW"):
        AllowList([entry])


def test_the_setting_is_read_comma_separated_from_the_environment() -> None:
    settings = load_settings({"STATEYARD_HTTP_ALLOW": "127.0.0.1/32, localhost,,::1"})
    assert settings.http_allow == ["127.0.0.1/32", "localhost", "::1"]
    assert load_settings({}).http_allow == []


def test_only_the_permitted_addresses_of_a_host_are_kept() -> None:
    addresses = [ip("10.0.0.1"), ip("93.184.216.34"), ip("::1")]
    assert checked_addresses("mixed.example", addresses, AllowList([])) == [ip("93.184.216.34")]
    allowed = checked_addresses("mixed.example", addresses, AllowList(["10.0.0.0/8"]))
    assert allowed == [ip("10.0.0.1"), ip("93.184.216.34")]
    assert checked_addresses("mixed.example", addresses, AllowList(["mixed.example"])) == addresses


def test_a_host_with_only_refused_addresses_names_them_all() -> None:
    with pytest.raises(OutboundRefused) as refused:
        checked_addresses("inside.example", [ip("10.0.0.1"), ip("fe80::1")], AllowList(["127.0.0.1"]))
    assert refused.value.host == "inside.example"
    assert refused.value.refused == [(ip("10.0.0.1"), "private"), (ip("fe80::1"), "link-local")]
