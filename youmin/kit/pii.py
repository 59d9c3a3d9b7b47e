"""Personal-data rules shared by services: validation, age, masking and free-text redaction.

Personal information is never published (PIPL Art. 25): names keep the surname only, phone and ID
numbers are masked, addresses are cut or removed, and home addresses, health data and minors' data
typed into free text are removed. The masking formats, the health and minors' terms and the phrases
exempt from them are configuration (`MaskingRules`); the patterns that find numbers and addresses in
free text are module constants.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from functools import lru_cache
from typing import Any

__all__ = [
    "ADDRESS_MODES",
    "COMPOUND_SURNAMES",
    "DEFAULT_EXEMPT_PHRASES",
    "DEFAULT_HEALTH_TERMS",
    "DEFAULT_MASKING_RULES",
    "DEFAULT_MINOR_TERMS",
    "HOME_ADDRESS_PATTERN",
    "ID_CHECK_CHARS",
    "ID_NUMBER_PATTERN",
    "ID_WEIGHTS",
    "LANDLINE_PATTERN",
    "MINOR_AGE_PATTERN",
    "MOBILE_PATTERN",
    "NAME_MODES",
    "PHONE_PATTERN",
    "InvalidConfigError",
    "MaskingRules",
    "PiiValidationError",
    "age_on",
    "birth_date_from_id_number",
    "id_check_char",
    "is_adult",
    "mask_address",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "redact_text",
    "validate_id_number",
    "validate_mobile",
]


class PiiValidationError(ValueError):
    """Raised when a personal-data field fails its format rule."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidConfigError(ValueError):
    """Raised when a configuration mapping has a bad key or value; `.key` names it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key!r}: {reason}")
        self.key = key
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Resident ID numbers (公民身份号码, GB 11643-1999)

ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
# The weighted sum is taken over the digits' ASCII codes; each code is 48 more than its digit.
_ASCII_ZERO_OFFSET = ord("0") * sum(ID_WEIGHTS)
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# The first two digits of the address code (GB/T 2260): the provinces, autonomous regions and municipalities; Taiwan,
# Hong Kong and Macao (71, 81, 82; and 83, the residence permits of Taiwan residents); 91, foreigners' permanent
# residence ID cards of the 2023 format.
ID_PROVINCES = frozenset({*map(str, range(11, 16)), *map(str, range(21, 24)), *map(str, range(31, 38)),
                          *map(str, range(41, 47)), *map(str, range(50, 55)), *map(str, range(61, 66)),
                          "71", "81", "82", "83", "91"})


def id_check_char(first17: str) -> str:
    """Returns the GB 11643 check character for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise PiiValidationError("id_number", "the body must be exactly 17 digits")
    total = sum(map(operator.mul, first17.encode("ascii"), ID_WEIGHTS)) - _ASCII_ZERO_OFFSET
    return ID_CHECK_CHARS[total % 11]


def validate_id_number(s: str) -> str:
    """Returns the normalised 18-character resident ID number or raises PiiValidationError."""
    if not isinstance(s, str):
        raise PiiValidationError("id_number", "must be a string")
    value = s.strip().upper()
    if len(value) != 18:
        raise PiiValidationError("id_number", "must be 18 characters")
    if not value.isascii() or not _ID_SHAPE.fullmatch(value):
        raise PiiValidationError("id_number", "must be 17 digits followed by a digit or X")
    if value[:2] not in ID_PROVINCES:
        raise PiiValidationError("id_number", "the first two digits name no province (GB/T 2260)")
    _birth_date_segment(value)
    if id_check_char(value[:17]) != value[17]:
        raise PiiValidationError("id_number", "check character does not match")
    return value


def birth_date_from_id_number(s: str) -> date:
    """Returns the birth date encoded in a valid 18-character resident ID number."""
    return _birth_date_segment(validate_id_number(s))


def _birth_date_segment(value: str) -> date:
    try:
        born_on = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise PiiValidationError("id_number", "birth date segment is not a real date") from None
    if born_on.year < 1900:  # nobody living was born before: a typed century
        raise PiiValidationError("id_number", "birth date segment is not a real date")
    return born_on


# ---------------------------------------------------------------------------------------------
# Mobile numbers

_MOBILE_SEPARATORS = re.compile(r"[\s\-]")
_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")


def validate_mobile(s: str) -> str:
    """Returns a mainland China mobile number as 11 digits or raises PiiValidationError."""
    if not isinstance(s, str):
        raise PiiValidationError("mobile", "must be a string")
    value = _MOBILE_SEPARATORS.sub("", s)
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    elif value.startswith("86") and len(value) == 13:
        value = value[2:]
    if not value.isascii() or not _MOBILE_SHAPE.fullmatch(value):
        raise PiiValidationError("mobile", "must be an 11-digit mainland mobile number starting 13-19")
    return value


# ---------------------------------------------------------------------------------------------
# Age


def _anniversary(born_on: date, year: int) -> date:
    # A 29 February birthday falls on 28 February in common years: the Civil Code (Art. 202)
    # ends a period on the last day of the month when the month has no corresponding day.
    if born_on.month == 2 and born_on.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return born_on.replace(year=year)


def age_on(birth_date: date, on_date: date) -> int:
    """Returns the age in whole years on a date; the birthday itself counts."""
    if on_date < birth_date:
        raise ValueError("on_date is before birth_date")
    age = on_date.year - birth_date.year
    if on_date < _anniversary(birth_date, on_date.year):
        age -= 1
    return age


def is_adult(birth_date: date, on_date: date, age: int = 18) -> bool:
    """Tells whether a person born on birth_date has reached `age` by on_date."""
    if on_date < birth_date:
        return False
    return age_on(birth_date, on_date) >= age


# ---------------------------------------------------------------------------------------------
# Masking

NAME_MODES = frozenset({"surname", "surname_stars", "remove"})
ADDRESS_MODES = frozenset({"remove", "street", "community"})

# 复姓: compound surnames that keep both characters when a name is masked.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "令狐", "端木", "独孤", "南宫", "西门", "轩辕", "呼延",
        "澹台", "公冶", "太史", "申屠", "闻人", "濮阳", "淳于", "单于", "司空", "钟离",
        "宗政", "拓跋", "百里", "东郭", "万俟", "赫连", "完颜", "第五", "羊舌", "左丘",
    }
)

_COMMUNITY_MARKERS = ("社区居民委员会", "居民委员会", "居委会", "社区")
_STREET_MARKERS = ("街道办事处", "街道", "镇", "乡")

# Health data (健康信息) in free text: diagnoses, conditions and care that concern a person. "隐患" (a
# safety hazard) is common in notices, so 患 counts only in 患有, 患病, 患者 and 罹患.
DEFAULT_HEALTH_TERMS: tuple[str, ...] = (
    "癌", "肿瘤", "白血病", "糖尿病", "高血压", "心脏病", "冠心病", "脑梗", "脑出血", "中风", "偏瘫", "瘫痪",
    "植物人", "尿毒症", "透析", "肾衰", "肝硬化", "肝炎", "乙肝", "结核", "艾滋病", "HIV", "性病", "精神病",
    "精神疾病", "精神障碍", "精神分裂", "抑郁症", "焦虑症", "双相情感", "自闭症", "孤独症", "智力障碍", "智障",
    "痴呆", "阿尔茨海默", "癫痫", "残疾", "伤残", "残障", "失能", "怀孕", "孕妇", "孕产", "孕期", "流产", "不孕",
    "住院", "病情", "确诊", "诊断", "患有", "患病", "患者", "罹患", "病史", "病危", "病重", "重病", "大病",
    "化疗", "手术",
)

# Minors (未成年人) in free text, besides an age under 18 (MINOR_AGE_PATTERN).
DEFAULT_MINOR_TERMS: tuple[str, ...] = (
    "未成年", "未满十八周岁", "未满18周岁", "留守儿童", "困境儿童", "孤儿", "事实无人抚养", "婴儿", "婴幼儿",
    "新生儿", "幼童", "女童", "男童", "患儿", "半岁",
)

# Phrases in which a health or minors' term names a public service, programme or group rather than a
# person's condition: a term inside one of them does not count.
DEFAULT_EXEMPT_PHRASES: tuple[str, ...] = (
    "残疾人联合会", "残疾人补贴", "残疾人两项补贴", "残疾人生活补贴", "残疾人护理补贴", "残疾人之家",
    "残疾人专职委员", "残疾人就业", "残疾人康复", "残疾人无障碍", "两癌筛查", "癌症筛查", "防癌",
    "糖尿病筛查", "高血压筛查", "未成年人保护", "保护未成年人", "预防未成年人犯罪", "未成年人思想道德",
    "婴幼儿照护",
)


@dataclass(frozen=True)
class MaskingRules:
    """Masking formats: how names, phone numbers, ID numbers and addresses are shown, and what free text loses."""

    name: str = "surname"  # surname → 张某; surname_stars → 张**; remove → ""
    placeholder: str = "某"
    phone_keep_first: int = 3
    phone_keep_last: int = 4
    id_number_keep_first: int = 6
    id_number_keep_last: int = 4
    address: str = "remove"  # remove → ""; street / community → keep up to that level
    mask_char: str = "*"
    # Free text: home addresses, health data and minors' data are replaced by `removed_marker`.
    text_addresses: bool = True
    text_health: bool = True
    text_minors: bool = True
    health_terms: tuple[str, ...] = DEFAULT_HEALTH_TERMS
    minor_terms: tuple[str, ...] = DEFAULT_MINOR_TERMS
    exempt_phrases: tuple[str, ...] = DEFAULT_EXEMPT_PHRASES
    removed_marker: str = "[已隐去]"

    def __post_init__(self) -> None:
        _check_choice("name", self.name, NAME_MODES)
        _check_choice("address", self.address, ADDRESS_MODES)
        for key in ("placeholder", "mask_char"):
            value = getattr(self, key)
            if not isinstance(value, str) or len(value) != 1:
                raise InvalidConfigError(key, "must be a single character")
        for key in ("text_addresses", "text_health", "text_minors"):
            if not isinstance(getattr(self, key), bool):
                raise InvalidConfigError(key, "must be true or false")
        for key in ("health_terms", "minor_terms", "exempt_phrases"):
            object.__setattr__(self, key, _terms(key, getattr(self, key)))
        if not isinstance(self.removed_marker, str) or len(self.removed_marker) > 20:
            raise InvalidConfigError("removed_marker", "must be a text of at most 20 characters")
        for key in ("phone_keep_first", "phone_keep_last", "id_number_keep_first", "id_number_keep_last"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidConfigError(key, "must be a non-negative integer")
        # At least four digits of a mobile number stay hidden, and the ID number's birth date
        # (characters 7–14) is never shown.
        if self.phone_keep_first + self.phone_keep_last > 7:
            raise InvalidConfigError("phone_keep_last", "phone_keep_first + phone_keep_last must be ≤ 7")
        if self.id_number_keep_first > 6:
            raise InvalidConfigError("id_number_keep_first", "must be ≤ 6 (the birth date stays hidden)")
        if self.id_number_keep_last > 4:
            raise InvalidConfigError("id_number_keep_last", "must be ≤ 4 (the birth date stays hidden)")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MaskingRules:
        """Builds rules from a configuration mapping, naming the first bad key.

        `extra_health_terms`, `extra_minor_terms` and `extra_exempt_phrases` add to the term lists
        (the defaults, or those given in the same mapping).
        """
        if not isinstance(data, Mapping):
            raise InvalidConfigError("masking", "must be a mapping")
        known = {f.name for f in fields(cls)}
        extras = {f"extra_{name}": name for name in _TERM_LISTS}
        for key in data:
            if key not in known and key not in extras:
                raise InvalidConfigError(str(key), "is not a masking rule")
        kwargs = {key: value for key, value in data.items() if key in known}
        for extra_key, name in extras.items():
            if extra_key in data:
                base = _terms(name, kwargs.get(name, getattr(cls, name)))
                kwargs[name] = base + tuple(t for t in _terms(extra_key, data[extra_key]) if t not in base)
        return cls(**kwargs)


_TERM_LISTS = ("health_terms", "minor_terms", "exempt_phrases")


def _terms(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidConfigError(key, "must be a list of terms")
    terms = list(value)
    if not all(isinstance(t, str) and t.strip() for t in terms):
        raise InvalidConfigError(key, "every term must be a non-empty string")
    return tuple(dict.fromkeys(t.strip() for t in terms))


def _check_choice(key: str, value: object, choices: frozenset[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise InvalidConfigError(key, f"must be one of {sorted(choices)}")


DEFAULT_MASKING_RULES = MaskingRules()


def _surname(name: str) -> str:
    # A two-character name starting with a compound surname (欧阳) is read as surname 欧 and
    # given name 阳: a compound surname always has a given name after it.
    if len(name) > 2 and name[:2] in COMPOUND_SURNAMES:
        return name[:2]
    return name[:1]


def mask_name(name: str, rules: MaskingRules = DEFAULT_MASKING_RULES) -> str:
    """Masks a person's name, keeping only the surname by default ("张三丰" → "张某")."""
    value = name.strip()
    if not value or rules.name == "remove":
        return ""
    surname = _surname(value)
    if rules.name == "surname_stars":
        return surname + rules.mask_char * (len(value) - len(surname))
    return surname + rules.placeholder


def _mask_middle(value: str, keep_first: int, keep_last: int, mask_char: str) -> str:
    if len(value) <= keep_first + keep_last:
        return mask_char * len(value)
    tail = value[len(value) - keep_last :] if keep_last else ""
    return value[:keep_first] + mask_char * (len(value) - keep_first - keep_last) + tail


def mask_email(email: str, rules: MaskingRules = DEFAULT_MASKING_RULES) -> str:
    """Masks an e-mail address's local part, keeping its first character and the domain ("lijianguo@163.com" →
    "l***@163.com")."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}{rules.mask_char * 3}@{domain}"


def mask_phone(phone: str, rules: MaskingRules = DEFAULT_MASKING_RULES) -> str:
    """Masks a phone number's middle digits ("13812341234" → "138****1234")."""
    try:
        digits = validate_mobile(phone)
    except PiiValidationError:
        digits = re.sub(r"\D", "", phone)
    return _mask_middle(digits, rules.phone_keep_first, rules.phone_keep_last, rules.mask_char)


def mask_id_number(id_number: str, rules: MaskingRules = DEFAULT_MASKING_RULES) -> str:
    """Masks an ID number's middle characters, hiding the birth date ("370705********1234")."""
    value = re.sub(r"[\s\-]", "", id_number).upper()
    # A first-generation (15-digit) number ends with its birth date (YYMMDD) and a 3-digit sequence: its last four
    # characters would show the day's last digit.
    keep_last = min(rules.id_number_keep_last, 3) if len(value) == 15 else rules.id_number_keep_last
    return _mask_middle(value, rules.id_number_keep_first, keep_last, rules.mask_char)


def _cut_after_first(text: str, markers: tuple[str, ...]) -> str | None:
    ends = [text.find(m) + len(m) for m in markers if m in text]
    return text[: min(ends)] if ends else None


def mask_address(address: str, rules: MaskingRules = DEFAULT_MASKING_RULES) -> str:
    """Cuts an address to the configured level, or removes it ("" when no level is found)."""
    value = address.strip()
    if rules.address == "remove" or not value:
        return ""
    if rules.address == "community":
        kept = _cut_after_first(value, _COMMUNITY_MARKERS)
        if kept is not None:
            return kept
    return _cut_after_first(value, _STREET_MARKERS) or ""


# ---------------------------------------------------------------------------------------------
# Free-text redaction

# Between the groups of a number written by hand: up to three spaces (a no-break or ideographic space, a tab), dashes
# (ASCII or typographic) or dots ("138 - 1234 - 5678").
_GAP = "[\\s\\-.\u2010-\u2015]{0,3}"

# 18-digit resident ID (birth year 18xx–20xx, real-looking month and day, check digit or X; as written on forms,
# perhaps grouped 6-8-4 or 6-4-4-4 by spaces or dashes; after a word such as "ID" or "身份证") or a
# 15-digit first-generation ID (YYMMDD birth date). The 15-digit form requires YY ≥ 10: grid codes
# are 15 digits too and their seventh digit is always 0 (street segment 001–099), while holders of
# first-generation cards born 1900–1909 no longer exist in practice.
ID_NUMBER_PATTERN: re.Pattern[str] = re.compile(
    r"(?<![0-9])(?:"
    rf"[1-9][0-9]{{5}}{_GAP}(?:18|19|20)[0-9]{{2}}{_GAP}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]){_GAP}[0-9]{{3}}[0-9Xx]"
    r"|[1-9][0-9]{5}[1-9][0-9](?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
    r")(?![0-9A-Za-z])"
)

# Mainland mobile: optional +86 / 0086 / 86 prefix, 11 digits starting 13–19, perhaps grouped 3-4-4 or 4-4-3
# by spaces, dashes or dots ("+86 138-1234-5678", "138.1234.5678", "1381 2345 678"). It may follow a word or a
# sign ("Tel13812345678", "电话-13812345678"), but not a hex digit: a number inside a UUID or a hex token is none.
MOBILE_PATTERN: re.Pattern[str] = re.compile(
    rf"(?<![0-9A-Fa-f])(?:(?:\+|00)?86{_GAP})?1[3-9][0-9](?:{_GAP}[0-9]{{4}}{_GAP}[0-9]{{4}}|[0-9]{_GAP}[0-9]{{4}}{_GAP}[0-9]{{3}})"
    r"(?![0-9A-Za-z])"
)

# A number inside an identifier (a UUID's groups, a hex token) is not a phone number: neither pattern matches right
# after a letter, digit or hyphen, nor right before a letter or digit (nor a landline before a UUID's next group).
# Landline with area code: 0536-1234567, 0536 12345678, (0536)1234567, 010-12345678, 0536—8888888, 0536 888 8888.
LANDLINE_PATTERN: re.Pattern[str] = re.compile(
    r"(?<![0-9A-Za-z\-])(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2})"
    rf"{_GAP}(?:[1-9][0-9]{{6,7}}|[1-9][0-9]{{2,3}}{_GAP}[0-9]{{4}})(?![0-9A-Za-z]|-[0-9A-Fa-f]{{4}}-)"
)

# A bank card: a UnionPay number (62, 16 to 19 digits, perhaps in groups of four), or 12 to 19 digits after a word
# that names a card or an account ("卡号", "账号").
BANK_CARD_PATTERN: re.Pattern[str] = re.compile(
    rf"(?<![0-9A-Za-z\-])62[0-9]{{2}}(?:{_GAP}[0-9]{{4}}){{3}}(?:{_GAP}[0-9]{{1,3}})?(?![0-9A-Za-z]|-[0-9A-Za-z])"
    rf"|(?<=卡号|账号|帐号)[:：\s]*[0-9](?:{_GAP}[0-9]){{11,18}}(?![0-9])"
)

# A WeChat or QQ account after the word that names it ("微信zhangwei1990", "微信号：12345678", "QQ：12345678"),
# but not a mini program or an official account named by a number ("微信12345小程序": the hotline's).
MESSENGER_PATTERN: re.Pattern[str] = re.compile(
    r"(?:微信号?[:：\s]*(?P<account>[A-Za-z0-9][A-Za-z0-9_\-]{4,19})|[Qq]{2}号?[:：\s]*(?P<qq>[1-9][0-9]{4,11}))"
    r"(?![A-Za-z0-9_\-]|\s*(?:小程序|公众号|服务号|视频号))"
)

# Any phone number: a mobile or a landline.
PHONE_PATTERN: re.Pattern[str] = re.compile(f"(?:{MOBILE_PATTERN.pattern})|(?:{LANDLINE_PATTERN.pattern})")

# An e-mail address is contact data like a phone number. ASCII addresses only: the local part may itself be a
# phone number ("13812341234@163.com"), which is why this pattern is tried first.
EMAIL_PATTERN: re.Pattern[str] = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")

# Full-width forms (U+FF01–U+FF5E: "１３８", "Ｘ", "＋８６", "（０５３６）") and the ideographic space, mapped
# to ASCII so phone and ID numbers typed in full width are found. Each character maps to one character,
# so a match in the translated text covers the same span of the original.
_HALF_WIDTH: dict[int, int] = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def half_width(text: str) -> str:
    """Returns the text with full-width ASCII forms (１３８, Ａ, ＋) turned into their ASCII letters and digits."""
    return text.translate(_HALF_WIDTH)


_DIGIT = "[0-9０-９]"
_LETTER = "[A-Za-zＡ-Ｚａ-ｚ]"
_NUMERAL = "[0-9０-９一二三四五六七八九十百零两]"
_SPELLED_DIGIT = "[零〇幺一二三四五六七八九]"
# A building (号楼, 栋, 幢, 座, 号院; a bare 号 only when a unit follows: "3号2单元"; a letter, with or
# without digits, before 座, 栋 or 幢: "A座", "B2栋"), a unit, a floor (only when a room number follows)
# and a room (301室, 502号, or 3–4 bare digits that are not a year, an amount or a count). After a unit, a
# room may also be read out digit by digit in Chinese numerals ("2单元五零二").
_LETTERED_BUILDING = f"(?<!{_LETTER}){_LETTER}{_DIGIT}{{0,2}}(?:座|栋|幢)"
_BUILDING = f"(?:{_NUMERAL}{{1,4}}(?:号楼|栋|幢|座|号院|号(?=\\s*{_NUMERAL}{{1,3}}单元))|{_LETTERED_BUILDING})"
# A unit: "2单元", "西单元"; after a building, also a stairwell "2门", "2门洞" (with a room after it).
_UNIT = f"(?:{_NUMERAL}{{1,3}}|[东西中])单元"
_DOOR = f"{_NUMERAL}{{1,2}}门洞?"
_FLOOR = f"{_NUMERAL}{{1,3}}(?:层|楼)(?=\\s*{_DIGIT})"
_ROOM_BARE = f"{_DIGIT}{{3,4}}(?![0-9０-９年月日天元万千百个人名次岁%.．号楼层路])"
_ROOM = f"(?:{_DIGIT}{{1,5}}(?:室|号(?![楼院]))|{_ROOM_BARE})"
# More rooms after the first: "501、502", "501和502".
_MORE_ROOMS = f"(?:\\s*[、和及]\\s*{_DIGIT}{{3,4}}(?:室|号)?(?![0-9０-９]))*"
# A home on a floor named by its side: "5楼东户", "3号楼西户", "东边户" (not 户外, 户型).
_SIDE_HOME = "[东西中南北](?:边户|户)(?![外型])"
_ROOM_SPELLED = f"{_SPELLED_DIGIT}{{3,4}}(?:室|号)?(?![零〇幺一二三四五六七八九十百千万年月日天元个人名次岁号楼层室])"
_UNIT_ROOM = (f"{_UNIT}(?:\\s*{_FLOOR})?\\s*(?:{_ROOM}|{_ROOM_SPELLED}){_MORE_ROOMS}"
              f"|{_UNIT}\\s*(?:{_NUMERAL}{{1,3}}(?:层|楼)\\s*)?{_SIDE_HOME}")
_DWELLING_TAIL = (f"(?:\\s*{_BUILDING})?(?:\\s*{_UNIT_ROOM}|\\s*{_DOOR}(?:\\s*{_FLOOR})?\\s*{_ROOM}{_MORE_ROOMS}"
                  f"|(?:\\s*{_UNIT})?(?:\\s*{_FLOOR})?(?:\\s*{_ROOM})?)")
# A road, a lane or a village, or a numbered village group (村民小组: "李家村3组") before a house number.
_ROAD_END = "(?:(?<=[路街巷弄道里村])|(?<=胡同)|(?<=[0-9０-９一二三四五六七八九十]组))"
_RESIDENCE_CUES = ("家庭住址", "居住于", "居住在", "户籍地", "家住", "住在", "住址", "现住", "现居", "住于")
_CLAUSE_CHARS = "[^，,。；;！!？?\\n\\r（）()【】]"

# A home address typed into free text. Place names (roads, estates, communities) stay; what pins down a
# dwelling is replaced:
#   - a house number after a road or a village group, with any building, unit and room after it:
#     胜利东街[123号5号楼2单元301室], 李家村3组[15号];
#   - a room number after a building and/or a unit: 幸福小区[3号楼2单元502], [5号楼301室], [2单元502],
#     光明花园[A座1203], [二单元五零二];
#   - a room written alone (301室) or as building-unit-room after an estate: 幸福小区[3-2-301];
#   - whatever follows a residence cue (家住, 住址, ...) up to a building, house or room number:
#     家住[幸福小区3号楼].
# A building or a unit without a room describes a shared place ("3号楼的路灯", "3号楼2单元楼道灯不亮")
# and stays, as do counts ("12户居民") and dates ("3月12号").
HOME_ADDRESS_PATTERN: re.Pattern[str] = re.compile(
    "(?:" + "|".join(f"(?<={re.escape(cue + sep)})" for cue in _RESIDENCE_CUES for sep in ("", "：", ":", " ")) + ")"
    f"(?![：:\\s]){_CLAUSE_CHARS}{{0,20}}?(?:{_NUMERAL}{{1,5}}(?:号楼|号院|号|栋|幢|座|单元|门洞|门|室)|{_LETTERED_BUILDING})"
    f"(?:\\s*(?:{_NUMERAL}{{1,5}}(?:号楼|号院|号|栋|幢|座|单元|层|楼|室)|{_LETTERED_BUILDING}|{_ROOM_BARE})"
    f"|(?<=单元)\\s*{_ROOM_SPELLED})*"
    f"|{_ROAD_END}\\s*[甲乙丙丁]?{_DIGIT}{{1,5}}(?:[-－—]{_DIGIT}{{1,4}})?(?:号院|号)(?![楼文令段路])(?:之{_DIGIT}{{1,3}})?"
    f"{_DWELLING_TAIL}"
    f"|(?<![0-9０-９])(?:(?:{_BUILDING}\\s*)?{_UNIT_ROOM}|{_BUILDING}(?:\\s*{_FLOOR})?\\s*{_ROOM}{_MORE_ROOMS}"
    f"|{_BUILDING}\\s*(?:{_NUMERAL}{{1,3}}(?:层|楼)\\s*)?{_SIDE_HOME}"
    f"|{_BUILDING}\\s*{_DOOR}(?:\\s*{_FLOOR})?\\s*{_ROOM}{_MORE_ROOMS})"
    f"|(?<![0-9０-９]){_NUMERAL}{{1,4}}(?:号楼|栋|幢|座|#楼?)\\s*{_DIGIT}{{1,2}}[-－—]{_DIGIT}{{3,4}}(?![0-9０-９元])"
    f"|(?<![0-9０-９]){_DIGIT}{{3,4}}室"
    f"|(?<=[区园苑寓厦院庄城里村])\\s*{_DIGIT}{{1,3}}[-－—]{_DIGIT}{{1,2}}[-－—]{_DIGIT}{{3,4}}(?![0-9０-９])"
)

# An age under 18 (12岁, 3周岁, 十二岁, 两岁), unless it bounds a range or a threshold ("6岁以下",
# "6至12岁", "3-6岁"): those describe a rule or a service, not a child.
_AGE_RANGE_AFTER = "(?!\\s*(?:以下|以上|以内|及以下|及以上|至|到|~|～|-|－|—|或))"
MINOR_AGE_PATTERN: re.Pattern[str] = re.compile(
    f"(?<![0-9０-９.．至到~～\\-－—])(?:[1１][0-7０-７]|{_DIGIT})(?:[.．]{_DIGIT})?\\s*(?:周岁|岁){_AGE_RANGE_AFTER}"
    f"|(?<![一二三四五六七八九十百千两零至到])(?:十[一二三四五六七]?|[一二三四五六七八九两])(?:周岁|岁){_AGE_RANGE_AFTER}"
)

# Health data and minors' data are removed with their clause: "其子患有抑郁症" says as much without the
# diagnosis. A clause ends at Chinese or Latin punctuation, a bracket or a full-width colon; removed
# clauses that follow each other within a sentence become one marker. A clause about a public service that
# names a condition but is not among the exempt phrases is removed too: on a public notice, losing a
# clause is acceptable, showing a resident's diagnosis is not.
_CLAUSE_BREAK = re.compile("[，,。；;！!？?\\n\\r（）()【】：]")
_CLAUSE_JOINERS = re.compile("[，,；;、\\s]*")


@lru_cache(maxsize=64)
def _terms_pattern(terms: tuple[str, ...], with_ages: bool) -> re.Pattern[str] | None:
    alternatives = [re.escape(t) for t in sorted(terms, key=len, reverse=True)]
    if with_ages:
        alternatives.append(MINOR_AGE_PATTERN.pattern)
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def _sensitive_spans(text: str, rules: MaskingRules) -> list[tuple[int, int]]:
    """Returns the clauses of a text that carry health data or minors' data, merged and in order."""
    terms = (rules.health_terms if rules.text_health else ()) + (rules.minor_terms if rules.text_minors else ())
    pattern = _terms_pattern(terms, rules.text_minors)
    if pattern is None:
        return []
    exempt_pattern = _terms_pattern(rules.exempt_phrases, False)
    exempt = [m.span() for m in exempt_pattern.finditer(text)] if exempt_pattern else []
    # Exempt phrases do not overlap and come in order, so only the last one starting at or before a
    # match can contain it.
    exempt_starts = [start for start, _ in exempt]
    breaks = [m.start() for m in _CLAUSE_BREAK.finditer(text)]
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        covering = bisect_right(exempt_starts, match.start()) - 1
        if covering >= 0 and match.end() <= exempt[covering][1]:
            continue
        before = bisect_left(breaks, match.start())
        start = breaks[before - 1] + 1 if before else 0
        after = bisect_left(breaks, match.end())
        end = breaks[after] if after < len(breaks) else len(text)
        if spans and (start <= spans[-1][1] or _CLAUSE_JOINERS.fullmatch(text, spans[-1][1], start)):
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _remove_sensitive_clauses(text: str, rules: MaskingRules) -> str:
    spans = _sensitive_spans(text, rules)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], rules.removed_marker]
        last = end
    parts.append(text[last:])
    return "".join(parts)


# A local landline number written without its area code, found by the word before it ("电话8123456").
LOCAL_NUMBER_PATTERN: re.Pattern[str] = re.compile(
    r"(?:电话|座机|固话|联系方式|号码|热线|手机)[:：\s]*(?P<local>[1-9][0-9]{2,3}[-\s]?[0-9]{4})(?![0-9])"
    r"(?![-.\s\u2010-\u2015]{1,2}[0-9])")  # not the first part of a longer number (a mobile's 3-4-4)


@lru_cache(maxsize=256)
def _redaction_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [
        f"(?P<email>{EMAIL_PATTERN.pattern})",
        f"(?P<id>{ID_NUMBER_PATTERN.pattern})",
        f"(?P<card>{BANK_CARD_PATTERN.pattern})",
        f"(?P<phone>{PHONE_PATTERN.pattern})",
        f"(?P<cued>{LOCAL_NUMBER_PATTERN.pattern})",
        f"(?P<messenger>{MESSENGER_PATTERN.pattern})",
    ]
    if names:
        alternatives.append("(?P<name>" + "|".join(re.escape(n) for n in names) + ")")
    return re.compile("|".join(alternatives))


def redact_text(
    text: str, rules: MaskingRules = DEFAULT_MASKING_RULES, known_names: Iterable[str] = ()
) -> str:
    """Masks e-mail addresses, ID numbers, phone numbers and the given full names found in free text, and removes home
    addresses and the clauses that carry health data or minors' data (as the rules enable)."""
    if rules.text_health or rules.text_minors:
        text = _remove_sensitive_clauses(text, rules)
    if rules.text_addresses:
        text = HOME_ADDRESS_PATTERN.sub(lambda _: rules.removed_marker, text)
    # Numbers and names are looked for in the half-width text and replaced in the original; a full-width
    # number is masked in its ASCII form ("１３８００１３８０００" → "138****8000").
    half_width = text.translate(_HALF_WIDTH)
    # Longest names first, so "张三丰" is masked whole rather than as "张三" + "丰".
    names = {n.strip().translate(_HALF_WIDTH) for n in known_names if n and n.strip()}
    pattern = _redaction_pattern(tuple(sorted(names, key=lambda n: (-len(n), n))))

    def replace(match: re.Match[str]) -> str:
        if match.group("email") is not None:
            return mask_email(match.group("email"), rules)
        if match.group("id") is not None:
            return mask_id_number(match.group("id"), rules)
        if match.group("card") is not None:
            # The word and the colon before a cued number stay; the number keeps its last four digits.
            found = text[match.start() : match.end()]
            first = next(i for i, c in enumerate(half_width[match.start() : match.end()]) if c.isdigit())
            digits = re.sub(r"[^0-9]", "", found[first:].translate(_HALF_WIDTH))
            return found[:first] + _mask_middle(digits, 0, 4, rules.mask_char)
        if match.group("phone") is not None:
            return mask_phone(match.group("phone"), rules)
        if match.group("cued") is not None:
            # The word before the number stays; seven or eight digits keep at most their last two (the first three
            # and last four a mobile keeps would show nearly all of them).
            local = match.group("local")
            kept = _mask_middle(local, 0, min(rules.phone_keep_last, 2), rules.mask_char)
            return text[match.start() : match.start("local")] + kept
        if match.group("messenger") is not None:
            # The word stays; the account keeps its first character.
            account = "account" if match.group("account") is not None else "qq"
            return text[match.start() : match.start(account)] + match.group(account)[0] + rules.mask_char * 3
        return mask_name(text[match.start() : match.end()], rules)

    # One pass over all patterns, so a masked value is never matched again.
    parts, last = [], 0
    for match in pattern.finditer(half_width):
        parts += [text[last : match.start()], replace(match)]
        last = match.end()
    parts.append(text[last:])
    return "".join(parts)
