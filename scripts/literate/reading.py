r"""Reading aids added to the rendered pages ([`reading_hooks`](../reading_hooks.py) calls these).

* **Code in the search.** Material's search indexes a page's HTML before the code columns are filled in (see
  [layout](layout.py)), so it would find only prose. Each literate page gets a search-only block: one entry
  per class and function the file defines, titled by its qualified name (`MultiHeadAttention.forward`) and
  located at its `def` line (`#L42`), whose text is its signature and the names its body uses
  (`masked_fill`, `softmax` ...). A search for a name leads to where it is defined, or to the definition that
  uses it. The block is removed from the finished page.
* **Math as text.** The search indexes the prose before KaTeX renders it: each formula's TeX is hidden from the
  search and a plain-text version (`\alpha_t \cdot x` becomes `α_t · x`) is shown to it instead, and removed
  from the finished page. Headings with math get their formula in the table of contents too, rendered by
  KaTeX like the rest of the page.
* **Papers and their tests link each other** under the page title, found in `tracker.md`'s lines (`[page](...)
  · [tests](...)`) or by the convention `papers/<area>/<name>.py` and `tests/<area>/test_<name>.py`.
* **Each page's own file in the repository**: MkDocs's edit link is built from `repo_url` and `edit_uri` and
  the page's `edit_uri`, set here to the file's repository path (`papers/rnn/lstm.py`, `docs/index.md`).
"""
from __future__ import annotations

import ast
import html
import keyword
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .math import PLACEHOLDER

SEARCH_START = "<!--lp-search-->"
SEARCH_END = "<!--/lp-search-->"
SEARCH_TEXT = re.compile(r'<span class="lp-search-only">[^<]*</span>')
SEARCH_BLOCK = re.compile(re.escape(SEARCH_START) + ".*?" + re.escape(SEARCH_END), re.DOTALL)


# ## Math as plain text
#
# Not a TeX renderer: enough to turn a formula into words and symbols a reader recognises in a search result.
SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ",
    "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ",
    "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "cdot": "·", "times": "×", "div": "÷",
    "pm": "±", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈",
    "sim": "∼", "equiv": "≡", "propto": "∝", "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆",
    "cup": "∪", "cap": "∩", "to": "→", "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒", "mapsto": "↦",
    "infty": "∞", "partial": "∂", "nabla": "∇", "sum": "Σ", "prod": "Π", "int": "∫", "sqrt": "√",
    "odot": "⊙", "otimes": "⊗", "oplus": "⊕", "circ": "∘", "ldots": "…", "cdots": "⋯", "dots": "…",
    "forall": "∀", "exists": "∃", "top": "⊤", "log": "log", "exp": "exp", "max": "max", "min": "min",
    "softmax": "softmax", "tanh": "tanh", "sin": "sin", "cos": "cos", "lVert": "‖", "rVert": "‖",
    "Vert": "‖", "|": "‖", "langle": "⟨", "rangle": "⟩", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈",
    "rceil": "⌉", "{": "{", "}": "}", "%": "%", "$": "$", "&": "&", "_": "_", "#": "#",
}
# Commands that only change spacing or size, and `\left`/`\right` before a delimiter: dropped.
DROPPED = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "quad", "qquad",
           "displaystyle", "textstyle", "limits", "nolimits", "begin", "end", "label", "nonumber", "notag"}
DELIMITER_SIZES = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr"}
COMMAND = re.compile(r"\\([A-Za-z]+|.)")
FRACTION = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")


# A command with one argument that holds no braces: `\sqrt{d}` is √d, `\mathbf{W}` is W.
WRAPPER = re.compile(r"\\([A-Za-z]+)\s*\{([^{}]*)\}")


def plain_math(tex: str) -> str:
    text = tex
    for _ in range(4):  # nested arguments, innermost first
        text = FRACTION.sub(lambda m: f"({m.group(1)})/({m.group(2)})", text)
        text = WRAPPER.sub(_wrapper, text)
    text = re.sub(r"\\(?:begin|end)\{[^}]*\}", " ", text)
    text = COMMAND.sub(_command, text)
    text = text.replace("{", "").replace("}", "").replace("&", " ").replace("~", " ")
    return re.sub(r"\s+", " ", text).strip()


def _wrapper(match: re.Match[str]) -> str:
    name, argument = match.group(1), match.group(2)
    if name in ("frac", "dfrac", "tfrac", "begin", "end"):
        return match.group(0)
    if name == "sqrt":
        return f"√{argument}" if len(argument) <= 3 else f"√({argument})"
    return SYMBOLS.get(name, "") + argument if name in SYMBOLS else argument


def _command(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in DELIMITER_SIZES:
        return ""
    if name in DROPPED or name in ",;:! " or name == "\\":
        return " "
    return SYMBOLS.get(name, name)


# Each formula in a page's HTML: hidden from the search (Material drops the attribute once it has indexed the
# page), followed by its plain text for the search alone.
def searchable_math(content: str) -> str:
    def replace(match: re.Match[str]) -> str:
        plain = html.escape(plain_math(html.unescape(match.group(2))), quote=False)
        return (f'<span data-search-exclude="math">{match.group(0)}</span>'
                f'<span class="lp-search-only">{plain}</span>')

    return PLACEHOLDER.sub(replace, content)


def strip_search_only(output: str) -> str:
    if "lp-search" not in output:
        return output
    return SEARCH_TEXT.sub("", SEARCH_BLOCK.sub("", output))


# ## Headings with math in the table of contents
#
# Python-Markdown's table of contents has each heading's text with the math placeholder's tags stripped, so
# the raw TeX. The title becomes the heading's own HTML (without its permalink), placeholder included, which
# KaTeX renders in the finished page with the rest.
HEADING = re.compile(r'<h[1-6] id="([^"]+)"[^>]*>(.*?)</h[1-6]>', re.DOTALL)
PERMALINK = re.compile(r'<a class="headerlink"[^>]*>.*?</a>', re.DOTALL)


def toc_with_math(toc: list, content: str) -> None:
    if 'class="lp-math"' not in content:
        return
    headings = {match.group(1): match.group(2) for match in HEADING.finditer(content)
                if 'class="lp-math"' in match.group(2)}
    _retitle(toc, headings)


def _retitle(items: list, headings: dict[str, str]) -> None:
    for item in items:
        if item.id in headings:
            item.title = PERMALINK.sub("", headings[item.id]).strip()
        _retitle(item.children, headings)


# ## Code in the search
#
# One walk over the file's syntax tree: each name or attribute goes to the innermost definition around it, or
# to the module's code outside any definition.
@dataclass
class Definition:
    name: str  # qualified: `Outer.method`
    line: int
    signature: str
    names: dict[str, None]  # the names its own body uses, in order of first use (a nested definition's are its own)


DEFINITION = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def definitions(source: str) -> tuple[list[Definition], Definition]:
    """The file's definitions, and a pseudo-definition for the module's own code (line of its first statement)."""
    module = Definition("", 0, "", {})
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return [], module
    found: list[Definition] = []
    statements = [node for node in tree.body if not isinstance(node, DEFINITION)
                  and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    module.line = statements[0].lineno if statements else 0
    _collect(tree, module, "", source.splitlines(), found)
    return found, module


def _collect(node: ast.AST, owner: Definition, prefix: str, lines: list[str], found: list[Definition]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, DEFINITION):
            name = f"{prefix}{child.name}"
            signature = lines[child.lineno - 1].strip() if child.lineno <= len(lines) else name
            inner = Definition(name, child.lineno, signature, {})
            found.append(inner)
            _collect(child, inner, f"{name}.", lines, found)
            continue
        if isinstance(child, ast.Name):
            owner.names.setdefault(child.id)
        elif isinstance(child, ast.Attribute):
            owner.names.setdefault(child.attr)
        elif isinstance(child, ast.alias):
            owner.names.setdefault(child.name)
        _collect(child, owner, prefix, lines, found)


def shown_names(names: dict[str, None]) -> str:
    return " ".join(name for name in names if not keyword.iskeyword(name) and name not in ("self", "cls"))


def search_block(source: str, title: str) -> str:
    found, module = definitions(source)
    entries = [_entry(d.line, d.name, f"<code>{html.escape(d.signature)}</code> " + shown_names(d.names))
               for d in found]
    if module.line and module.names:
        entries.append(_entry(module.line, f"{title}: module code", shown_names(module.names)))
    if not entries:
        return ""
    return f'{SEARCH_START}<div class="lp-search-only">{"".join(entries)}</div>{SEARCH_END}'


def _entry(line: int, title: str, text: str) -> str:
    body = text if text.startswith("<code>") else html.escape(text)
    return f'<h6 id="L{line}">{html.escape(title)}</h6><p>{body}</p>'


# ## Papers and their tests (pairs found by [catalog](catalog.py))
def related_links(pairs: list[tuple[str, str]], repo_path: str) -> tuple[str, list[str]]:
    """What a page's header adds: ("Tests", test files) for a paper, ("Tests of", papers) for a test file."""
    tests = [test for paper, test in pairs if paper == repo_path]
    if tests:
        return "Tests", tests
    return "Tests of", [paper for paper, test in pairs if test == repo_path]


def add_related(content: str, label: str, links: list[tuple[str, str]]) -> str:
    """Append `· label: <a>path</a>, ...` to the page's source line (`<p class="lp-source">`)."""
    start = content.find('<p class="lp-source">')
    end = content.find("</p>", start)
    if start < 0 or end < 0 or not links:
        return content
    anchors = ", ".join(f'<a href="{html.escape(url)}"><code>{html.escape(path)}</code></a>'
                        for path, url in links)
    return f"{content[:end]} · {html.escape(label)}: {anchors}{content[end:]}"


# A page's file as a repository path; the path is not resolved, so a linked folder stays where it is linked.
def repository_path(root: Path, abs_src_path: str | None) -> str | None:
    if not abs_src_path:
        return None
    path = Path(os.path.abspath(abs_src_path))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else None
