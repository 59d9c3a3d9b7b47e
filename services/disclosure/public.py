"""The public disclosure API under /public/v1: no login, cacheable (ETag), rate-limited per client."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from xml.sax.saxutils import escape

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from services.disclosure import labels
from services.disclosure.http import BadQuery, cached_response
from services.disclosure.reads import PublicReader, period_window
from services.disclosure.repository import ItemFilter
from services.disclosure.rules.cadence import SHANGHAI
from services.disclosure.schemas import Kind, UnitCodeShape
from youmin.kit import replica
from youmin.kit.errors import NotFound, SafeStr
from youmin.kit.replica import UNIT_CODE_PATTERN


# Characters XML 1.0 does not allow (C0 controls but tab, LF and CR): one in a title made a whole feed unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Escapes text for XML and drops the characters XML cannot carry."""
    return escape(_XML_INVALID.sub("", value))


class _SafeWriter:
    """A CSV writer whose text cells cannot start a spreadsheet formula (= + - @, tab, CR): such a cell gets a
    leading apostrophe, which spreadsheets show as text. Numbers are written as they are."""

    FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow([f"'{cell}" if isinstance(cell, str) and cell.startswith(self.FORMULA_START)
                              and not _NUMBER.fullmatch(cell) else cell for cell in row])


_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


router = APIRouter(prefix="/public/v1", tags=["public"])

UnitQuery = Annotated[str, Query(pattern=UNIT_CODE_PATTERN,
                                 description="an org unit code; a street includes everything below it"), UnitCodeShape]
UnitPath = Annotated[str, Path(pattern=UNIT_CODE_PATTERN), UnitCodeShape]
Period = Annotated[str | None, Query(
    description="a year (2026), a quarter (2026-Q4) or a month (2026-11), Asia/Shanghai. A finance statement "
                "(category finance_statement) is selected by the month it covers (content.period), which lies inside "
                "the period asked: September's statement, posted in October, is in 2026-09, 2026-Q3 and 2026, not in "
                "2026-10. Every other item is selected by the day it was published.",
    max_length=7)]
JSON = "application/json"
# The CSV export reads every page of its items, up to this many (then it asks for a narrower period or unit).
EXPORT_PAGE = 1_000
MAX_EXPORT_ITEMS = 100_000


def dumps(data: Any) -> bytes:
    """Serialises a public body (UTF-8, Chinese kept readable)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _reader(request: Request):
    """Opens a read-only session for one rendering."""
    return request.app.state.sessions()


def _max_age(request: Request) -> int:
    return request.app.state.settings.public_max_age_seconds


def beijing(instant: str) -> str:
    """An ISO instant as Beijing time (+08:00): an export's dates agree with the board and with its period filter."""
    return datetime.fromisoformat(instant).astimezone(SHANGHAI).isoformat()


def _filter(unit: str, kind: str | None, category: str | None, period: str | None) -> ItemFilter:
    start, end = period_window(period)
    return ItemFilter(unit_prefix=unit, kind=kind, category=category, period_from=start, period_before=end)


@router.get("/items")
async def list_items(
    request: Request,
    unit: UnitQuery,
    kind: Kind | None = None,
    category: Annotated[SafeStr | None, Query(max_length=40)] = None,
    period: Period = None,
    order: Literal["newest", "commit", "changes"] = "newest",
    cursor: Annotated[SafeStr | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
) -> Response:
    """Lists the public items of a unit and everything below it, by kind and period, one page at a time.

    period selects finance statements by the month they cover and every other item by the day it was published; the
    pages are in order of publication all the same.

    order=newest (default) pages newest first; order=commit is an append-only feed in commit order whose
    cursor never skips an item that commits late, for platforms that synchronise. order=changes is the same kind of
    feed over every change: an item comes again whenever it changes (a count refreshed, a title withheld, its unit
    re-coded), and a withdrawn one comes as {"id", "withdrawn": true, "withdrawn_at"} with nothing of what it said, to
    be taken down wherever it was copied. A feed follows the items under the unit's code as it is now: an item whose
    community moves to another street comes on in the new street's feed and leaves the old one's without an entry. A
    platform that must take down every withdrawal it copied synchronises the district's feed.
    """
    settings = request.app.state.settings
    size = min(limit or settings.public_page_size, settings.public_page_size_max)
    where = _filter(unit, kind, category, period)

    async def render() -> tuple[bytes, str]:
        async with _reader(request) as session:
            page = await PublicReader(session).page(where, size, cursor, order)
        return dumps({"unit": unit, "kind": kind, "period": period, "order": order, "limit": size,
                      "items": page.items, "next_cursor": page.next_cursor}), JSON

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/items.csv")
async def export_items(request: Request, unit: UnitQuery, kind: Kind | None = None, period: Period = None,
                       lines: bool = False) -> Response:
    """Exports a unit's public items as CSV (UTF-8 with BOM); lines=true gives one row per finance line.

    period selects finance statements by the month they cover (the period column of lines=true), so a year's export
    sums that year's accounts; every other item is selected by the day it was published."""
    where = _filter(unit, "finance" if lines else kind, "finance_statement" if lines else None, period)

    async def render() -> tuple[bytes, str]:
        items: list[dict] = []
        async with _reader(request) as session:
            reader, cursor = PublicReader(session), None
            while True:  # every page: an export that stopped short without saying so would mislead its reader
                page = await reader.page(where, EXPORT_PAGE, cursor)
                items += page.items
                if len(items) > MAX_EXPORT_ITEMS:
                    raise BadQuery("period", f"the export holds more than {MAX_EXPORT_ITEMS:,} items; give a period "
                                   "(a year, a quarter or a month) or a unit further down")
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        out = io.StringIO()
        writer = _SafeWriter(csv.writer(out))
        if lines:
            writer.writerow(["item_id", "published_at", "unit_code", "unit_name", "period", "fund_type", "fund_label",
                             "opening_balance_yuan", "income_yuan", "expenditure_yuan", "balance_yuan", "note"])
            for item in items:
                for line in item["content"].get("lines", []):
                    opening = line.get("opening_balance_cents")  # empty when the statement did not give it
                    writer.writerow([item["id"], beijing(item["published_at"]), item["unit_code"],
                                     item["unit_name"] or "", item["content"].get("period", ""), line["fund_type"], line.get("fund_label", ""),
                                     f"{opening / 100:.2f}" if opening is not None else "",
                                     f"{line['income_cents'] / 100:.2f}", f"{line['expenditure_cents'] / 100:.2f}",
                                     f"{line['balance_cents'] / 100:.2f}", line.get("note", "")])
        else:
            writer.writerow(["id", "published_at", "unit_code", "unit_name", "kind", "kind_label", "category",
                             "category_label", "title", "major", "matter_id"])
            for item in items:
                writer.writerow([item["id"], beijing(item["published_at"]), item["unit_code"], item["unit_name"] or "",
                                 item["kind"], item["kind_label"], item["category"], item["category_label"],
                                 item["title"], "1" if item["major"] else "0", item["matter_id"] or ""])
        return ("\ufeff" + out.getvalue()).encode(), "text/csv; charset=utf-8"

    filename = f"disclosure-{unit}{'-finance' if lines else ''}.csv"
    return await cached_response(request, render, max_age=_max_age(request),
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/items/{item_id}")
async def get_item(request: Request, item_id: UUID) -> Response:
    """Returns one public item with its residents' questions and the answers (redacted)."""
    async with _reader(request) as session:
        item = await PublicReader(session).item(item_id)
    if item is None:
        raise NotFound(f"no public disclosure item {item_id}")

    async def render() -> tuple[bytes, str]:
        return dumps(item), JSON

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/units/{code}/feed.atom")
async def atom_feed(request: Request, code: UnitPath, kind: Kind | None = None) -> Response:
    """An Atom feed of the latest 50 public items of a unit (and everything below it); a unit that moved is followed
    to its code today."""
    async with _reader(request) as session:
        today = replica.code_today(code, await replica.all_moves(session))
    if today != code:
        query = f"?kind={kind}" if kind else ""
        return RedirectResponse(f"/public/v1/units/{today}/feed.atom{query}", status_code=301)

    async def render() -> tuple[bytes, str]:
        async with _reader(request) as session:
            reader = PublicReader(session)
            page = await reader.page(ItemFilter(unit_prefix=code, kind=kind), 50, None)
            unit = await reader.unit(code)
        name = (unit or {}).get("name") or code
        # The public address when configured; else links relative to the feed's own address (behind the gateway,
        # the address this service sees is an internal one).
        base = request.app.state.settings.public_base_url.rstrip("/")
        updated = max((i["updated_at"] for i in page.items), default=datetime(2026, 1, 1, tzinfo=UTC).isoformat())
        entries = []
        for item in page.items:
            summary = f"{item['kind_label']} · {item['category_label']} · {item['unit_name'] or item['unit_code']}"
            entries.append(
                "<entry>"
                f"<id>urn:uuid:{item['id']}</id>"
                f"<title>{xml_text(item['title'])}</title>"
                f"<updated>{item['updated_at']}</updated><published>{item['published_at']}</published>"
                f"<link rel=\"alternate\" type=\"text/html\" href=\"{base}/portal/items/{item['id']}\"/>"
                f"<category term=\"{item['kind']}\" label=\"{xml_text(item['kind_label'])}\"/>"
                f"<summary>{xml_text(summary)}</summary>"
                "</entry>"
            )
        feed = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN">'
            f"<id>urn:youmin:disclosure:{code}{':' + kind if kind else ''}</id>"
            f"<title>{xml_text(name)} 三务公开</title>"
            f"<updated>{updated}</updated>"
            f"<link rel=\"self\" href=\"{base}/public/v1/units/{code}/feed.atom\"/>"
            f"<link rel=\"alternate\" type=\"text/html\" href=\"{base}/portal/units/{code}\"/>"
            "<author><name>奎文区三务公开</name></author>"
            + "".join(entries) + "</feed>"
        )
        return feed.encode(), "application/atom+xml; charset=utf-8"

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/matters/{matter_id}")
async def matter_progress(request: Request, matter_id: UUID) -> Response:
    """A matter's public progress: its timeline, the decision's tally, implementation and evaluation."""
    async with _reader(request) as session:
        matter = await PublicReader(session).matter(matter_id)
    if matter is None:
        raise NotFound(f"no public progress for matter {matter_id}")

    async def render() -> tuple[bytes, str]:
        return dumps(matter), JSON

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/matters")
async def list_matters(request: Request, unit: UnitQuery, stage: Annotated[SafeStr | None, Query(max_length=40)] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Response:
    """Lists the matters of a unit with their stage, most recently updated first."""

    async def render() -> tuple[bytes, str]:
        async with _reader(request) as session:
            rows = await PublicReader(session).matters_in(unit, stage, limit)
        return dumps({"unit": unit, "matters": rows}), JSON

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/statistics/matters")
async def matter_statistics(request: Request, unit: UnitQuery) -> Response:
    """Counts the matters of a unit by stage."""

    async def render() -> tuple[bytes, str]:
        async with _reader(request) as session:
            rows = await PublicReader(session).matters_by_stage(unit)
        return dumps({"unit": unit, "by_stage": rows, "total": sum(r["count"] for r in rows)}), JSON

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/statistics/mediation")
async def mediation_statistics(
    request: Request,
    unit: UnitQuery,
    period: Annotated[str | None, Query(pattern=r"^[0-9]{4}(-[0-9]{2})?$", description="2026 or 2026-11")] = None,
    level: Annotated[SafeStr | None, Query(max_length=20)] = None,
    dispute_type: Annotated[SafeStr | None, Query(max_length=40)] = None,
    outcome: Annotated[SafeStr | None, Query(max_length=40)] = None,
    group_by: Annotated[SafeStr, Query(max_length=80)] = "level,outcome",
) -> Response:
    """Aggregated mediation counts (never a single case) per unit, level, dispute type, month and outcome."""
    period_window(period)  # a real year or month (422 naming period otherwise), as the item listing checks it
    dims = list(dict.fromkeys(d.strip() for d in group_by.split(",") if d.strip()))

    async def render() -> tuple[bytes, str]:
        async with _reader(request) as session:
            rows = await PublicReader(session).mediation_statistics(
                unit, dims, level=level, dispute_type=dispute_type, period_prefix=period, outcome=outcome)
        return dumps({"unit": unit, "period": period, "group_by": dims, "rows": rows,
                      "outcome_labels": labels.OUTCOME_LABELS, "level_labels": labels.LEVEL_LABELS}), JSON

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/units")
async def list_units(request: Request,
                     parent: Annotated[str, Query(pattern=UNIT_CODE_PATTERN), UnitCodeShape] = "370705") -> Response:
    """Lists the org units directly under a unit (district → streets → communities → grids)."""

    async def render() -> tuple[bytes, str]:
        async with _reader(request) as session:
            rows = await PublicReader(session).children(parent)
        return dumps({"parent": parent, "units": rows}), JSON

    return await cached_response(request, render, max_age=_max_age(request))


@router.get("/units/{code}")
async def get_unit(request: Request, code: UnitPath) -> Response:
    """Returns an org unit with its ancestors and children."""
    async with _reader(request) as session:
        unit = await PublicReader(session).unit(code)
    if unit is None:
        raise NotFound(f"no org unit {code}")

    async def render() -> tuple[bytes, str]:
        return dumps(unit), JSON

    return await cached_response(request, render, max_age=_max_age(request))
