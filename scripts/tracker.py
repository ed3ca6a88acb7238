"""Check and summarise tracker.md, the checklist of every paper.

    python scripts/tracker.py check    # exit 1 with `tracker.md:LINE: what is wrong` for every problem
    python scripts/tracker.py status   # done / total per section and overall
    python scripts/tracker.py rerun    # re-run the experiment of every linked paper whose results are stale

A tracker line is a Markdown checklist item:

    - [x] **A14** Attention Is All You Need (Vaswani et al., 2017): [page](papers/...py) · [tests](tests/...py)

Part A entries start with their catalog number in bold; Part B entries with their title. Links follow a colon,
separated by ` · `: `page` (the paper's file), `tests` (its test file) and, for a paper spread over several
files, one `file` link per extra file. A ` · note: ...` may end the line.

A ticked line ends with a note that opens with its verdict: whether the paper's claim, measured in miniature
over seeds, held at this scale (`held:`), held only in part or narrowly (`held weakly:`) or did not
(`not held:`), followed by what was measured. The home page's dashboard shows the verdict on the paper's card.

The rule for paper files: every `.py` under `papers/` must be linked from a line, except `__init__.py` files and
the experiment kit in `papers/kit/`, whose files are shared helpers rather than papers.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACKER = ROOT / "tracker.md"
# How a ticked line's note opens: the claim held, held in part or narrowly, or did not hold at this scale.
VERDICTS = ("held: ", "held weakly: ", "not held: ")
CATALOG = ROOT.parent / "shared" / "catalog.md"

sys.path.insert(0, str(ROOT))
from papers.kit.experiment import code_fingerprint, results_path  # pylint: disable=wrong-import-position

ITEM = re.compile(r"^- \[(?P<mark>[ xX])\] (?P<body>\S.*)$")
LINK = re.compile(r"\[(?P<label>[^\]]+)\]\((?P<target>[^)\s]+)\)")
PART_A_ID = re.compile(r"^\*\*(?P<id>A\d+)\*\* ")
LINK_LABELS = {"page", "tests", "file"}


@dataclass
class Entry:
    line: int
    part: str  # "A" or "B"
    section: str
    ticked: bool
    key: str  # "A14" for Part A, the title for Part B
    title: str
    links: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


@dataclass
class Tracker:
    entries: list[Entry]
    sections: list[str]
    problems: list[tuple[int, str]]


# ## Parsing

def parse(text: str) -> Tracker:
    entries: list[Entry] = []
    sections: list[str] = []
    problems: list[tuple[int, str]] = []
    part, section = "", ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            part, section = _heading(stripped, part, section, sections)
            continue
        if not stripped or not _looks_like_item(stripped):
            continue
        if line != stripped:
            problems.append((number, "checklist items must not be indented"))
            continue
        if not part or not section:
            problems.append((number, "checklist item before any '## Part' section heading"))
            continue
        entry, problem = _parse_item(number, line, part, section)
        if problem:
            problems.append((number, problem))
        if entry:
            entries.append(entry)
    return Tracker(entries, sections, problems)


def _heading(line: str, part: str, section: str, sections: list[str]) -> tuple[str, str]:
    level = len(line) - len(line.lstrip("#"))
    title = line[level:].strip()
    if level == 2:
        match = re.match(r"Part ([AB])\b", title)
        part = match.group(1) if match else ""
        section = title if part == "A" else ""
        if part == "A":
            sections.append(section)
    elif level == 3 and part == "B":
        section = title
        sections.append(section)
    return part, section


# Anything that starts like a list item must be a well-formed checklist item: nothing is skipped silently.
def _looks_like_item(line: str) -> bool:
    return bool(re.match(r"^([-*+]|\d+[.)])\s", line)) or line.startswith("[")


def _parse_item(number: int, line: str, part: str, section: str) -> tuple[Entry | None, str]:
    match = ITEM.match(line)
    if not match:
        return None, "malformed line: expected '- [ ] Title (reference)' or '- [x] ...: [page](...) · [tests](...)'"
    body = match.group("body")
    body, _, note = body.partition(" · note: ")
    head, links = _split_links(body)
    if links is None:
        return None, "malformed links: expected ': [page](...) · [tests](...)' after the title"
    key, title = head, head
    if part == "A":
        id_match = PART_A_ID.match(head)
        if not id_match:
            return None, "Part A lines start with their bold catalog number, e.g. '**A14** '"
        key, title = id_match.group("id"), head[id_match.end():]
    else:
        title = key = _title_without_reference(head)
    entry = Entry(number, part, section, match.group("mark") in "xX", key, title.strip(), links, note.strip())
    return entry, ""


# `Title (reference): [page](a) · [tests](b)` → (`Title (reference)`, {"page": ["a"], "tests": ["b"]}).
def _split_links(body: str) -> tuple[str, dict[str, list[str]] | None]:
    if not LINK.search(body):
        return body.strip(), {}
    head, separator, tail = body.rpartition("): ")
    if not separator:
        head, separator, tail = body.partition(": ")
        if not separator:
            return body, None
    else:
        head += ")"
    links: dict[str, list[str]] = {}
    for part in tail.split(" · "):
        match = LINK.fullmatch(part.strip())
        if not match or match.group("label") not in LINK_LABELS:
            return head, None
        links.setdefault(match.group("label"), []).append(match.group("target"))
    return head.strip(), links


def _title_without_reference(head: str) -> str:
    return re.sub(r"\s*\(.*\)\s*$", "", head).strip()


# ## The catalog: the order and names the tracker must follow

def catalog_order(text: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    part_a = [(m.group(1), m.group(2).strip()) for m in re.finditer(r"^\| (A\d+) \| ([^|]+) \|", text, re.M)]
    part_b: list[tuple[str, str]] = []
    for line in text.split("## Part B", 1)[-1].splitlines():
        match = re.match(r"^([A-Z][^:]+): (.+)\.$", line)
        if not match or line.startswith(("Sections", "The checklist")):
            continue
        for item in _split_top_level(match.group(2)):
            part_b.append((match.group(1), _title_without_reference(item)))
    return part_a, part_b


def _split_top_level(text: str) -> list[str]:
    items, depth, current = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ";" and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    return items + [current.strip()]


# ## The checks

def check(tracker: Tracker, catalog: str | None) -> list[tuple[int, str]]:
    problems = list(tracker.problems)
    problems += _duplicates(tracker.entries)
    for entry in tracker.entries:
        problems += [(entry.line, p) for p in _check_entry(entry)]
    problems += _unlisted_papers(tracker.entries)
    if catalog is not None:
        problems += _against_catalog(tracker.entries, catalog)
    return sorted(problems)


def _duplicates(entries: list[Entry]) -> list[tuple[int, str]]:
    seen: dict[tuple[str, str, str], int] = {}
    problems = []
    for entry in entries:
        key = (entry.part, entry.section if entry.part == "B" else "", entry.key.lower())
        if key in seen:
            problems.append((entry.line, f"entry {entry.key!r} appears twice (first on line {seen[key]})"))
        else:
            seen[key] = entry.line
    return problems


def _check_entry(entry: Entry) -> list[str]:
    problems = []
    for label, targets in entry.links.items():
        if label in ("page", "tests") and len(targets) > 1:
            problems.append(f"more than one {label} link")
        for target in targets:
            if not (ROOT / target).is_file():
                problems.append(f"{label} link points to a missing file: {target}")
    if not entry.ticked:
        return problems
    page, tests = entry.links.get("page", []), entry.links.get("tests", [])
    if not page:
        problems.append("ticked but has no page link")
    if not tests:
        problems.append("ticked but has no tests link")
    if problems:
        return problems
    if not entry.note.startswith(VERDICTS):
        problems.append(f"ticked, so its note must open with a verdict ({', '.join(v.strip() for v in VERDICTS)}), "
                        f"got {entry.note[:30]!r}")
    page_path, tests_path = ROOT / page[0], ROOT / tests[0]
    if page_path.suffix != ".py" or not page_path.is_relative_to(ROOT / "papers"):
        return [f"page must be a .py file under papers/, got {page[0]}"]
    if not _imports_module(tests_path, _module_name(page_path)):
        problems.append(f"{tests[0]} imports nothing from {_module_name(page_path)}")
    problems += _check_results(page_path)
    return problems


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports_module(tests_path: Path, module: str) -> bool:
    tree = ast.parse(tests_path.read_text(encoding="utf-8"))
    package, _, leaf = module.rpartition(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == module for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == module:
            return True
        if isinstance(node, ast.ImportFrom) and node.module == package and any(a.name == leaf for a in node.names):
            return True
    return False


# A full run's record, with the machine it ran on (thread count, vector kernels, BLAS).
def _check_record(record: dict, relative: str) -> list[str]:
    if record.get("quick"):
        return [f"results in {relative} come from a --quick run; the full run's are needed"]
    unrecorded = [key for key in ("torch_threads", "cpu_capability", "blas") if key not in record]
    if unrecorded:
        return [f"results in {relative} do not record the machine they ran on ({', '.join(unrecorded)}): "
                "re-run it (make results)"]
    return []


def _check_results(page_path: Path) -> list[str]:
    path = results_path(page_path)
    relative = path.relative_to(ROOT).as_posix()
    if not path.is_file():
        return [f"results missing: run `python {page_path.relative_to(ROOT).as_posix()}` to write {relative}"]
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        return [f"results file {relative} is not valid JSON: {error}"]
    problems = _check_record(record, relative)
    if problems:
        return problems
    fingerprint, _ = code_fingerprint(page_path)
    if record.get("fingerprint") != fingerprint:
        return [f"results in {relative} are stale: the code changed since they were produced (make results)"]
    missing = [f for f in record.get("figures", []) if not (path.parent / f).is_file()]
    if missing:
        return [f"figures named in {relative} are missing: {', '.join(missing)}"]
    return []


def _unlisted_papers(entries: list[Entry]) -> list[tuple[int, str]]:
    linked = {(ROOT / t).resolve() for e in entries for label in ("page", "file") for t in e.links.get(label, [])}
    problems = []
    for path in sorted((ROOT / "papers").rglob("*.py")):
        relative = path.relative_to(ROOT)
        if path.name == "__init__.py" or relative.parts[:2] == ("papers", "kit"):
            continue
        if path.resolve() not in linked:
            problems.append((0, f"{relative.as_posix()} is a paper file on no tracker line"))
    return problems


def _against_catalog(entries: list[Entry], catalog: str) -> list[tuple[int, str]]:
    part_a, part_b = catalog_order(catalog)
    have_a = [(e.key, e.title, e.line) for e in entries if e.part == "A"]
    have_b = [(e.section, e.title, e.line) for e in entries if e.part == "B"]
    problems = _compare(have_a, part_a, "Part A") + _compare(have_b, part_b, "Part B")
    return problems


def _compare(have: list[tuple[str, str, int]], want: list[tuple[str, str]], part: str) -> list[tuple[int, str]]:
    problems = []
    for index, (first, title) in enumerate(want):
        if index >= len(have):
            problems.append((0, f"{part}: catalog entry {first} / {title!r} has no tracker line"))
            continue
        got_first, got_title, line = have[index]
        if got_first != first or not _same_title(got_title, title):
            problems.append((line, f"{part} entry {index + 1} should be {first} / {title!r} "
                                   f"(catalog order), got {got_first} / {got_title!r}"))
    for got_first, got_title, line in have[len(want):]:
        problems.append((line, f"{part}: {got_first} / {got_title!r} is not in the catalog"))
    return problems


# The tracker may shorten a title, but it must stay recognisable: one must start with the other.
def _same_title(got: str, want: str) -> bool:
    got = _title_without_reference(got).lower()
    want = want.lower()
    return got.startswith(want) or want.startswith(got)


# ## Status

def status(tracker: Tracker) -> str:
    lines = []
    for section in tracker.sections:
        members = [e for e in tracker.entries if e.section == section]
        done = sum(e.ticked for e in members)
        lines.append(f"{done:3d} / {len(members):3d}  {section}")
    done = sum(e.ticked for e in tracker.entries)
    lines.append(f"{done:3d} / {len(tracker.entries):3d}  overall")
    return "\n".join(lines)


def rerun(tracker: Tracker) -> int:
    pages = sorted({e.links["page"][0] for e in tracker.entries if "page" in e.links})
    failures = 0
    for page in pages:
        if not _check_results(ROOT / page):
            continue
        print(f"running {page}", flush=True)
        failures += subprocess.run([sys.executable, str(ROOT / page)], cwd=ROOT, check=False).returncode != 0
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "status", "rerun"])
    args = parser.parse_args(argv)
    tracker = parse(TRACKER.read_text(encoding="utf-8"))
    if args.command == "status":
        print(status(tracker))
        return 0
    if args.command == "rerun":
        return rerun(tracker)
    catalog = CATALOG.read_text(encoding="utf-8") if CATALOG.is_file() else None
    if catalog is None:
        print(f"note: {CATALOG} not found; the tracker's order was not compared with the catalog")
    problems = check(tracker, catalog)
    for line, problem in problems:
        print(f"tracker.md:{line}: {problem}" if line else f"tracker.md: {problem}")
    ticked = sum(e.ticked for e in tracker.entries)
    if problems:
        print(f"tracker check failed: {len(problems)} problem(s)")
        return 1
    print(f"tracker check passed: {len(tracker.entries)} entries, {ticked} ticked, every tick earned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
