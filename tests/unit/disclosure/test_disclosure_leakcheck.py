"""The leak check the redaction scan relies on: it must see personal data however it is typed."""

from services.disclosure.leakcheck import find_leaks


def test_ascii_and_full_width_phone_and_id_numbers_and_known_names_are_found():
    body = "联系13800138000或１３９００１３９０００，身份证３７０７０５１９９００３０７１２３４，王小明到场"
    kinds = sorted((leak.kind, leak.value) for leak in find_leaks("/public/v1/items/x", body, ["王小明"]))
    assert ("phone", "13800138000") in kinds and ("phone", "13900139000") in kinds
    assert ("id_number", "370705199003071234") in kinds
    assert ("name", "王小明") in kinds


def test_a_redacted_body_has_no_leaks():
    assert find_leaks("/public/v1/items/x", "联系138****8000，王某到场", ["王小明"]) == []
