"""Flagging disputes likely to turn violent (纠纷激化) for the police at once.

People's Mediation Law art. 25: a mediator who finds that a dispute may lead to a public-security or
criminal case reports it to the local police without delay. A case is flagged when its assessed risk is
high or when any sign of likely violence is recorded, whatever the assessed level.
"""

from collections.abc import Iterable
from enum import StrEnum


class RiskLevel(StrEnum):
    """The mediator's overall assessment of a dispute's risk."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RiskIndicator(StrEnum):
    """A recorded sign that a dispute may turn violent; each one alone flags the case."""

    THREAT = "threat"  # threats of harm against a party or their family
    WEAPON = "weapon"  # a weapon mentioned, shown or at hand
    PRIOR_VIOLENCE = "prior_violence"  # earlier assault or fights between the parties
    SELF_HARM = "self_harm"  # threats of suicide or self-harm
    MASS_GATHERING = "mass_gathering"  # a group gathering or being mobilised over the dispute


def police_flag_reasons(
    risk_level: RiskLevel | str | None = None,
    indicators: Iterable[RiskIndicator | str] = (),
) -> tuple[str, ...]:
    """Returns why a case must be flagged for the police, empty when it need not be."""
    reasons: list[str] = []
    if risk_level is not None and RiskLevel(risk_level) is RiskLevel.HIGH:
        reasons.append(f"risk_level:{RiskLevel.HIGH}")
    seen = {RiskIndicator(i) for i in indicators}
    reasons.extend(f"indicator:{i}" for i in RiskIndicator if i in seen)
    return tuple(reasons)


def needs_police_flag(
    risk_level: RiskLevel | str | None = None,
    indicators: Iterable[RiskIndicator | str] = (),
) -> bool:
    """Tells whether a case is likely to turn violent and must be flagged for the police at once."""
    return bool(police_flag_reasons(risk_level, indicators))
