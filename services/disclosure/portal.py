"""The public portal (三务公开), server-rendered HTML in Simplified Chinese, usable on a phone.

Pages work without JavaScript; charts are inline SVG. The gateway serves them at / and /portal/...
Everything shown comes from the same redacted rows as /public/v1.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from html import escape
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from services.disclosure import labels
from services.disclosure.charts import bar_chart, stacked_chart
from services.disclosure.http import cached_response
from services.disclosure.reads import STEP_LABELS, PublicReader, decode_cursor
from services.disclosure.repository import ItemFilter
from services.disclosure.rules.cadence import SHANGHAI
from services.disclosure.schemas import Kind, UnitCodeShape
from youmin.kit import replica
from youmin.kit.errors import SafeStr
from youmin.kit.replica import UNIT_CODE_PATTERN

router = APIRouter(prefix="/portal", include_in_schema=False)

DISTRICT = "370705"
DISTRICT_NAME = "奎文区"
HTML = "text/html; charset=utf-8"
BOARD_SIZE = 8

STYLE = """
*{box-sizing:border-box}body{margin:0;font-family:-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
color:#222;background:#f4f5f7;line-height:1.6}header{background:#b22222;color:#fff;padding:12px 16px}
header a{color:#fff;text-decoration:none}header h1{margin:0;font-size:1.2rem}main{max-width:960px;margin:0 auto;padding:12px}
.crumbs{font-size:.9rem;margin:4px 0 12px}.crumbs a{color:#b22222}section,.card{background:#fff;border-radius:8px;
padding:12px 14px;margin-bottom:12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}h2{font-size:1.05rem;margin:0 0 8px;
border-left:4px solid #b22222;padding-left:8px}ul.units{list-style:none;padding:0;margin:0;display:grid;
grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px}ul.units a{display:block;padding:10px;border:1px solid #e3e3e3;
border-radius:6px;text-decoration:none;color:#222;background:#fafafa}ul.items{list-style:none;padding:0;margin:0}
ul.items li{padding:8px 0;border-bottom:1px solid #eee}ul.items a{color:#1a4f8b;text-decoration:none}
.meta{color:#777;font-size:.82rem}.tag{display:inline-block;font-size:.75rem;padding:0 6px;border-radius:3px;
background:#fdecea;color:#b22222;margin-right:4px}.tag.major{background:#b22222;color:#fff}
.table-wrap{overflow-x:auto;max-width:100%}table{border-collapse:collapse;width:100%;font-size:.9rem}
table.finance td:first-child{min-width:6em}caption{font-weight:bold;padding:4px}th,td{border:1px solid #e3e3e3;padding:6px;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}tfoot td{font-weight:bold;background:#fafafa}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px}figure.chart{margin:0}
figcaption{font-weight:bold;margin-bottom:4px}.empty{color:#999}svg.progress{display:block;width:100%;height:14px}ol.timeline{padding-left:20px}
.qa{border-top:1px dashed #ddd;padding:8px 0}.overdue{color:#c0392b;font-weight:bold}.body{white-space:pre-wrap}
footer{text-align:center;color:#999;font-size:.8rem;padding:16px}.more{display:inline-block;margin-top:6px}
@media (max-width:480px){main{padding:8px}th,td{padding:4px}table{font-size:.8rem}}
"""

# The pages carry no script, form, frame or outside resource, and one stylesheet: the policy allows exactly that.
PORTAL_CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def when(value: str | datetime | None) -> str:
    """Formats an instant in Beijing time."""
    if not value:
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def page(title: str, body: str, crumbs: list[tuple[str, str | None]] = ()) -> bytes:
    """Wraps a page body in the portal's layout."""
    trail = " › ".join(f'<a href="{escape(href)}">{escape(label)}</a>' if href else escape(label)
                       for label, href in crumbs)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · {DISTRICT_NAME}三务公开</title><style>{STYLE}</style></head><body>"
        f'<header><h1><a href="/portal/">{DISTRICT_NAME}“三务”公开</a></h1></header><main>'
        + (f'<nav class="crumbs">{trail}</nav>' if crumbs else "")
        + body
        + "</main><footer>党务、居务、财务公开 · 个人信息已依法脱敏</footer></body></html>"
    ).encode()


async def _render(request: Request, build) -> Response:
    async def render() -> tuple[bytes, str]:
        async with request.app.state.sessions() as session:
            return await build(PublicReader(session)), HTML

    return await cached_response(request, render, max_age=request.app.state.settings.public_max_age_seconds,
                                 headers={"Content-Security-Policy": PORTAL_CSP})


def error_page(heading: str, what: str, status_code: int) -> Response:
    """The portal's page for a request it cannot answer (the status says why)."""
    return Response(page(heading, f'<section><h2>{escape(heading)}</h2><p>{escape(what)}</p>'
                         '<p><a href="/portal/">返回首页</a></p></section>'), status_code=status_code, media_type=HTML,
                    headers={"Content-Security-Policy": PORTAL_CSP})


def not_found(what: str) -> Response:
    return error_page("未找到", what, status_code=404)


def unit_list(units: list[dict[str, Any]], heading: str) -> str:
    if not units:
        return f"<section><h2>{escape(heading)}</h2><p class='empty'>暂无</p></section>"
    links = "".join(f'<li><a class="unit-link" data-code="{u["code"]}" href="/portal/units/{u["code"]}">'
                    f'{escape(u["name"] or u["code"])}</a></li>' for u in units)
    return f'<section><h2>{escape(heading)}</h2><ul class="units">{links}</ul></section>'


def item_line(item: dict[str, Any]) -> str:
    tags = f'<span class="tag">{escape(item["category_label"])}</span>'
    if item["major"]:
        tags = '<span class="tag major">重大</span>' + tags
    place = item["unit_name"] or item["unit_code"]
    return (f'<li>{tags}<a class="item-link" href="/portal/items/{item["id"]}">{escape(item["title"])}</a>'
            f'<div class="meta">{escape(place)} · {when(item["published_at"])}</div></li>')


async def charts_for(reader: PublicReader, code: str) -> str:
    stages = await reader.matters_by_stage(code)
    matters_chart = bar_chart([(s["label"], s["count"]) for s in stages], title="议事事项阶段分布")
    rows = await reader.mediation_statistics(code, ["level", "outcome"])
    outcomes = [k for k in labels.OUTCOME_LABELS if k != "opened"]
    by_level: dict[str, dict[str, int]] = {}
    for row in rows:
        by_level.setdefault(row["level"], {})[row["outcome"]] = row["count"]
    groups = [(labels.LEVEL_LABELS.get(level, level), [(o, by_level[level].get(o, 0)) for o in outcomes])
              for level in labels.LEVEL_ORDER if level in by_level]
    mediation_chart = stacked_chart(groups, [(o, labels.OUTCOME_LABELS[o]) for o in outcomes],
                                    title="矛盾纠纷调解结果（按层级）")
    taken_in = sum(row["count"] for row in rows if row["outcome"] == "opened")
    if taken_in and not any(v for _, values in groups for _, v in values):
        # Disputes taken in, none finished yet: not "no data" (read as no disputes at all).
        mediation_chart = (f'<figure class="chart"><figcaption>矛盾纠纷调解结果（按层级）</figcaption>'
                           f'<p class="empty">已受理 {taken_in} 件，暂无办结结果</p></figure>')
    return f'<section><h2>统计图表</h2><div class="charts">{matters_chart}{mediation_chart}</div></section>'


@router.get("/")
async def home(request: Request) -> Response:
    """The portal's home: pick a street."""

    async def build(reader: PublicReader) -> bytes:
        streets = await reader.children(DISTRICT)
        board = await reader.page(ItemFilter(unit_prefix=DISTRICT), BOARD_SIZE, None)
        latest = "".join(item_line(i) for i in board.items) or "<li class='empty'>暂无公开事项</li>"
        body = (unit_list(streets, "选择街道")
                + f'<section><h2>最新公开</h2><ul class="items">{latest}</ul></section>'
                + await charts_for(reader, DISTRICT))
        return page(f"{DISTRICT_NAME}三务公开", body)

    return await _render(request, build)


@router.get("/units/{code}")
async def unit_page(
    request: Request,
    code: Annotated[str, Path(pattern=UNIT_CODE_PATTERN), UnitCodeShape],
    kind: Kind | None = None,
    cursor: Annotated[SafeStr | None, Query(max_length=200)] = None,
) -> Response:
    """A street (pick a community) or a community (its disclosure board, charts)."""
    if cursor:
        decode_cursor(cursor, "n")  # a hand-made cursor is a 422 naming it, whatever the unit
    async with request.app.state.sessions() as session:
        reader = PublicReader(session)
        unit = await reader.unit(code)
        if unit is None:
            # A unit that moved (社区调整): its old address (a printed QR code, a bookmark) leads to it.
            today = replica.code_today(code, await replica.all_moves(session))
            if today != code:
                return RedirectResponse(f"/portal/units/{today}", status_code=301)
            # A community the replica does not know yet, but which has items, still shows them; a made-up code does
            # not show an empty board (read as a community that disclosed nothing).
            if len(code) != 12 or not (await reader.page(ItemFilter(unit_prefix=code), 1, None)).items:
                return not_found(f"没有编码为 {code} 的单位")

    async def build(reader: PublicReader) -> bytes:
        name = (unit or {}).get("name") or code
        crumbs: list[tuple[str, str | None]] = [(DISTRICT_NAME, "/portal/")]
        for a in (unit or {}).get("ancestors", []):
            if a["code"] != DISTRICT:
                crumbs.append((a["name"] or a["code"], f"/portal/units/{a['code']}"))
        crumbs.append((name, None))
        children = [c for c in (unit or {}).get("children", []) if c["level"] in ("street", "community")]
        body = unit_list(children, "选择社区") if children else ""
        kinds = [kind] if kind else list(labels.KIND_LABELS)
        for k in kinds:
            board = await reader.page(ItemFilter(unit_prefix=code, kind=k), BOARD_SIZE if not kind else 20, cursor)
            lines = "".join(item_line(i) for i in board.items) or "<li class='empty'>暂无</li>"
            more = (f'<a class="more" href="/portal/units/{code}?kind={k}&amp;cursor={board.next_cursor}">更多 ›</a>'
                    if board.next_cursor else "")
            body += (f'<section class="board" data-kind="{k}"><h2>{labels.KIND_LABELS[k]}公开</h2>'
                     f'<ul class="items">{lines}</ul>{more}</section>')
        matters = await reader.matters_in(code, None, 10)
        if matters:
            rows = "".join(
                f'<li><a class="matter-link" href="/portal/matters/{m["matter_id"]}">{escape(m["public_title"] or "社区事项")}'
                f'</a> <span class="tag">{escape(m["stage_label"])}</span></li>' for m in matters)
            body += f'<section><h2>议事事项进展</h2><ul class="items">{rows}</ul></section>'
        body += await charts_for(reader, code)
        body += (f'<p class="meta">订阅：<a href="/public/v1/units/{code}/feed.atom">Atom</a> · 导出：'
                 f'<a href="/public/v1/items.csv?unit={code}">CSV</a> · '
                 f'<a href="/public/v1/items.csv?unit={code}&amp;lines=true">财务明细 CSV</a></p>')
        return page(f"{name}三务公开", f"<h2 class='unit-name'>{escape(name)}</h2>{body}", crumbs)

    return await _render(request, build)


def finance_table(content: dict[str, Any]) -> str:
    lines = content.get("lines", [])
    # The opening balance (期初) is shown when the statement gives it for some line; its total when for every line.
    openings = [line.get("opening_balance_cents") for line in lines]
    with_opening = any(o is not None for o in openings)
    opening_total = sum(openings) if openings and all(o is not None for o in openings) else None

    def opening_cell(cents: int | None) -> str:
        return f'<td class="num">{labels.yuan(cents)}</td>' if with_opening else ""

    rows = "".join(
        f'<tr><td>{escape(line.get("fund_label") or line["fund_type"])}</td>{opening_cell(line.get("opening_balance_cents"))}'
        f'<td class="num">{labels.yuan(line["income_cents"])}</td><td class="num">{labels.yuan(line["expenditure_cents"])}</td>'
        f'<td class="num">{labels.yuan(line["balance_cents"])}</td><td>{escape(line.get("note") or "")}</td></tr>'
        for line in lines)
    totals = content.get("totals", {})
    return (f'<div class="table-wrap"><table class="finance"><caption>{escape(content.get("period", ""))} 收支明细（元）</caption>'
            '<thead><tr><th>资金类型</th>' + ('<th class="num">期初</th>' if with_opening else "")
            + '<th class="num">收入</th><th class="num">支出</th><th class="num">结余</th>'
            f'<th>备注</th></tr></thead><tbody>{rows}</tbody><tfoot><tr><td>合计</td>{opening_cell(opening_total)}'
            f'<td class="num">{labels.yuan(totals.get("income_cents"))}</td>'
            f'<td class="num">{labels.yuan(totals.get("expenditure_cents"))}</td>'
            f'<td class="num">{labels.yuan(totals.get("balance_cents"))}</td><td></td></tr></tfoot></table></div>'
            + (f'<p class="body">{escape(content["note"])}</p>' if content.get("note") else ""))


def tally_table(t: dict[str, Any]) -> str:
    return (
        '<table class="tally"><tbody>'
        f'<tr><th>表决结果</th><td>{"通过" if t.get("passed") else "未通过"}</td></tr>'
        f'<tr><th>应到 / 实到</th><td>{escape(str(t.get("base_size")))} / {escape(str(t.get("present")))}（{"达到" if t.get("quorum_met") else "未达到"}法定人数）</td></tr>'
        f'<tr><th>赞成 / 反对 / 弃权</th><td>{escape(str(t.get("votes_for")))} / {escape(str(t.get("votes_against")))} / {escape(str(t.get("abstain")))}</td></tr>'
        f'<tr><th>表决规则版本</th><td>{escape(str(t.get("rule_version", "")))}</td></tr>'
        "</tbody></table>"
    )


def progress_bar(percent: int) -> str:
    p = max(0, min(100, int(percent)))
    return (f'<svg class="progress" viewBox="0 0 100 14" preserveAspectRatio="none" role="img" aria-label="完成 {p}%">'
            f'<rect width="100" height="14" rx="3" fill="#eee"/><rect width="{p}" height="14" rx="3" fill="#27ae60"/>'
            f'</svg><p>完成 {p}%</p>')


def item_content(item: dict[str, Any]) -> str:
    c, category = item["content"], item["category"]
    matter_link = (f'<p><a class="matter-link" href="/portal/matters/{item["matter_id"]}">查看事项全过程 ›</a></p>'
                   if item.get("matter_id") else "")
    if category == "finance_statement":
        return finance_table(c)
    if category == "matter_decision":
        return tally_table(c) + matter_link
    if category == "matter_progress":
        # The project as a whole (every task of the matter), then the task this update is about.
        whole = "matter_percent" in c
        project = (progress_bar(c.get("matter_percent", c.get("percent", 0)))
                   + f'<p>项目预算 {labels.yuan(c.get("matter_budget_cents", c.get("budget_cents")))}，'
                     f'已支出 {labels.yuan(c.get("matter_spent_cents", c.get("spent_cents")))}</p>')
        task = (f'<p class="meta">本次更新的任务：完成 {escape(str(c.get("percent", 0)))}%，预算 '
                f'{labels.yuan(c.get("budget_cents"))}，已支出 {labels.yuan(c.get("spent_cents"))}</p>' if whole else "")
        return project + task + matter_link
    if category == "matter_evaluation":
        share = f'{float(c.get("bad_share", 0)) * 100:.1f}%'
        return (f'<p>参评 {escape(str(c.get("ratings")))} 人，不满意 {escape(str(c.get("bad")))} 人（{share}），'
                f'结论：{"办结" if c.get("outcome") == "close" else "重办"}</p>' + matter_link)
    if category == "mediation_statistics":
        by_level = c.get("by_level", {})
        head = "".join(f'<th class="num">{labels.OUTCOME_LABELS[o]}</th>' for o in labels.OUTCOME_LABELS)
        rows = "".join(
            f'<tr><td>{escape(labels.LEVEL_LABELS.get(level, level))}</td>'
            + "".join(f'<td class="num">{escape(str(by_level[level].get(o, 0)))}</td>' for o in labels.OUTCOME_LABELS)
            + "</tr>"
            for level in labels.LEVEL_ORDER if level in by_level)
        return f'<div class="table-wrap"><table><thead><tr><th>层级</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
    if category == "duty_change":
        change = "到岗" if c.get("change") == "granted" else "离岗"
        return (f'<p>{escape(c.get("role_label", ""))}{change}，生效日期 {escape(str(c.get("effective_on") or ""))}，'
                f'责任区域 {escape(item["unit_name"] or item["unit_code"])}。</p>')
    parts = []
    if c.get("held_on"):
        parts.append(f'<p class="meta">会议日期：{escape(c["held_on"])}</p>')
    if c.get("attendee_names"):
        parts.append(f'<p class="meta">参加人员：{escape("、".join(c["attendee_names"]))}</p>')
    parts.append(f'<div class="body">{escape(c.get("body", ""))}</div>')
    return "".join(parts)


def questions_section(questions: list[dict[str, Any]]) -> str:
    if not questions:
        return '<section><h2>居民监督</h2><p class="empty">暂无询问或异议</p></section>'
    rows = []
    for q in questions:
        answer = (f'<p>答复（{when(q["answered_at"])}）：{escape(q["answer"])}</p>' if q["answer"]
                  else f'<p class="meta">待答复，期限 {when(q["answer_due_at"])}</p>')
        flag = '<span class="overdue">逾期</span>' if q["overdue"] else ""
        rows.append(f'<div class="qa"><p><span class="tag">{escape(q["kind_label"])}</span>{when(q["asked_at"])} {flag}</p>'
                    f'<p>{escape(q["body"])}</p>{answer}</div>')
    return f'<section><h2>居民监督</h2>{"".join(rows)}</section>'


@router.get("/items/{item_id}")
async def item_page(request: Request, item_id: UUID) -> Response:
    """One disclosure item: its content (finance as a table), and residents' questions with answers."""
    async with request.app.state.sessions() as session:
        item = await PublicReader(session).item(item_id)
    if item is None:
        return not_found("该公开事项不存在或已撤下")

    async def build(reader: PublicReader) -> bytes:
        crumbs: list[tuple[str, str | None]] = [(DISTRICT_NAME, "/portal/")]
        if item["community_code"]:
            crumbs.append((item["community_name"] or item["community_code"], f"/portal/units/{item['community_code']}"))
        crumbs.append((item["title"], None))
        major = '<span class="tag major">重大</span>' if item["major"] else ""
        body = (f'<section class="item"><h2 class="item-title">{escape(item["title"])}</h2>'
                f'<p class="meta">{major}<span class="tag">{escape(item["kind_label"])}</span>'
                f'<span class="tag">{escape(item["category_label"])}</span>{escape(item["unit_name"] or item["unit_code"])}'
                f' · 发布于 {when(item["published_at"])}</p>{item_content(item)}</section>'
                + questions_section(item.get("questions", [])))
        return page(item["title"], body, crumbs)

    return await _render(request, build)


@router.get("/matters/{matter_id}")
async def matter_page(request: Request, matter_id: UUID) -> Response:
    """A matter's public timeline, tally, implementation and evaluation."""
    async with request.app.state.sessions() as session:
        matter = await PublicReader(session).matter(matter_id)
    if matter is None:
        return not_found("没有该事项的公开进展")

    async def build(reader: PublicReader) -> bytes:
        title = matter["public_title"] or "社区事项"
        crumbs = [(DISTRICT_NAME, "/portal/"),
                  (matter["community_name"] or matter["community_code"], f"/portal/units/{matter['community_code']}"),
                  (title, None)]
        steps = []
        for s in matter["timeline"]:
            if s["step"] == "raised":
                text = "事项提出"
            elif s["step"] == "transitioned" and s.get("action") in STEP_LABELS:
                text = STEP_LABELS[s["action"]]
            elif s["step"] == "transitioned":
                text = f"进入“{labels.STAGE_LABELS.get(s['to_state'], s['to_state'])}”阶段"
            elif s["step"] == "decided":
                text = "表决" + ("通过" if s.get("passed") else "未通过")
            elif s["step"] == "progress":
                text = f"实施进度 {s.get('percent')}%，已支出 {labels.yuan(s.get('spent_cents'))}"
            else:
                text = f"居民评议：参评 {s.get('ratings')} 人"
            steps.append(f"<li><span class='meta'>{when(s['at'])}</span> {escape(text)}</li>")
        body = (f'<section><h2 class="matter-title">{escape(title)}</h2>'
                f'<p>当前阶段：<span class="tag stage">{escape(matter["stage_label"])}</span>'
                + ('<span class="tag major">重点项目</span>' if matter["key_project"] else "") + "</p></section>")
        if matter["tally"]:
            body += f"<section><h2>表决情况</h2>{tally_table(matter['tally'])}</section>"
        if matter["progress"]:
            p = matter["progress"]
            body += (f"<section><h2>实施进度</h2>{progress_bar(p.get('percent', 0))}"
                     f"<p>预算 {labels.yuan(p.get('budget_cents'))}，已支出 {labels.yuan(p.get('spent_cents'))}</p></section>")
        if matter["evaluation"]:
            e = matter["evaluation"]
            body += f"<section><h2>居民评议</h2><p>参评 {e['ratings']} 人，不满意 {e['bad']} 人</p></section>"
        body += f'<section><h2>办理过程</h2><ol class="timeline">{"".join(steps)}</ol></section>'
        return page(title, body, crumbs)

    return await _render(request, build)
