"""The tracker's progress: under each heading of `tracker.md`, how many of the task lines below it are ticked.

A task line is a Markdown list item that starts with `[x]` or `[ ]`. A heading counts the task lines up to the
next heading of the same or a higher level, so the page's title counts them all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TASK = re.compile(r"^\s*[-*+]\s+\[([ xX])\]\s")
HEADING = re.compile(r"^(#{1,6})\s+\S")
FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Progress:
    line: int  # index of the heading line
    done: int
    total: int

    def html(self) -> str:
        percent = round(100 * self.done / self.total) if self.total else 0
        return (f'<p class="lp-progress"><progress max="{self.total}" value="{self.done}"></progress> '
                f"<span><strong>{self.done}/{self.total}</strong> done ({percent}%)</span></p>")


def progress(lines: list[str]) -> list[Progress]:
    headings: list[tuple[int, int]] = []  # (line index, level)
    tasks: list[tuple[int, bool]] = []
    in_fence = False
    for index, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (heading := HEADING.match(line)):
            headings.append((index, len(heading.group(1))))
        elif not in_fence and (task := TASK.match(line)):
            tasks.append((index, task.group(1) != " "))
    found = []
    for position, (index, level) in enumerate(headings):
        later = (other for other, other_level in headings[position + 1:] if other_level <= level)
        end = next(later, len(lines))
        counted = [done for task_index, done in tasks if index < task_index < end]
        if counted:
            found.append(Progress(index, sum(counted), len(counted)))
    return found


def add_progress(markdown: str) -> str:
    lines = markdown.split("\n")
    for item in reversed(progress(lines)):
        lines[item.line + 1:item.line + 1] = ["", item.html(), ""]
    return "\n".join(lines)
