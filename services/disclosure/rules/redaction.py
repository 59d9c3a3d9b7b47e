"""Redaction of a disclosure item's content before it is published (PIPL Art. 25).

Content is a JSON-like structure of dicts, lists and scalars. Keys are compared after
normalisation (lower case, camelCase and dashes turned into snake_case) against fnmatch-style
patterns: a sensitive key is dropped with its value; an address key has its value cut to the level
the `masking.address` rule keeps (street or community) or, under "remove" or when no level is found,
is dropped; a name key has its value masked to the surname; and every other string is redacted as
free text (`youmin.kit.pii.redact_text`): ID numbers, phone numbers and the names already seen under
name keys are masked, home addresses and the clauses carrying health or minors' data are removed.
Dict keys themselves are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase
from typing import Any

from youmin.kit.pii import (
    DEFAULT_MASKING_RULES,
    ID_NUMBER_PATTERN,
    MOBILE_PATTERN,
    InvalidConfigError,
    MaskingRules,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    redact_text,
)

__all__ = [
    "DEFAULT_ADDRESS_KEYS",
    "DEFAULT_NAME_KEYS",
    "DEFAULT_NON_NAME_KEYS",
    "DEFAULT_REDACTION_CONFIG",
    "DEFAULT_SENSITIVE_KEYS",
    "RedactionConfig",
    "normalise_key",
    "redact_content",
]

DEFAULT_SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        # phone numbers
        "phone", "phones", "*_phone", "phone_number", "*_phone_number", "mobile", "*_mobile",
        "mobile_number", "telephone", "*_telephone", "tel", "landline", "fax",
        # identity documents
        "id_number", "*_id_number", "id_no", "id_card", "*_id_card", "id_card_number",
        "identity_number", "passport_number",
        # health (健康) and medical data
        "health", "health_status", "health_condition", "medical", "medical_history", "medical_record",
        "medical_records", "diagnosis", "disability",
        # minors (未成年人)
        "minor", "minors", "minor_info",
        # birth dates
        "birth_date", "*_birth_date", "birthday", "date_of_birth", "born_on",
        # other contact and financial identifiers
        "email", "*_email", "wechat", "qq", "bank_account", "*_bank_account", "bank_card",
    }
)

# Addresses (住址): cut to the configured level (`masking.address`) or dropped.
DEFAULT_ADDRESS_KEYS: frozenset[str] = frozenset(
    {"address", "*_address", "addresses", "*_addresses", "residence", "domicile", "house_number", "room_number"}
)

DEFAULT_NAME_KEYS: frozenset[str] = frozenset({"name", "names", "person_name", "*_name", "*_names"})

# Keys ending in _name that name places, bodies or things rather than people.
DEFAULT_NON_NAME_KEYS: frozenset[str] = frozenset(
    {
        "district_name", "street_name", "community_name", "grid_name", "building_name", "unit_name",
        "org_name", "org_unit_name", "organisation_name", "organization_name", "department_name",
        "dept_name", "party_org_name", "project_name", "item_name", "file_name", "place_name",
        "venue_name", "fund_name", "category_name", "type_name", "kind_name", "channel_name",
        "template_name", "event_name", "activity_name", "meeting_name",
    }
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalise_key(key: str) -> str:
    """Returns a key in lower snake_case ("contactPhone" → "contact_phone")."""
    return _CAMEL_BOUNDARY.sub("_", key).replace("-", "_").replace(" ", "_").lower()


def _patterns(key: str, value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidConfigError(key, "must be a list of key patterns")
    patterns = list(value)
    if not all(isinstance(p, str) and p.strip() for p in patterns):
        raise InvalidConfigError(key, "every pattern must be a non-empty string")
    return frozenset(normalise_key(p.strip()) for p in patterns)


@dataclass(frozen=True)
class RedactionConfig:
    """Which keys are dropped, which hold addresses or people's names, and how values are masked."""

    masking: MaskingRules = DEFAULT_MASKING_RULES
    sensitive_keys: frozenset[str] = DEFAULT_SENSITIVE_KEYS
    address_keys: frozenset[str] = DEFAULT_ADDRESS_KEYS
    name_keys: frozenset[str] = DEFAULT_NAME_KEYS
    non_name_keys: frozenset[str] = DEFAULT_NON_NAME_KEYS

    def __post_init__(self) -> None:
        if not isinstance(self.masking, MaskingRules):
            raise InvalidConfigError("masking", "must be MaskingRules")
        for name in ("sensitive_keys", "address_keys", "name_keys", "non_name_keys"):
            object.__setattr__(self, name, _patterns(name, getattr(self, name)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RedactionConfig:
        """Builds a config from a mapping; `extra_*` keys add to the defaults, the bad key is named."""
        if not isinstance(data, Mapping):
            raise InvalidConfigError("redaction", "must be a mapping")
        lists = {f.name for f in fields(cls)} - {"masking"}
        allowed = {"masking"} | lists | {f"extra_{name}" for name in lists}
        for key in data:
            if key not in allowed:
                raise InvalidConfigError(str(key), "is not a redaction setting")
        kwargs: dict[str, Any] = {}
        if "masking" in data:
            try:
                kwargs["masking"] = MaskingRules.from_mapping(data["masking"])
            except InvalidConfigError as error:
                key = "masking" if error.key == "masking" else f"masking.{error.key}"
                raise InvalidConfigError(key, error.reason) from None
        for name in sorted(lists):
            base = _patterns(name, data[name]) if name in data else getattr(cls, name)
            extra_key = f"extra_{name}"
            extra = _patterns(extra_key, data[extra_key]) if extra_key in data else frozenset()
            kwargs[name] = base | extra
        return cls(**kwargs)

    def is_sensitive(self, key: str) -> bool:
        """Tells whether a key's value is dropped."""
        normal = normalise_key(key)
        return any(fnmatchcase(normal, p) for p in self.sensitive_keys)

    def is_address_key(self, key: str) -> bool:
        """Tells whether a key holds an address (or a list of addresses)."""
        normal = normalise_key(key)
        return any(fnmatchcase(normal, p) for p in self.address_keys)

    def is_name_key(self, key: str) -> bool:
        """Tells whether a key holds a person's name (or a list of names)."""
        normal = normalise_key(key)
        if any(fnmatchcase(normal, p) for p in self.non_name_keys):
            return False
        return any(fnmatchcase(normal, p) for p in self.name_keys)


DEFAULT_REDACTION_CONFIG = RedactionConfig()


def _collect_names(
    content: Any, config: RedactionConfig, names: set[str], under_name_key: bool = False
) -> None:
    if isinstance(content, str):
        if under_name_key and content.strip():
            names.add(content.strip())
    elif isinstance(content, Mapping):
        for key, value in content.items():
            if isinstance(key, str) and (config.is_sensitive(key) or config.is_address_key(key)):
                continue
            _collect_names(value, config, names, isinstance(key, str) and config.is_name_key(key))
    elif isinstance(content, (list, tuple)):
        for value in content:
            _collect_names(value, config, names, under_name_key)


def _redact_int(value: int, config: RedactionConfig) -> int | str:
    # A phone or ID number stored as a JSON number is personal data all the same.
    text = str(value)
    if MOBILE_PATTERN.fullmatch(text):
        return mask_phone(text, config.masking)
    if ID_NUMBER_PATTERN.fullmatch(text):
        return mask_id_number(text, config.masking)
    return value


_DROPPED = object()


def _redact_address(value: Any, config: RedactionConfig) -> Any:
    # Only text can be cut to a level; anything else under an address key (a structured address, a
    # number) is dropped, as is an address in which no street or community is found.
    if isinstance(value, str):
        return mask_address(value, config.masking) or _DROPPED
    if isinstance(value, (list, tuple)):
        kept = [v for v in (_redact_address(item, config) for item in value) if v is not _DROPPED]
        return kept or _DROPPED
    return _DROPPED


def _redact(content: Any, config: RedactionConfig, names: tuple[str, ...], under_name_key: bool) -> Any:
    if isinstance(content, str):
        if under_name_key:
            return mask_name(content, config.masking)
        return redact_text(content, config.masking, names)
    if isinstance(content, bool):
        return content
    if isinstance(content, int):
        return _redact_int(content, config)
    if isinstance(content, Mapping):
        redacted = {}
        for key, value in content.items():
            if isinstance(key, str) and config.is_sensitive(key):
                continue
            if isinstance(key, str) and key.endswith("_cents") and type(value) is int:
                redacted[key] = value  # an amount, whatever its digits look like: a masked figure is a wrong one
                continue
            if isinstance(key, str) and config.is_address_key(key):
                address = _redact_address(value, config)
                if address is not _DROPPED:
                    redacted[key] = address
                continue
            redacted[key] = _redact(value, config, names, isinstance(key, str) and config.is_name_key(key))
        return redacted
    if isinstance(content, (list, tuple)):
        return [_redact(value, config, names, under_name_key) for value in content]
    return content


def redact_content(
    content: Any, config: RedactionConfig = DEFAULT_REDACTION_CONFIG, known_names: Iterable[str] = ()
) -> Any:
    """Returns a redacted copy of a disclosure item's content; the input is left untouched."""
    # Names found under name keys are also masked where free text elsewhere repeats them.
    names: set[str] = {n.strip() for n in known_names if n and n.strip()}
    _collect_names(content, config, names)
    return _redact(content, config, tuple(names), under_name_key=False)
