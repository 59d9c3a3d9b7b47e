"""Production settings: the public development signing key (or a short one) is refused."""

import pytest
from pydantic import ValidationError

from youmin.kit.settings import DEV_SIGNING_KEY, CommonSettings


@pytest.mark.parametrize("key", [DEV_SIGNING_KEY, "short-key"])
def test_production_refuses_the_development_or_a_short_signing_key(key):
    with pytest.raises(ValidationError, match="YOUMIN_SIGNING_KEY"):
        CommonSettings(environment="production", signing_key=key)


def test_production_takes_a_key_of_its_own_and_development_the_public_one():
    assert CommonSettings(environment="production", signing_key="k" * 48).environment == "production"
    assert CommonSettings(environment="development").signing_key == DEV_SIGNING_KEY
