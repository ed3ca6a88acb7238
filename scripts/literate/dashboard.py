r"""The home page's dashboard: every entry of `tracker.md`, generated when the site is built.

Each section of the tracker (Part A, and each heading of Part B) gets its progress, a card for every ticked
entry and a row for every entry still to do. A card shows the paper's main figure (the first of `figures` in
its results file), its title linked to its page, whether its claim held at this scale, the measured headline
from the results file, the page's summary, and links to the page and its tests. Nothing is written twice:
titles, links and notes come from the tracker's lines, the rest from the results files and the pages.

**Whether the claim held** is one of `held`, `held weakly`, `not held`: the first words of the tracker line's
note (`· note: held weakly: ...`), which `scripts/tracker.py check` requires of every ticked line.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ITEM = re.compile(r"^- \[(?P<mark>[ xX])\] (?P<body>\S.*)$")
HEADING = re.compile(r"^(?P<hashes>#{2,6})\s+(?P<title>\S.*)$")
LINK = re.compile(r"\[(?P<label>page|tests|file)\]\((?P<target>[^)\s]+)\)")
KEY = re.compile(r"^\*\*(?P<key>[A-Z]?\d+)\*\*\s+")
VERDICTS = ("held weakly", "not held", "held")


@dataclass
class Entry:
    key: str
    title: str
    done: bool
    links: dict[str, str] = field(default_factory=dict)  # label to repository path, the first of each
    note: str = ""


@dataclass
class Section:
    title: str
    level: int
    entries: list[Entry] = field(default_factory=list)


# ## Reading the tracker
def parse_tracker(text: str) -> list[Section]:
    sections: list[Section] = []
    for line in text.splitlines():
        if heading := HEADING.match(line):
            sections.append(Section(heading.group("title").strip(), len(heading.group("hashes"))))
        elif (item := ITEM.match(line)) and sections:
            sections[-1].entries.append(parse_entry(item.group("body"), item.group("mark") != " "))
    return [s for s in sections if s.entries or s.level == 2]


def parse_entry(body: str, done: bool) -> Entry:
    text, _, note = body.partition(" · note: ")
    key = ""
    if found := KEY.match(text):
        key, text = found.group("key"), text[found.end():]
    links: dict[str, str] = {}
    for link in LINK.finditer(text):
        links.setdefault(link.group("label"), link.group("target"))
    first_link = text.find("[page](") if "[page](" in text else len(text)
    title = text[:first_link].rstrip(" :")
    return Entry(key=key, title=title, done=done, links=links, note=note.strip())


# ## Whether the claim held
def verdict(entry: Entry) -> str:
    """The opening verdict of a ticked line's note, or "" for an entry not done (or a note without one)."""
    if not entry.done:
        return ""
    return next((word for word in VERDICTS if entry.note.startswith(f"{word}:")), "")


# ## The Markdown of the dashboard
#
# `pages` maps a page's repository path to its summary (Markdown, from the page's front matter); `up` leads
# from the home page's folder to the repository root (`../` from `docs/index.md`). Links are written as
# repository paths, so the link rewriter checks them and points them at the pages and copied figures.
@dataclass
class Context:
    root: Path
    pages: dict[str, str]
    up: str


def dashboard(sections: list[Section], context: Context) -> str:
    entries = [entry for section in sections for entry in section.entries]
    done = sum(entry.done for entry in entries)
    lines = [_progress(done, len(entries), "lp-dash-total"), ""]
    for section in sections:
        lines += _section(section, sections, context)
    return "\n".join(lines)


def _section(section: Section, sections: list[Section], context: Context) -> list[str]:
    entries = _entries_under(section, sections)
    done = [entry for entry in section.entries if entry.done]
    todo = [entry for entry in section.entries if not entry.done]
    lines = [f"{'#' * (section.level + 1)} {markdown_text(section.title)}", ""]
    if entries:
        lines += [_progress(sum(e.done for e in entries), len(entries), "lp-progress"), ""]
    if done:
        lines += ['<div class="lp-cards" markdown="block">', ""]
        for entry in done:
            lines += _card(entry, context)
        lines += ["</div>", ""]
    if todo:
        rows = "".join(f"<li>{_key(entry)}{html.escape(entry.title)}</li>" for entry in todo)
        lines += [f'<ul class="lp-todo" aria-label="Not yet implemented">{rows}</ul>', ""]
    return lines


# A section counts its own entries and those of the deeper sections that follow it (Part B its subsections).
def _entries_under(section: Section, sections: list[Section]) -> list[Entry]:
    start = sections.index(section)
    found = list(section.entries)
    for later in sections[start + 1:]:
        if later.level <= section.level:
            break
        found += later.entries
    return found


def _card(entry: Entry, context: Context) -> list[str]:
    page = entry.links.get("page", "")
    results = _results(context.root, page) if page else None
    word = verdict(entry) or "unstated"
    name, cite = split_citation(entry.title)
    title = f"[{markdown_text(name)}]({context.up}{page})" if page else markdown_text(name)
    if cite:
        title += f' <span class="lp-cite">({html.escape(cite)})</span>'
    lines = ['<div class="lp-card" markdown="block">', ""]
    figure = _figure(context.root, page, results)
    if figure:
        lines += [f"[![{markdown_text(entry.title)}]({context.up}{figure}){{ .lp-thumb loading=lazy }}]"
                  f"({context.up}{page})", ""]
    else:
        lines += ['<div class="lp-thumb lp-thumb--none">no figure</div>', ""]
    lines += [f"{_key(entry)}{title}", "{ .lp-card-title }", ""]
    badge = (f'<span class="lp-verdict lp-verdict--{word.replace(" ", "-")}" '
             f'title="whether the claim held at this scale (tracker.md)">{html.escape(word)}</span>')
    headline = markdown_text(str(results.get("headline", ""))) if results else ""
    lines += [f"{badge} {headline}".strip(), "{ .lp-card-result }", ""]
    summary = context.pages.get(page, "")
    if summary:
        lines += [markdown_text(summary), "{ .lp-card-summary }", ""]
    links = [f"[page]({context.up}{page})"] if page else []
    if "tests" in entry.links:
        links.append(f"[tests]({context.up}{entry.links['tests']})")
    lines += [" · ".join(links), "{ .lp-card-links }", "", "</div>", ""]
    return lines


# "Title (Authors, 2015, arXiv:...)": the title, and the citation shown smaller.
CITATION = re.compile(r"^(?P<title>.+?) \((?P<cite>[^()]*(?:\([^()]*\)[^()]*)*)\)$")


def split_citation(title: str) -> tuple[str, str]:
    found = CITATION.match(title)
    return (found.group("title"), found.group("cite")) if found else (title, "")


def _key(entry: Entry) -> str:
    return f'<span class="lp-key">{html.escape(entry.key)}</span> ' if entry.key else ""


def _results(root: Path, page: str) -> dict | None:
    folder, _, name = page.rpartition("/")
    path = root / folder / "results" / f"{name[:-3]}.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return results if isinstance(results, dict) else None


# The main figure: the first one the results file lists (the renderer copies those into the site).
def _figure(root: Path, page: str, results: dict | None) -> str | None:
    figures = (results or {}).get("figures") or []
    if not figures or not isinstance(figures, list):
        return None
    path = f"{page.rpartition('/')[0]}/results/{figures[0]}"
    return path if (root / path).is_file() else None


# Text from the tracker, a page or a results file, as Markdown that shows it as written: HTML escaped (a
# `<script>` in a summary is text), one line, no brackets that would make a link.
def markdown_text(value: str) -> str:
    one_line = " ".join(value.split())
    return html.escape(one_line, quote=False).replace("[", "\\[").replace("]", "\\]")


def _progress(done: int, total: int, css: str) -> str:
    percent = round(100 * done / total) if total else 0
    return (f'<p class="{css}"><progress max="{total}" value="{done}"></progress> '
            f"<span><strong>{done}/{total}</strong> done ({percent}%)</span></p>")
