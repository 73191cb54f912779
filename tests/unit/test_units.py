import pytest

from harness.core.errors import HarnessError
from harness.core.units import check_address, check_mtu, format_rate, parse_rate, rate_label


@pytest.mark.parametrize("text, bits", [
    ("100mbit", 100_000_000), ("10Mbit", 10_000_000), ("1.5gbit", 1_500_000_000),
    ("500kbit", 500_000), ("8000", 8000), (100_000_000, 100_000_000),
])
def test_rates_parse(text, bits):
    assert parse_rate(text) == bits


@pytest.mark.parametrize("bad", ["10 Mbps", "-5mbit", "fast", "", "10mbps", "0mbit", " 10mbit", True])
def test_bad_rates_are_refused_in_one_line(bad):
    with pytest.raises(HarnessError) as e:
        parse_rate(bad)
    assert "\n" not in str(e.value) and "rate" in str(e.value)


def test_rate_label_and_format_round_trip():
    assert rate_label(parse_rate("500mbit")) == "500mbit"
    assert format_rate(95_640_000) == "95.64 Mbit/s"


@pytest.mark.parametrize("bad", [0, 67, 65536, "big", None])
def test_mtu_out_of_range(bad):
    with pytest.raises(HarnessError, match="MTU"):
        check_mtu(bad)


def test_mtu_in_range():
    assert check_mtu("1400") == 1400


@pytest.mark.parametrize("ok", ["198.18.0.1/24", "198.19.255.254", "2001:db8::1/64"])
def test_allowed_addresses(ok):
    assert check_address(ok) == ok


@pytest.mark.parametrize("bad", ["10.0.0.1/24", "192.168.1.1", "8.8.8.8", "198.20.0.1",
                                 "2001:db9::1", "fe80::1", "not-an-ip"])
def test_addresses_outside_the_ranges_are_refused(bad):
    with pytest.raises(HarnessError):
        check_address(bad)
