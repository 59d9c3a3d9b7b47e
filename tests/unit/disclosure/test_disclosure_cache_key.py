"""The public micro-cache's keys: requests answered differently never share one."""

from services.disclosure.http import cache_key


def test_a_value_holding_an_ampersand_is_not_read_as_two_parameters():
    encoded = cache_key("/public/v1/items", [("category", "notice&kind=party"), ("unit", "370705060101")])
    split = cache_key("/public/v1/items", [("category", "notice"), ("kind", "party"), ("unit", "370705060101")])
    assert encoded != split


def test_the_values_of_a_repeated_parameter_keep_their_order():
    # A handler reads the last value: the two orders are two requests.
    first = cache_key("/public/v1/items", [("unit", "370705060101"), ("unit", "370705060102")])
    second = cache_key("/public/v1/items", [("unit", "370705060102"), ("unit", "370705060101")])
    assert first != second


def test_different_names_in_another_order_are_one_request():
    assert (cache_key("/public/v1/items", [("unit", "370705060101"), ("kind", "party"), ("kind", "finance")])
            == cache_key("/public/v1/items", [("kind", "party"), ("kind", "finance"), ("unit", "370705060101")]))
