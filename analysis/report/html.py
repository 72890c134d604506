"""index.html of a report: findings first (verdict, estimate, caveats), figures, then numbers."""

from __future__ import annotations

import html
from typing import Any

from analysis.formatting import fmt

STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}"
    "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}.why{color:#a33}"
    ".supported{color:#1a7f37;font-weight:bold}.not{color:#a33;font-weight:bold}"
    ".untestable{color:#777;font-weight:bold}ul.caveats{color:#555;font-size:14px}"
    "details{margin:.3em 0}"
)
VERDICT_CLASS = {"supported": "supported", "not supported": "not"}


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows = []
        for key, sub in value.items():
            if key != "reasons":
                rows += _rows(f"{prefix}.{key}" if prefix else key, sub)
        return rows
    return [(prefix, fmt(value))]


def _findings(findings: list[dict], caveats: list[str]) -> list[str]:
    parts = [
        "<h2>Findings</h2><table><tr><th>claim</th><th>verdict</th><th>estimate</th>"
        "<th>caveats</th></tr>"
    ]
    for f in findings:
        css = VERDICT_CLASS.get(f["verdict"], "untestable")
        notes = "<br>".join(html.escape(c) for c in f["caveats"])
        parts.append(
            f"<tr><td>{html.escape(f['claim'])}</td><td class='{css}'>"
            f"{html.escape(f['verdict'])}</td><td>{html.escape(f['estimate'])}</td>"
            f"<td>{notes}</td></tr>"
        )
    parts.append("</table>")
    if caveats:
        items = "".join(f"<li>{html.escape(c)}</li>" for c in caveats)
        parts.append(f"<p>Caveats for every claim of this run:</p><ul class='caveats'>{items}</ul>")
    return parts


def _numbers(summary: dict[str, Any]) -> list[str]:
    parts = ["<h2>Numbers</h2>"]
    for section, value in summary.items():
        if section in ("findings", "caveats") or not isinstance(value, dict):
            continue
        parts.append(f"<details><summary>{html.escape(section)}</summary><table>")
        for key, text in _rows("", value):
            parts.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(text)}</td></tr>")
        for key, why in (value.get("reasons") or {}).items():
            parts.append(
                f"<tr><td>{html.escape(key)}</td>"
                f"<td class='why'>null: {html.escape(str(why))}</td></tr>"
            )
        parts.append("</table></details>")
    return parts


def page(title: str, figures: list[tuple[str, str]], summary: dict[str, Any]) -> str:
    """The whole page: findings, figures with captions, every number of summary.json."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *_findings(summary.get("findings", []), summary.get("caveats", [])),
        "<h2>Figures</h2>",
    ]
    for file, caption in figures:
        parts.append(
            f"<figure><img src='{html.escape(file)}' alt='{html.escape(file)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts += [*_numbers(summary), "</body></html>"]
    return "\n".join(parts)
