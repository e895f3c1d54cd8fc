"""How the fault suite judges what the base received: pure functions over ``/cmd_vel`` and the log. No ROS.

A fault's row passes when every expectation it names held; :attr:`Row.problems` says which did not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Row", "between_outputs", "first", "held", "matching", "table", "tidy"]


class Command(Protocol):
    t: float
    linear: float
    angular: float

    @property
    def zero(self) -> bool: ...


def first(outputs: Iterable[Command], since: float, match: Callable[[Command], bool]) -> Command | None:
    """The first output received at or after ``since`` that ``match``es."""
    return next((o for o in outputs if o.t >= since and match(o)), None)


def held(outputs: Sequence[Command], start: float, end: float, match: Callable[[Command], bool]) -> str | None:
    """None when every output in ``[start, end)`` ``match``es (and there is at least one a cycle); else why not."""
    window = [o for o in outputs if start <= o.t < end]
    if not window:
        return f"no output in the {end - start:.2f} s after it"
    bad = [o for o in window if not match(o)]
    if bad:
        o = bad[0]
        return (
            f"{len(bad)} of {len(window)} outputs broke it, the first {o.t - start:.2f} s in: "
            f"({o.linear:.3f}, {o.angular:.3f})"
        )
    return None


def between_outputs(outputs: Sequence[Command], start: float, end: float) -> str:
    """What the base received in ``[start, end]``: how many commands, the last one that drove, the longest gap."""
    window = [o for o in outputs if start <= o.t <= end]
    if not window:
        return ""
    times = [start, *(o.t for o in window)]
    gap = max(b - a for a, b in zip(times, times[1:], strict=False))
    driving = [o for o in window if not o.zero]
    last = f"the last that drove {1000.0 * (driving[-1].t - start):.0f} ms in" if driving else "none drove"
    return f"{len(window)} commands received by then, {last}; the longest gap between two {1000.0 * gap:.0f} ms"


_ROS_PREFIX = re.compile(r"\[(?:DEBUG|INFO|WARN|ERROR|FATAL)\] \[\d+\.\d+\] \[[\w.]+\]: ")


def tidy(line: str) -> str:
    """A node's log line without rcutils' severity, time and logger name (the supervisor's ``[node]`` stays)."""
    return _ROS_PREFIX.sub("", line)


def matching(lines: Iterable[tuple[float, str]], since: float, pattern: str) -> str | None:
    """The first line (received at or after ``since``) in which ``pattern`` (a regular expression) is found."""
    regex = re.compile(pattern)
    return next((tidy(text) for t, text in lines if t >= since and regex.search(text)), None)


@dataclass
class Row:
    """One fault: what was expected, what was observed, and whether it held."""

    fault: str
    expected: str
    limit_ms: float | None = None
    """The time the reaction may take (None: no timing is judged)."""
    observed_ms: float | None = None
    """The time it took (from the injection to the first output that shows the reaction)."""
    observed: str = ""
    message: str = ""
    """The log line that says why (and the diagnostic, where the fault has one)."""
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def timed(self, t0: float, reaction: Command | None, what: str, outputs: Sequence[Command] = ()) -> None:
        """Record when ``reaction`` (the first output showing it, or None) came after the injection at ``t0``.

        When it came late, the problem also says what the base received in between (``outputs``): a long gap
        between two commands points at delivery or a stalled node, commands that kept driving at a decision
        taken late."""
        if reaction is None:
            self.problems.append(f"no {what}")
            return
        self.observed_ms = 1000.0 * (reaction.t - t0)
        if self.limit_ms is not None and self.observed_ms > self.limit_ms:
            late = f"{what} after {self.observed_ms:.0f} ms > {self.limit_ms:.0f} ms"
            between = between_outputs(outputs, t0, reaction.t)
            self.problems.append(f"{late} ({between})" if between else late)

    def said(self, label: str, line: str | None) -> None:
        """Add the line that says why, or a problem when nothing said it."""
        if line is None:
            self.problems.append(f"no {label} said why")
        else:
            self.message = f"{self.message}; {line}" if self.message else line

    def check(self, what: str, problem: str | None) -> None:
        if problem is not None:
            self.problems.append(f"{what}: {problem}")

    def as_dict(self) -> dict[str, object]:
        return {
            "fault": self.fault,
            "expected": self.expected,
            "limit_ms": self.limit_ms,
            "observed_ms": self.observed_ms,
            "observed": self.observed,
            "message": self.message,
            "passed": self.passed,
            "problems": self.problems,
        }


def _cell(text: str, width: int = 160) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 3] + "..."


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table: fault, expected, observed (ms and limit), the message, pass or fail."""
    out = [
        "| fault | expected | observed | time (limit) | message | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        timing = "" if r.observed_ms is None else f"{r.observed_ms:.0f} ms"
        if r.limit_ms is not None:
            timing += f" (≤ {r.limit_ms:.0f})"
        result = "pass" if r.passed else "FAIL: " + "; ".join(r.problems)
        out.append(
            f"| {_cell(r.fault)} | {_cell(r.expected)} | {_cell(r.observed)} | {timing} | {_cell(r.message)} | "
            f"{_cell(result, 300)} |"
        )
    return "\n".join(out)
