"""Verdicts, and the judgement a test purpose records while it looks at the wire.

A test purpose judges check points, each against one catalogued requirement.  The requirement's
keyword decides what a violated check point means::

    MUST, MUST NOT, SHALL, SHALL NOT, REQUIRED, (binding)  -> FAIL
    SHOULD, SHOULD NOT, RECOMMENDED                         -> WARN
    MAY, OPTIONAL                                           -> INFO (behaviour observed either way)

The test's verdict is the worst of its check points, unless the test could not reach its test point:

    ERROR           infrastructure failed (HarnessError InfrastructureError): the DUT was not judged
    INCONCLUSIVE    the DUT could not be brought into the state needed (e.g. it never registered), or a
                    negative judgement had no proof that the capture was alive
    NOT APPLICABLE  role, edition or an optional feature (PICS) the DUT does not claim
    PASS, WARN, INFO, FAIL  from the check points

A failure before the test point (a precondition) is INCONCLUSIVE, never FAIL.  A check point that fails
a MUST-level requirement stops the test at once (later steps would build on a broken state).

Timing check points (:meth:`Judgement.check_timing`) compare a measured time with a *stated* bound that is
not itself normative -- a timing the DUT declared in its PICS, or the example timing of a specification
("e.g. every ten seconds") -- and a bound not met is WARN whatever the keyword of the requirement.
Measured outcomes (:meth:`Judgement.measure`: reaction and recovery times, packets lost) are reported, not
judged.

Interop runs judge end to end (:meth:`Judgement.end_to_end`): a flow that does not get through is FAIL against
the pseudo-requirement ``END-TO-END`` -- unless the captures show the clause that broke it, in which case that
clause is judged instead (its keyword decides) and the end-to-end outcome is recorded as explained by it.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Sequence
from typing import Any


class Verdict(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    INFO = "INFO"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT APPLICABLE"

    def __str__(self) -> str:
        return self.value


END_TO_END = "END-TO-END"  # the interop outcome no catalogued clause accounts for
END_TO_END_KEYWORD = "(end to end)"
MUST_LEVEL = frozenset({"MUST", "MUST NOT", "SHALL", "SHALL NOT", "REQUIRED", "(binding)", END_TO_END_KEYWORD})
SHOULD_LEVEL = frozenset({"SHOULD", "SHOULD NOT", "RECOMMENDED"})
MAY_LEVEL = frozenset({"MAY", "OPTIONAL"})

#: what a violated check point of each level means
VIOLATION = {**{k: Verdict.FAIL for k in MUST_LEVEL}, **{k: Verdict.WARN for k in SHOULD_LEVEL},
             **{k: Verdict.INFO for k in MAY_LEVEL}}


def level(keyword: str | None) -> str:
    """"MUST", "SHOULD" or "MAY" for a keyword (a keyword-less binding statement is MUST-level)."""
    if keyword is None or keyword in MUST_LEVEL:
        return "MUST"
    if keyword in SHOULD_LEVEL:
        return "SHOULD"
    if keyword in MAY_LEVEL:
        return "MAY"
    raise ValueError(f"unknown requirement keyword {keyword!r}")


class Inconclusive(Exception):
    """The test could not bring the DUT into the state its test point needs."""


class RequirementViolated(AssertionError):
    """A MUST-level check point failed (raised to stop the test; the verdict is FAIL)."""

    def __init__(self, requirement: str, detail: str) -> None:
        self.requirement = requirement
        super().__init__(f"{requirement}: {detail}")


@dataclasses.dataclass
class CheckPoint:
    requirement: str
    keyword: str
    ok: bool
    detail: str
    outcome: Verdict
    time: float
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    frame: Any = None  # the captured frame judged (harness.tester.Frame), if any
    tshark: dict[str, str] = dataclasses.field(default_factory=dict)  # fields tshark must read the same

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "frame"}
        d["outcome"] = str(self.outcome)
        if self.frame is not None:
            d["frame"] = {"link": self.frame.link, "time": self.frame.time}
        return d


class Judgement:
    """The check points of one test.  ``keywords`` maps requirement IDs to their keywords."""

    def __init__(self, keywords: dict[str, str | None], declared: tuple[str, ...]) -> None:
        self._keywords = keywords
        self.declared = declared  # the requirement IDs the test purpose names in its marker
        self.checks: list[CheckPoint] = []
        self.records: dict[str, Any] = {}
        self.measurements: dict[str, dict[str, Any]] = {}
        self.faults: list[Any] = []  # harness.faults.Fault objects applied during the test (records at the end)
        self.steps: list[tuple[float, str]] = []
        self.timelines: dict[str, dict[str, Any]] = {}

    def step(self, text: str) -> None:
        """Log a procedure step (they map to the steps of the test purpose's description)."""
        self.steps.append((time.time(), text))

    def record(self, name: str, value: Any) -> None:
        """Record an observed value that the specification does not judge (e.g. the H, L, K flags)."""
        self.records[name] = value

    def measure(self, name: str, value: float | int | None, unit: str, note: str = "") -> None:
        """Record a measured outcome (e.g. ``fault_to_reaction``, ``lost_packets``, ``recovery``); None = not
        measurable in this run, with ``note`` saying why."""
        self.measurements[name] = {"value": value, "unit": unit, **({"note": note} if note else {})}

    def timeline(self, series: str, arrivals: Sequence[float], events: Sequence[tuple[str, float]]) -> None:
        """Arrival times of a measured flow's packets, with the events to mark (a move, a fault applied or
        removed): the report plots it (packets per 10 ms).  Saved as evidence (``timeline.json``), not judged."""
        self.timelines[series] = {"arrivals": sorted(round(t, 6) for t in arrivals),
                                  "events": [{"name": n, "time": round(t, 6)} for n, t in events]}

    def require(self, condition: Any, why: str) -> None:
        """A precondition of the test point: if it does not hold, the verdict is INCONCLUSIVE."""
        if not condition:
            raise Inconclusive(why)

    def check(self, requirement: str, condition: Any, detail: str, *, frame: Any = None,
              tshark: dict[str, Any] | None = None, **evidence: Any) -> bool:
        """Judge one check point against ``requirement``; return whether it held.

        ``frame``: the captured frame judged; ``tshark``: fields of that frame (tshark names) whose values
        the tester read, to be confirmed by tshark after the test.  A violated MUST-level requirement
        raises :class:`RequirementViolated` (verdict FAIL).
        """
        keyword = self._keyword_of(requirement)
        ok = bool(condition)
        outcome = Verdict.PASS if ok else VIOLATION[keyword]
        self.checks.append(CheckPoint(requirement, keyword, ok, detail, outcome, time.time(),
                                      {k: str(v) for k, v in evidence.items()}, frame,
                                      {k: str(int(v) if isinstance(v, bool) else v) for k, v in (tshark or {}).items()}))
        if not ok and outcome is Verdict.FAIL:
            raise RequirementViolated(requirement, detail)
        return ok

    def check_timing(self, requirement: str, measured: float, bound: float, what: str, *, frame: Any = None) -> bool:
        """A measured time against a stated, non-normative bound (a PICS declaration or a specification's
        example): over the bound is WARN, whatever ``requirement``'s keyword."""
        ok = measured <= bound
        self.checks.append(CheckPoint(requirement, self._keyword_of(requirement), ok,
                                      f"{what}: {measured:.3f} s (bound {bound:.3f} s)",
                                      Verdict.PASS if ok else Verdict.WARN, time.time(),
                                      {"timing": "stated bound, not normative"}, frame))
        return ok

    def end_to_end(self, ok: bool, detail: str, *, explained_by: list[str] | None = None, frame: Any = None,
                   **evidence: Any) -> bool:
        """The end-to-end outcome of an interop check point.  Not ``ok`` and ``explained_by`` (requirements already
        judged violated by check points of this test) is recorded with the worst outcome of those check points, so
        the clause's keyword decides; not ``ok`` and unexplained is FAIL (raises :class:`RequirementViolated`)."""
        outcome = Verdict.PASS
        if not ok:
            causes = [c for c in self.checks if c.requirement in (explained_by or ()) and not c.ok]
            order = (Verdict.FAIL, Verdict.WARN, Verdict.INFO)
            outcome = min((c.outcome for c in causes), key=order.index, default=Verdict.FAIL)
            if causes:
                detail += " -- caused by " + ", ".join(sorted({c.requirement for c in causes}))
        self.checks.append(CheckPoint(END_TO_END, END_TO_END_KEYWORD, bool(ok), detail, outcome, time.time(),
                                      {k: str(v) for k, v in evidence.items()}, frame))
        if outcome is Verdict.FAIL and not ok:
            raise RequirementViolated(END_TO_END, detail)
        return bool(ok)

    def _keyword_of(self, requirement: str) -> str:
        if requirement not in self.declared:
            raise ValueError(f"check against {requirement}, which the test purpose does not declare "
                             f"(declared: {', '.join(self.declared) or 'none'})")
        return self._keywords[requirement] or "(binding)"

    def verdict(self) -> tuple[Verdict, str]:
        """The verdict from the check points alone (no exception), with the reason for a non-PASS."""
        if not self.checks:
            return Verdict.INCONCLUSIVE, "the test recorded no check point"
        for outcome in (Verdict.FAIL, Verdict.WARN, Verdict.INFO):
            bad = [c for c in self.checks if c.outcome is outcome]
            if bad:
                return outcome, "; ".join(f"{c.requirement} ({c.keyword}): {c.detail}" for c in bad)
        return Verdict.PASS, ""


def combine(judgement: Judgement | None, exc: BaseException | None, infra: bool) -> tuple[Verdict, str]:
    """The test's verdict from its judgement and the exception it ended with (if any)."""
    failed = [c for c in (judgement.checks if judgement else []) if c.outcome is Verdict.FAIL]
    if failed:  # a violation seen on the wire stands, whatever happened after it
        return Verdict.FAIL, "; ".join(f"{c.requirement} ({c.keyword}): {c.detail}" for c in failed)
    if exc is not None:
        if infra:
            return Verdict.ERROR, f"{type(exc).__name__}: {exc}"
        if isinstance(exc, Inconclusive):
            return Verdict.INCONCLUSIVE, str(exc)
        return Verdict.ERROR, f"test error before a judgement ({type(exc).__name__}): {exc}"
    if judgement is None:
        return Verdict.ERROR, "test purpose without a judgement"
    return judgement.verdict()
