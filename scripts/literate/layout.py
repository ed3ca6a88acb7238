"""A parsed file as a page: the Markdown MkDocs converts, and the two-column HTML built around it.

MkDocs converts the prose of the whole page in one pass (so headings, links, anchors and search work as on
any page). The Markdown it gets has a marker comment before each section's prose; after conversion the HTML is
cut at the markers and each section becomes a row: its prose on the left, its code on the right. The code
never goes through Markdown: it is highlighted line by line (by [highlight](highlight.py)) and escaped, and
goes into the page last, after the theme has rendered it and the search has indexed the prose.
"""
from __future__ import annotations

import html
import re
from typing import Callable

import yaml

from .parse import Document, Section

MARKER = "<!--lp-section-{}-->"
MARKERS = re.compile(r"<!--lp-section-(\d+)-->")
CODE_SLOT = "<!--lp-code-{}-->"
CODE_SLOTS = re.compile(r"<!--lp-code-(\d+)-->")


class LayoutError(Exception):
    """The converted prose lost a section marker (an unclosed HTML block swallowed it)."""

    def __init__(self, message: str, section: int | None) -> None:
        super().__init__(message)
        self.section = section


# ## The page's Markdown
#
# Front matter for MkDocs (title, description for the `<meta>` tag), then each section's prose after its
# marker.
def page_markdown(doc: Document, title: str) -> str:
    meta: dict[str, object] = {"title": title}
    if doc.summary:
        meta["description"] = doc.summary
    parts = ["---", yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).strip(), "---", ""]
    for index, section in enumerate(doc.sections):
        parts += [MARKER.format(index), "", section.markdown, ""]
    return "\n".join(parts)


# ## The two columns
#
# Cut the converted HTML at the markers and pair each prose part with its section's code.
def split_prose(content: str, count: int) -> list[str]:
    found = [(int(match.group(1)), match.start(), match.end()) for match in MARKERS.finditer(content)]
    if [index for index, _, _ in found] != list(range(count)):
        missing = sorted(set(range(count)) - {index for index, _, _ in found})
        section = missing[0] if missing else None
        raise LayoutError("this prose and the code after it were swallowed by an unclosed HTML block above "
                          "(close the tag, or write it in backticks)", section)
    ends = [start for _, start, _ in found[1:]] + [len(content)]
    return [content[end:next_start].strip() for (_, _, end), next_start in zip(found, ends)]


# The code columns are left as slots (HTML comments) here and filled by `fill_code` in the finished page:
# Material's search then indexes the prose alone, and its HTML parser skips thousands of highlighting tags.
def assemble(doc: Document, content: str) -> str:
    prose = split_prose(content, len(doc.sections))
    rows = [_row(index, *split_figures(balance_html(part)), CODE_SLOT.format(index) if section.code else "")
            for index, (part, section) in enumerate(zip(prose, doc.sections))]
    return f'<div class="lp-page">\n{"".join(rows)}</div>\n'


def fill_code(output: str, doc: Document) -> str:
    return CODE_SLOTS.sub(lambda match: code_html(doc.sections[int(match.group(1))], doc.highlighted), output)


def _row(index: int, prose: str, figures: str, code: str) -> str:
    wide = f'<div class="lp-figures">{figures}</div>' if figures else ""
    return (f'<section class="lp-section" id="lp-section-{index}">'
            f'<div class="lp-prose">{prose}</div><div class="lp-code">{code}</div>{wide}</section>\n')


# ## Figures
#
# A figure in the prose column would be shrunk to a third of its size. A paragraph that holds only an image
# (and the link around it that opens it at full size) leaves the prose: it goes below its section's prose and
# code, across both columns, at its own size or the page's width, whichever is smaller.
FIGURE = re.compile(r'<p>\s*((?:<a\b[^>]*>\s*)?<img\b[^>]*>(?:\s*</a>)?)\s*</p>\s*')


def split_figures(prose: str) -> tuple[str, str]:
    if "<img" not in prose:
        return prose, ""
    figures = [match.group(1) for match in FIGURE.finditer(prose)]
    return FIGURE.sub("", prose).strip(), "".join(f'<p class="lp-figure">{figure}</p>' for figure in figures)


# The code column of a section: its lines with their numbers from the file. A line that does not follow the
# one above it (a docstring or a comment block sits between them) is marked, and the CSS draws a gap.
def code_html(section: Section, highlighted: list[str]) -> str:
    if not section.code:
        return ""
    lines = []
    previous = None
    for line in section.code:
        gap = " lp-gap" if previous is not None and line.number != previous + 1 else ""
        lines.append(f'<span class="lp-line{gap}" id="L{line.number}" data-n="{line.number}">'
                     f"{highlighted[line.number - 1]}\n</span>")
        previous = line.number
    return f'<div class="highlight"><pre><code>{"".join(lines)}</code></pre></div>'


# ## Keeping the prose's HTML in its column
#
# Prose is Markdown, and Markdown lets raw HTML through: a docstring that mentions `</div>` would close the
# column. Each prose part is made balanced: an end tag with no open element is shown as text, elements left
# open are closed at the end of the part, and tags that run code or change the page (`<script>`, `<style>`,
# `<iframe>`, event-handler attributes ...) are shown as text.
TAG = re.compile(r"<!--.*?-->|<(/?)([A-Za-z][A-Za-z0-9:-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.DOTALL)
VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
UNSAFE = {"script", "style", "iframe", "object", "embed", "link", "meta", "base", "form", "textarea", "title",
          "noscript", "template", "frame", "frameset", "applet", "xmp", "plaintext", "svg", "math", "html",
          "head", "body"}
UNSAFE_ATTRIBUTE = re.compile(r"(?:^|\s)on[a-z]+\s*=|javascript:", re.IGNORECASE)


def balance_html(fragment: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    position = 0
    for match in TAG.finditer(fragment):
        out.append(fragment[position:match.start()])
        position = match.end()
        out.append(_balanced_tag(match, stack, out))
    out.append(fragment[position:])
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


def _balanced_tag(match: re.Match[str], stack: list[str], out: list[str]) -> str:
    whole = match.group(0)
    if whole.startswith("<!--"):
        return whole
    closing, name, attributes = match.group(1), match.group(2).lower(), match.group(3)
    if name in UNSAFE or UNSAFE_ATTRIBUTE.search(attributes):
        return html.escape(whole, quote=False)
    if closing:
        if name not in stack:
            return html.escape(whole, quote=False)
        while stack[-1] != name:
            out.append(f"</{stack.pop()}>")
        stack.pop()
    elif name not in VOID and not attributes.rstrip().endswith("/"):
        stack.append(name)
    return whole


# ## The results of the last full run
#
# `results/<name>.json` beside the paper, as written by the kit's `save_outcome`: the headline, the metrics
# as a table (nested dictionaries flattened to dotted names, lists shortened), the seed and run time.
# `figure_url` gives the URL of a figure file, or `None` for figures the prose already shows.
def results_html(results: dict, figure_url: Callable[[str], str | None]) -> str:
    parts = ['<section class="lp-results" id="lp-results">', "<h2>Results of the last full run</h2>"]
    if results.get("headline"):
        parts.append(f'<p class="lp-headline">{html.escape(str(results["headline"]))}</p>')
    rows = "".join(f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(value)}</td></tr>"
                   for name, value in flatten_metrics(results.get("metrics") or {}))
    if rows:
        head = "<thead><tr><th>metric</th><th>value</th></tr></thead>"
        parts.append(f"<table>{head}<tbody>{rows}</tbody></table>")
    parts.append(f'<p class="lp-run">{html.escape(run_summary(results))}</p>')
    for name in results.get("figures") or []:
        url = figure_url(str(name))
        if url:
            src, alt = html.escape(url), html.escape(str(name))
            parts.append(f'<p class="lp-figure"><a class="glightbox" href="{src}" data-type="image">'
                         f'<img src="{src}" alt="{alt}"></a></p>')
    parts.append("</section>")
    return "\n".join(parts) + "\n"


def flatten_metrics(metrics: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(flatten_metrics(value, f"{name}."))
        else:
            rows.append((name, format_value(value)))
    return rows


def format_value(value: object, limit: int = 12) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(format_value(item) for item in value[:limit])
        more = f", … ({len(value)} values)" if len(value) > limit else ""
        return f"[{shown}{more}]"
    if isinstance(value, dict):
        return "{}"
    return str(value)


def run_summary(results: dict) -> str:
    facts = []
    if results.get("quick"):
        facts.append("quick run")
    if "seed" in results:
        facts.append(f"seed {results['seed']}")
    if results.get("steps") is not None:
        facts.append(f"{results['steps']} steps")
    if isinstance(results.get("runtime_s"), (int, float)):
        seconds = float(results["runtime_s"])
        facts.append(f"run time {seconds:.1f} s" + (f" ({seconds / 60:.1f} min)" if seconds >= 120 else ""))
    if isinstance(results.get("cpu_time_s"), (int, float)):
        facts.append(f"{results['cpu_time_s']:.1f} s CPU")
    if isinstance(results.get("load_average"), (int, float)):
        facts.append(f"load average {results['load_average']:.1f}")
    if results.get("torch"):
        count = results.get("torch_threads")
        threads = f", {count} thread{'s' if count != 1 else ''}" if count else ""
        facts.append(f"PyTorch {results['torch']}{threads}")
    if results.get("fingerprint"):
        facts.append(f"code fingerprint {str(results['fingerprint'])[:12]}")
    return " · ".join(facts)
