"""Decision channels, matter categories, and finding matters that say the same thing."""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Channel(StrEnum):
    """The six channels through which a matter is decided."""

    RESIDENTS_MEETING = "residents_meeting"  # 居民(代表)会议
    DELIBERATION = "deliberation"  # 协商议事: 社区议事会、议事顾问团、民情议事厅、两代表一委员工作室
    NEIGHBOURHOOD = "neighbourhood"  # 邻里互助: 巷巷会、楼院共建会、单元互助会
    SUPERVISION = "supervision"  # 居务监督
    COVENANT = "covenant"  # 居民公约: drafted, passed by the meeting, filed with the street office
    SOCIAL_ORGANISATION = "social_organisation"  # 社区社会组织

    @property
    def label(self) -> str:
        """Returns the Chinese name shown to users."""
        return _CHANNEL_LABELS[self]


_CHANNEL_LABELS = {
    Channel.RESIDENTS_MEETING: "居民(代表)会议",
    Channel.DELIBERATION: "协商议事",
    Channel.NEIGHBOURHOOD: "邻里互助",
    Channel.SUPERVISION: "居务监督",
    Channel.COVENANT: "居民公约",
    Channel.SOCIAL_ORGANISATION: "社区社会组织",
}


class ScopeLevel(StrEnum):
    """How much of the community a matter touches."""

    COMMUNITY = "community"
    GRID = "grid"
    BUILDING = "building"
    UNIT = "unit"


class Nature(StrEnum):
    """What kind of matter it is, as triage sees it."""

    GENERAL = "general"  # nothing special: the scope decides the channel
    COVENANT = "covenant"
    SUPERVISION = "supervision"
    SERVICE = "service"
    SOCIAL_ORGANISATION = "social_organisation"
    DISPUTE_OF_INTEREST = "dispute_of_interest"
    DELIBERATION = "deliberation"


@dataclass(frozen=True)
class Proposal:
    """A suggested channel with the reason staff see before they confirm it."""

    channel: Channel
    reason: str


_BY_NATURE: dict[Nature, tuple[Channel, str]] = {
    Nature.COVENANT: (Channel.COVENANT, "制定或修订居民公约：起草后提交居民会议通过，并报街道备案"),
    Nature.SUPERVISION: (Channel.SUPERVISION, "涉及居务监督，由居务监督委员会办理"),
    Nature.SERVICE: (Channel.SOCIAL_ORGANISATION, "服务类事项，由社区社会组织承接"),
    Nature.SOCIAL_ORGANISATION: (Channel.SOCIAL_ORGANISATION, "由社区社会组织承接"),
    Nature.DISPUTE_OF_INTEREST: (Channel.DELIBERATION, "涉及利益分歧，先经协商议事平台协商"),
    Nature.DELIBERATION: (Channel.DELIBERATION, "需要协商的事项，提交协商议事平台"),
}

_BY_SCOPE: dict[ScopeLevel, tuple[Channel, str]] = {
    ScopeLevel.COMMUNITY: (Channel.RESIDENTS_MEETING, "涉及全社区，由居民(代表)会议决定"),
    # A grid is a few lanes or courtyards: the lane meeting (巷巷会) is its neighbourhood forum.
    ScopeLevel.GRID: (Channel.NEIGHBOURHOOD, "涉及网格内若干楼院，由巷巷会商议解决"),
    ScopeLevel.BUILDING: (Channel.NEIGHBOURHOOD, "涉及一栋楼或一个楼院，由楼院共建会商议解决"),
    ScopeLevel.UNIT: (Channel.NEIGHBOURHOOD, "涉及一个单元，由单元互助会商议解决"),
}


def propose_channel(scope_level: ScopeLevel | str, nature: Nature | str = Nature.GENERAL) -> Proposal:
    """Suggests a decision channel: a matter's nature wins, otherwise its scope decides."""
    try:
        scope_level = ScopeLevel(scope_level)
    except ValueError:
        raise ValueError(f"scope_level: unknown scope {scope_level!r}") from None
    try:
        nature = Nature(nature)
    except ValueError:
        raise ValueError(f"nature: unknown nature {nature!r}") from None
    channel, reason = _BY_NATURE.get(nature) or _BY_SCOPE[scope_level]
    return Proposal(channel=channel, reason=reason)


class Category(StrEnum):
    """The subject area of a matter, with a stable ascii code."""

    CITY_MANAGEMENT = "city_management"  # 城市管理
    SOCIAL_GOVERNANCE = "social_governance"  # 社会治理
    LAND_EXPROPRIATION = "land_expropriation"  # 土地征收
    PUBLIC_ORDER = "public_order"  # 社会治安
    CITY_CAMPAIGNS = "city_campaigns"  # 城市创建 (文明城市、卫生城市等创建)
    PROPERTY_MANAGEMENT = "property_management"  # 物业管理
    OLD_ESTATE_RENOVATION = "old_estate_renovation"  # 老旧小区改造
    ENVIRONMENTAL_SANITATION = "environmental_sanitation"  # 环境卫生
    PUBLIC_SAFETY = "public_safety"  # 公共安全
    COMMUNITY_PLANNING = "community_planning"  # 社区发展规划

    @property
    def label(self) -> str:
        """Returns the Chinese name shown to users."""
        return _CATEGORY_LABELS[self]

    @classmethod
    def from_label(cls, label: str) -> Category:
        """Returns the category with a Chinese name."""
        for category, name in _CATEGORY_LABELS.items():
            if name == label.strip():
                return category
        raise ValueError(f"category: unknown category name {label!r}")


_CATEGORY_LABELS = {
    Category.CITY_MANAGEMENT: "城市管理",
    Category.SOCIAL_GOVERNANCE: "社会治理",
    Category.LAND_EXPROPRIATION: "土地征收",
    Category.PUBLIC_ORDER: "社会治安",
    Category.CITY_CAMPAIGNS: "城市创建",
    Category.PROPERTY_MANAGEMENT: "物业管理",
    Category.OLD_ESTATE_RENOVATION: "老旧小区改造",
    Category.ENVIRONMENTAL_SANITATION: "环境卫生",
    Category.PUBLIC_SAFETY: "公共安全",
    Category.COMMUNITY_PLANNING: "社区发展规划",
}


# A title's bigrams: stored with each matter (title_bigrams, as integers: bigram_codes) and compared in the database;
# suggest_duplicates below is the rule the database's scoring is tested against.
@lru_cache(maxsize=8192)
def _shingles(title: str) -> frozenset[str]:
    # NFKC folds full-width letters and digits; punctuation and spaces carry no meaning in a title.
    text = "".join(ch for ch in unicodedata.normalize("NFKC", title).casefold() if ch.isalnum())
    if len(text) < 2:
        return frozenset({text} if text else ())
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


def title_bigrams(title: str) -> list[str]:
    """Returns a title's distinct character bigrams, sorted."""
    return sorted(_shingles(title))


def _char_code(ch: str) -> int:
    # A title's characters are letters and digits, never UTF-16 surrogates (U+D800-DFFF): a character beyond the Basic
    # Multilingual Plane (CJK Extension B, in some names) takes a surrogate slot by its low 11 bits, so it never meets
    # a character of the plane; two such rare characters may share a slot.
    cp = ord(ch)
    return cp if cp <= 0xFFFF else 0xD800 | (cp & 0x7FF)


def _shingle_code(shingle: str) -> int:
    # Two characters as the two 16-bit halves of a 32-bit integer; one character (a one-letter title) with a high half
    # of 0, which no bigram has (its first character is a letter or digit, from U+0030). As PostgreSQL's int4.
    value = _char_code(shingle) if len(shingle) == 1 else _char_code(shingle[0]) << 16 | _char_code(shingle[1])
    return value - (1 << 32) if value >= 1 << 31 else value


def bigram_codes(title: str) -> list[int]:
    """Returns a title's distinct character bigrams as integers, sorted: what a matter stores (title_bigrams) and the
    database compares (intarray's intersection, rather than a text comparison per pair of bigrams)."""
    return sorted({_shingle_code(s) for s in _shingles(title)})


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def similarity(a_title: str, b_title: str) -> float:
    """Returns the Jaccard similarity of two titles' character bigrams, from 0.0 to 1.0."""
    return _jaccard(_shingles(a_title), _shingles(b_title))


@dataclass(frozen=True)
class DuplicateSuggestion:
    """An existing matter whose title looks like the new one."""

    matter_id: Hashable
    title: str
    score: float


def suggest_duplicates(
    title: str, candidates: Iterable[tuple[Hashable, str]], threshold: float = 0.5
) -> list[DuplicateSuggestion]:
    """Lists (id, title) candidates at or above the threshold, most similar first."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold: must be between 0 and 1, got {threshold!r}")
    mine = _shingles(title)
    found = []
    for matter_id, other in candidates:
        score = _jaccard(mine, _shingles(other))
        if score >= threshold and score > 0:
            found.append(DuplicateSuggestion(matter_id=matter_id, title=other, score=score))
    # sorted() is stable, so equal scores keep the caller's order (e.g. newest first).
    return sorted(found, key=lambda s: -s.score)
