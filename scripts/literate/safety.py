r"""URLs in a page's converted prose that the site refuses: ones that run code, and ones that fetch from elsewhere.

Markdown keeps any URL an author writes, and so does raw HTML in prose. Two kinds break the site's promises:

* a link or resource whose URL runs script (`javascript:`, `vbscript:`, a `data:` URL other than an image),
  however it is spelled: `jav&#x61;script:` and `java\tscript:` are the same to a browser;
* an image, video, frame or other resource loaded from another machine (`https://...`, `//host/...`): the
  page would make a request off the machine, and the site promises to work offline. Links (`<a href>`) to
  other sites are fine, they are only followed on a click.

[`check_urls`](#check_urls) reports each one (the site turns the report into a warning with the file and line,
which fails `mkdocs build --strict`) and removes the URL from the page, so that even a non-strict build
(`mkdocs serve`) never serves it.
"""
from __future__ import annotations

import html
import re
from typing import Callable

# Attributes whose URL the browser fetches as soon as the page loads.
RESOURCE_ATTRIBUTES = {"src", "srcset", "poster", "data", "background", "lowsrc", "dynsrc"}
# Attributes whose URL the browser follows or fetches.
URL_ATTRIBUTES = RESOURCE_ATTRIBUTES | {"href", "action", "formaction", "xlink:href", "cite", "ping"}
# One of those attributes (or a style, which may hold `url(...)`) with its value; whether it sits inside a tag
# is checked apart (text in Markdown's HTML has its `<` and `>` escaped).
ATTRIBUTE = re.compile(r"""(?<=\s)(src|srcset|poster|data|background|lowsrc|dynsrc|href|action|formaction"""
                       r"""|xlink:href|cite|ping|style)(\s*=\s*)("([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""",
                       re.IGNORECASE)
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:")
# Hears of each refused URL: the attribute as written, the URL as the browser reads it, and why.
Report = Callable[[str, str, str], None]


# What a browser makes of an attribute's value: entities decoded, and the tabs, line breaks and control
# characters it ignores inside a URL's scheme removed.
def browser_url(raw: str) -> str:
    url = html.unescape(raw) if "&" in raw else raw
    return (url if url.isprintable() and " " not in url else re.sub(r"[\x00-\x20]", "", url)).lower()


def problem(attribute: str, raw: str) -> str | None:
    url = browser_url(raw)
    if attribute == "srcset":
        urls = [candidate.split()[0] for candidate in html.unescape(raw).split(",") if candidate.split()]
        return next((found for found in map(lambda u: problem("src", u), urls) if found), None)
    if url.startswith("data:"):  # an image inline in the page is fine; other data (HTML, SVG) can hold script
        inline_image = attribute in RESOURCE_ATTRIBUTES and url.startswith("data:image/")
        return None if inline_image and not url.startswith("data:image/svg") else "a URL that runs script"
    if url.startswith(SCRIPT_SCHEMES):
        return "a URL that runs script"
    if attribute in RESOURCE_ATTRIBUTES and re.match(r"^([a-z][a-z0-9+.-]*:|//|\\\\)", url):
        return "a resource from another machine (the site works offline: copy the file into the repository)"
    return None


def describe(attribute: str, raw: str, reason: str) -> str:
    return f'{attribute}="{raw}" is {reason}'


# <a id="check_urls"></a>
# Every URL attribute in a tag, checked; a refused one is reported and its value emptied.
def check_urls(content: str, report: Report) -> str:
    def attribute(match: re.Match[str]) -> str:
        in_tag = content.rfind("<", 0, match.start()) > content.rfind(">", 0, match.start())
        return _attribute(match, report) if in_tag else match.group(0)

    return ATTRIBUTE.sub(attribute, content)


def _attribute(match: re.Match[str], report: Report) -> str:
    name = match.group(1).lower()
    raw = next(value for value in match.group(4, 5, 6) if value is not None)
    if name == "style":
        found = re.search(r"url\(\s*['\"]?([^'\")]+)", html.unescape(raw), re.IGNORECASE)
        reason = problem("src", found.group(1)) if found else None
    else:
        reason = problem(name, raw)
    if reason is None:
        return match.group(0)
    report(name, raw, reason)
    return f'{match.group(1)}=""'
