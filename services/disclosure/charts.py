"""Charts for the portal drawn as inline SVG (no script, no library, nothing fetched from elsewhere)."""

from __future__ import annotations

from html import escape

PALETTE = ("#c0392b", "#2e86c1", "#27ae60", "#f39c12", "#8e44ad", "#16a085", "#7f8c8d")


def bar_chart(rows: list[tuple[str, int]], *, title: str, width: int = 340) -> str:
    """A horizontal bar chart of labelled counts."""
    if not rows:
        return f'<figure class="chart"><figcaption>{escape(title)}</figcaption><p class="empty">暂无数据</p></figure>'
    bar_h, gap, label_w = 22, 8, 90
    height = len(rows) * (bar_h + gap) + gap
    peak = max(v for _, v in rows) or 1
    span = width - label_w - 40
    parts = []
    for i, (label, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(2, round(span * value / peak))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" rx="3" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{label_w + w + 4}" y="{y + bar_h * 0.7:.1f}">{value}</text>'
        )
    # role="img" hides the drawing's text from a screen reader: the label carries the figures themselves.
    spoken = f"{title}：" + "，".join(f"{label} {value}" for label, value in rows)
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg role="img" aria-label="{escape(spoken)}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-size="12">{"".join(parts)}</svg></figure>'
    )


def stacked_chart(groups: list[tuple[str, list[tuple[str, int]]]], series: list[tuple[str, str]], *,
                  title: str, width: int = 340) -> str:
    """Horizontal stacked bars: one bar per group, one segment per series (key, label), with a legend."""
    if not groups or not any(v for _, values in groups for _, v in values):
        return f'<figure class="chart"><figcaption>{escape(title)}</figcaption><p class="empty">暂无数据</p></figure>'
    colours = {key: PALETTE[i % len(PALETTE)] for i, (key, _) in enumerate(series)}
    bar_h, gap, label_w = 22, 8, 60
    legend_h = 20 * ((len(series) + 2) // 3) + 6
    height = legend_h + len(groups) * (bar_h + gap) + gap
    peak = max(sum(v for _, v in values) for _, values in groups) or 1
    span = width - label_w - 40
    parts = []
    for i, (key, label) in enumerate(series):
        x, y = 4 + (i % 3) * (width // 3), 4 + (i // 3) * 20
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colours[key]}"/>'
                     f'<text x="{x + 16}" y="{y + 11}">{escape(label)}</text>')
    for g, (group, values) in enumerate(groups):
        y = legend_h + gap + g * (bar_h + gap)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{escape(group)}</text>')
        x = float(label_w)
        for key, value in values:
            if not value:
                continue
            w = span * value / peak
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colours.get(key, "#999")}">'
                         f"<title>{escape(group)} {escape(dict(series).get(key, key))}: {value}</title></rect>")
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + bar_h * 0.7:.1f}">{sum(v for _, v in values)}</text>')
    names = dict(series)
    spoken = f"{title}：" + "；".join(
        f"{group} " + "，".join(f"{names.get(key, key)} {value}" for key, value in values if value)
        for group, values in groups if any(v for _, v in values))
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg role="img" aria-label="{escape(spoken)}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-size="12">{"".join(parts)}</svg></figure>'
    )
