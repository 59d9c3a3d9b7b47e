"""Chinese labels of the codes the public sees (kinds, categories, stages, levels, roles, fund types)."""

from __future__ import annotations

KIND_LABELS = {"party": "党务", "residents": "居务", "finance": "财务"}

CATEGORY_LABELS = {
    "matter_decision": "议事决定",
    "matter_progress": "实施进度",
    "matter_evaluation": "评议结果",
    "mediation_statistics": "调解统计",
    "duty_change": "网格职责变更",
    "finance_statement": "财务收支",
    "minutes": "会议纪要",
    "covenant": "居民公约",
    "notice": "公告",
}

# The title a matter's items carry where its own is not shown (withheld as personal data).
UNTITLED_MATTER = "社区事项"

PLACED_LABEL = "转至所在社区办理"  # a matter placed in triage at the unit it is about (no stage change)
MEETING_DEMANDED_LABEL = "五分之一以上居民提议召开居民会议"  # enough residents asked for a residents' meeting (no stage change)
VOTE_CANCELLED_LABEL = "表决取消，待重新安排"  # an open vote called off with a reason (back to routing)
COVENANT_FILED_LABEL = "居民公约已报街道备案"  # a covenant the meeting passed, filed with the street office (no stage change)
STAGE_LABELS = {
    "raised": "已提出", "accepted": "已受理", "rejected": "未受理", "merged": "已合并", "routed": "已分流",
    "deliberating": "协商中", "deciding": "表决中", "decided": "已决定", "not_passed": "未通过",
    "implementing": "实施中", "evaluating": "评议中", "reopened": "重办", "closed": "已办结", "withdrawn": "已撤回",
}

# Stages in lifecycle order, for charts.
STAGE_ORDER = tuple(STAGE_LABELS)

LEVEL_LABELS = {"grid": "网格", "community": "社区", "street": "街道", "district": "区"}
LEVEL_ORDER = ("grid", "community", "street", "district")

OUTCOME_LABELS = {
    "opened": "受理", "escalated": "上移", "agreement_reached": "调解成功", "terminated": "终止",
    "referred": "转法定途径",
}

ROLE_LABELS = {
    "grid_secretary": "网格党支部书记", "grid_manager": "网格员", "grid_head": "网格长",
    "building_head": "楼长", "unit_head": "单元长",
}

# Grid staff roles whose duty changes are disclosed; the party secretary's is party affairs.
DUTY_ROLES = frozenset(ROLE_LABELS)
PARTY_DUTY_ROLES = frozenset({"grid_secretary"})

FUND_LABELS = {
    "party_service": "党组织服务群众经费",
    "community_work": "社区工作经费",
    "grid_service": "网格服务经费",
    "other": "其他",
}

QUESTION_KIND_LABELS = {"question": "询问", "objection": "异议"}


def yuan(cents: int | None) -> str:
    """Formats an amount in cents as yuan with two decimals ("¥1,234.50")."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}¥{whole:,}.{frac:02d}"
