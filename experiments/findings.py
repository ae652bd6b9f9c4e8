"""Findings are data: a statistic with its interval, the rule that turns it into a verdict,
and whether the verdict survives a smaller time step and other seeds.

A finding is a :class:`Finding` record. Experiments do not build them by hand: they call
``ctx.finding(...)`` (:meth:`experiments.framework.Context.finding`), which estimates the
statistic, runs the robustness checks and applies the rule; the framework writes the records
to ``tables/findings_<experiment>.csv`` and ``tables/findings.csv`` and renders them in
REPORT.md (:func:`findings_table`, :func:`summary_table`). No prose is chosen by comparing
numbers: a statement is a fixed sentence (it may show the numbers through the format fields
``{value}``, ``{ci_low}``, ``{ci_high}`` and ``{unit}``), and the verdict comes from a rule.

Verdicts
--------
A rule (:class:`Above`, :class:`Below`, :class:`Between`, :class:`Near`) states the claim as a
set of values of the statistic. From the 95% interval ``[ci_low, ci_high]`` at the configured
time step and seed, :meth:`Rule.decide` gives

* ``confirmed`` when every point of the interval satisfies the claim,
* ``refuted`` when no point does,
* ``inconclusive`` otherwise, and when there is no interval (NaN) or no estimate.

Then robustness (:func:`judge`): the statistic is estimated again at dt / 4 (same seed) and at
two other seeds (same dt). A check **holds** when its point estimate lies on the same side of
the rule as the decided verdict (inside the claimed set for ``confirmed``, outside it for
``refuted``); an estimate that is NaN does not hold. A decided verdict with a check that does
not hold becomes ``qualified``: the conclusion depends on the discretisation or on the sample.
Checks that were not run (``--quick``, or an inconclusive verdict, which no check can change)
are recorded as None and leave the verdict as it is. Point estimates, rather than intervals,
judge the checks so that a check run on fewer paths (a wider interval) can still fail.

A claim tested by several findings gets one verdict in the executive summary (the claim is the
conjunction of its findings): the worst of them in the order confirmed < qualified <
inconclusive < refuted (:func:`aggregate`).

Example
-------
>>> rule = Above(0.0)
>>> rule.text()
'CI above 0'
>>> rule.decide(Estimate(1.2, 0.4, 2.0)).value
'confirmed'
>>> verdict, *_ = judge(rule, Estimate(1.2, 0.4, 2.0), dt4=Estimate(-0.1, -0.9, 0.7))
>>> verdict.value
'qualified'
"""

from __future__ import annotations

import enum
import math
import numbers
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.claims import CLAIMS
from experiments.claims import claim as _claim

_SLUG = re.compile(r"[a-z0-9_]+")


class Verdict(str, enum.Enum):
    """What a finding concludes about its claim."""

    CONFIRMED = "confirmed"
    QUALIFIED = "qualified"
    INCONCLUSIVE = "inconclusive"
    REFUTED = "refuted"

    def __str__(self) -> str:
        return self.value


VERDICT_MEANING: Mapping[Verdict, str] = {
    Verdict.CONFIRMED: "the whole 95% CI satisfies the claim, at dt / 4 and at two other seeds "
                       "too (or those checks were not run)",
    Verdict.QUALIFIED: "the CI decides, but the point estimate at dt / 4 or at another seed "
                       "falls on the other side of the rule",
    Verdict.INCONCLUSIVE: "the CI straddles the rule's threshold, or there is no CI",
    Verdict.REFUTED: "the whole 95% CI contradicts the claim, at dt / 4 and at two other seeds "
                     "too (or those checks were not run)",
}
"""One line per verdict, for the report's legend."""

_SEVERITY = {Verdict.CONFIRMED: 0, Verdict.QUALIFIED: 1, Verdict.INCONCLUSIVE: 2,
             Verdict.REFUTED: 3}


# --- estimates --------------------------------------------------------------------------------
def _number(name: str, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be a real number or NaN, got {value!r}")
    value = float(value)
    if math.isinf(value):
        raise ValueError(f"{name} must be finite or NaN, got {value!r}")
    return value


@dataclass(frozen=True)
class Estimate:
    """A statistic's value and its 95% interval (NaN bounds: no interval).

    Parameters
    ----------
    value : float
        The point estimate, in the statistic's unit (NaN: not estimable).
    ci_low, ci_high : float
        Bounds of the 95% interval, both finite with ``ci_low <= value <= ci_high``, or both
        NaN when there is no honest interval (e.g. an unreliable certainty equivalent).
    """

    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high"):
            object.__setattr__(self, name, _number(name, getattr(self, name)))
        low, high = self.ci_low, self.ci_high
        if math.isnan(low) != math.isnan(high):
            raise ValueError(f"ci_low and ci_high must be both finite or both NaN, got "
                             f"[{low!r}, {high!r}]")
        if not math.isnan(low):
            if low > high:
                raise ValueError(f"ci_low must be <= ci_high, got [{low!r}, {high!r}]")
            if not math.isnan(self.value) and not low <= self.value <= high:
                raise ValueError(f"value must lie in [ci_low, ci_high] = [{low!r}, {high!r}], "
                                 f"got {self.value!r}")

    @property
    def has_ci(self) -> bool:
        """Whether there is an estimate with an interval."""
        return not (math.isnan(self.value) or math.isnan(self.ci_low))

    @classmethod
    def exact(cls, value: float) -> Estimate:
        """A number known without sampling error (an analytic value, an identity residual):
        its interval is the point itself."""
        return cls(value, value, value)

    @classmethod
    def from_row(cls, row: Mapping, name: str) -> Estimate:
        """``row[name]`` with ``row[name + "_ci_low"]`` and ``row[name + "_ci_high"]``, e.g. a
        :func:`experiments.stats.pnl_summary` row: ``Estimate.from_row(row, "sharpe")``."""
        try:
            return cls(float(row[name]), float(row[f"{name}_ci_low"]),
                       float(row[f"{name}_ci_high"]))
        except KeyError as err:
            raise ValueError(f"name: the row has no column {err.args[0]!r}") from None

    @classmethod
    def from_stats(cls, result: Mapping, key: str) -> Estimate:
        """``result[key]`` with ``result["ci_low"]`` and ``result["ci_high"]``: the dicts of
        :mod:`experiments.stats` (``Estimate.from_stats(mean_ci(x), "mean")``)."""
        try:
            return cls(float(result[key]), float(result["ci_low"]), float(result["ci_high"]))
        except KeyError as err:
            raise ValueError(f"key: the result has no entry {err.args[0]!r}") from None


# --- rules ------------------------------------------------------------------------------------
class Rule(ABC):
    """A claim about a statistic as a convex set of its values, and the verdict it gives.

    Subclasses define :meth:`satisfied` (is a number in the claimed set?), the set's ends in
    :meth:`_bounds` and :meth:`text`; :meth:`decide` is shared.
    """

    @abstractmethod
    def satisfied(self, value: float) -> bool:
        """Whether the number ``value`` satisfies the claim."""

    @abstractmethod
    def text(self) -> str:
        """The rule in words, e.g. ``"CI above 0"``."""

    def decide(self, estimate: Estimate) -> Verdict:
        """``confirmed`` if every point of the interval satisfies the claim, ``refuted`` if
        none does, else ``inconclusive`` (also without an interval)."""
        if not isinstance(estimate, Estimate):
            raise ValueError(f"estimate must be an Estimate, got {type(estimate).__name__}")
        if not estimate.has_ci:
            return Verdict.INCONCLUSIVE
        low, high = estimate.ci_low, estimate.ci_high
        if self.satisfied(low) and self.satisfied(high):   # convex set: the ends decide
            return Verdict.CONFIRMED
        if not self._meets(low, high):
            return Verdict.REFUTED
        return Verdict.INCONCLUSIVE

    @abstractmethod
    def _meets(self, low: float, high: float) -> bool:
        """Whether the interval ``[low, high]`` has a point in the claimed set."""

    def __str__(self) -> str:
        return self.text()


def _threshold(name: str, value) -> float:
    value = _number(name, value)
    if math.isnan(value):
        raise ValueError(f"{name} must be finite, got nan")
    return value


@dataclass(frozen=True)
class Above(Rule):
    """The claim ``statistic > threshold``: confirmed when ``ci_low > threshold``, refuted when
    ``ci_high <= threshold``."""

    threshold: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _threshold("threshold", self.threshold))

    def satisfied(self, value: float) -> bool:
        return value > self.threshold

    def _meets(self, low: float, high: float) -> bool:
        return high > self.threshold

    def text(self) -> str:
        return f"CI above {self.threshold:g}"


@dataclass(frozen=True)
class Below(Rule):
    """The claim ``statistic < threshold``: confirmed when ``ci_high < threshold``, refuted when
    ``ci_low >= threshold``."""

    threshold: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _threshold("threshold", self.threshold))

    def satisfied(self, value: float) -> bool:
        return value < self.threshold

    def _meets(self, low: float, high: float) -> bool:
        return low < self.threshold

    def text(self) -> str:
        return f"CI below {self.threshold:g}"


@dataclass(frozen=True)
class Between(Rule):
    """The claim ``low <= statistic <= high`` (closed): confirmed when the CI lies inside
    ``[low, high]``, refuted when it lies wholly below ``low`` or wholly above ``high``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _threshold("low", self.low))
        object.__setattr__(self, "high", _threshold("high", self.high))
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low!r}, high={self.high!r}")

    def satisfied(self, value: float) -> bool:
        return self.low <= value <= self.high

    def _meets(self, low: float, high: float) -> bool:
        return high >= self.low and low <= self.high

    def text(self) -> str:
        return f"CI within [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Near(Rule):
    """The claim ``|statistic - target| <= tol``: :class:`Between` ``(target - tol, target +
    tol)``, for "agrees with the paper / the analytic value to within tol"."""

    target: float
    tol: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", _threshold("target", self.target))
        object.__setattr__(self, "tol", _threshold("tol", self.tol))
        if self.tol <= 0:
            raise ValueError(f"tol must be > 0, got {self.tol!r}")

    def satisfied(self, value: float) -> bool:
        # The ends as Between computes them, so that a border is a border to the last bit.
        return self.target - self.tol <= value <= self.target + self.tol

    def _meets(self, low: float, high: float) -> bool:
        return high >= self.target - self.tol and low <= self.target + self.tol

    def text(self) -> str:
        return f"CI within {self.tol:g} of {self.target:g}"


# --- judging ----------------------------------------------------------------------------------
def judge(rule: Rule, estimate: Estimate, *, dt4: Estimate | None = None,
          seeds: Sequence[Estimate] = ()) -> tuple[Verdict, Verdict, bool | None, bool | None]:
    """The verdict of a finding from its estimate and robustness checks (module docstring).

    Parameters
    ----------
    rule : Rule
    estimate : Estimate
        At the configured dt and seed.
    dt4 : Estimate or None
        At dt / 4, same seed; None if not run.
    seeds : sequence of Estimate
        At the other seeds, same dt; empty if not run.

    Returns
    -------
    (verdict, ci_verdict, holds_at_dt4, holds_across_seeds)
        ``ci_verdict`` is ``rule.decide(estimate)``; the ``holds_*`` are None when the check
        was not run or the CI verdict is inconclusive.
    """
    if not isinstance(rule, Rule):
        raise ValueError(f"rule must be a Rule (Above, Below, Between, Near), got "
                         f"{type(rule).__name__}")
    ci_verdict = rule.decide(estimate)
    if ci_verdict is Verdict.INCONCLUSIVE:
        return ci_verdict, ci_verdict, None, None
    claimed = ci_verdict is Verdict.CONFIRMED

    def holds(check: Estimate) -> bool:
        if not isinstance(check, Estimate):
            raise ValueError(f"robustness estimates must be Estimate, got "
                             f"{type(check).__name__}")
        return not math.isnan(check.value) and rule.satisfied(check.value) == claimed

    holds_dt4 = None if dt4 is None else holds(dt4)
    seeds = list(seeds)
    holds_seeds = all([holds(s) for s in seeds]) if seeds else None
    verdict = Verdict.QUALIFIED if False in (holds_dt4, holds_seeds) else ci_verdict
    return verdict, ci_verdict, holds_dt4, holds_seeds


def aggregate(findings: Iterable[Finding]) -> tuple[Verdict | None, Finding | None]:
    """One verdict for a claim tested by several findings, and the finding that decides it:
    the first (in the given order) with the worst verdict, in the order confirmed <
    qualified < inconclusive < refuted. ``(None, None)`` when there are no findings."""
    worst = None
    for f in findings:
        if worst is None or _SEVERITY[f.verdict] > _SEVERITY[worst.verdict]:
            worst = f
    return (None, None) if worst is None else (worst.verdict, worst)


# --- the record -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One finding: what was measured, how sure we are, and what it says about which claim.

    Attributes
    ----------
    experiment : str
        The experiment that produced it (its module name).
    id : str
        Short identifier, unique within the experiment (lowercase letters, digits, ``_``).
    claim : int or None
        The claim (1..11, :mod:`experiments.claims`) it tests; None for other findings.
    statement : str
        A fixed sentence saying what the finding is about (format fields filled in).
    statistic : str
        What the number is, e.g. ``"std of terminal PnL, AS minus symmetric"``.
    value, ci_low, ci_high : float
        The estimate at the configured dt and seed and its 95% CI (NaN: none).
    unit : str
        Unit of the statistic (``""`` when dimensionless).
    rule : str
        The verdict rule in words (:meth:`Rule.text`).
    verdict, ci_verdict : Verdict
        The final verdict, and the one from the interval alone (before robustness).
    holds_at_dt4, holds_across_seeds : bool or None
        Robustness checks (module docstring); None when not run.
    value_dt4, ci_low_dt4, ci_high_dt4 : float
        The estimate at dt / 4 (NaN when not run).
    value_seed2, value_seed3 : float
        The point estimates at the second and third seeds (NaN when not run).
    seeds : str
        The seeds used, the configured one first, space separated (e.g. ``"2008 2009 2010"``).
    section : str
        Anchor in REPORT.md the finding links to: the experiment, or one of its tables or
        figures.
    """

    experiment: str
    id: str
    claim: int | None
    statement: str
    statistic: str
    value: float
    ci_low: float
    ci_high: float
    unit: str
    rule: str
    verdict: Verdict
    ci_verdict: Verdict
    holds_at_dt4: bool | None = None
    holds_across_seeds: bool | None = None
    value_dt4: float = math.nan
    ci_low_dt4: float = math.nan
    ci_high_dt4: float = math.nan
    value_seed2: float = math.nan
    value_seed3: float = math.nan
    seeds: str = ""
    section: str = ""

    def __post_init__(self) -> None:
        for name in ("experiment", "id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _SLUG.fullmatch(value):
                raise ValueError(f"{name} must be lowercase letters, digits and '_', got "
                                 f"{value!r}")
        if self.claim is not None:
            object.__setattr__(self, "claim", _claim(self.claim).number)
        for name in ("statement", "statistic", "rule"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        for name in ("unit", "seeds", "section"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        for name in ("verdict", "ci_verdict"):
            try:
                object.__setattr__(self, name, Verdict(getattr(self, name)))
            except ValueError:
                raise ValueError(f"{name} must be one of {[v.value for v in Verdict]}, got "
                                 f"{getattr(self, name)!r}") from None
        for name in ("holds_at_dt4", "holds_across_seeds"):
            if getattr(self, name) not in (True, False, None):
                raise ValueError(f"{name} must be True, False or None, got "
                                 f"{getattr(self, name)!r}")
        for name in ("value", "ci_low", "ci_high", "value_dt4", "ci_low_dt4", "ci_high_dt4",
                     "value_seed2", "value_seed3"):
            object.__setattr__(self, name, _number(name, getattr(self, name)))
        if not self.section:
            object.__setattr__(self, "section", self.experiment)

    @property
    def estimate(self) -> Estimate:
        return Estimate(self.value, self.ci_low, self.ci_high)


def make_finding(experiment: str, id: str, *, statement: str, statistic: str, rule: Rule,
                 estimate: Estimate, unit: str = "", claim: int | None = None,
                 dt4: Estimate | None = None, seeds: Sequence[Estimate] = (),
                 seed_labels: Sequence[int] = (), section: str = "") -> Finding:
    """Judge ``estimate`` (and its robustness checks) with ``rule`` and build the record.

    ``statement`` may contain the format fields ``{value}``, ``{ci_low}``, ``{ci_high}`` and
    ``{unit}`` (with format specs, e.g. ``{value:.2f}``); write ``{{`` for a literal brace.
    ``seed_labels`` are the seeds behind ``estimate`` and ``seeds`` (for the record).
    """
    if not isinstance(estimate, Estimate):
        raise ValueError(f"estimate must be an Estimate, got {type(estimate).__name__}")
    seeds = list(seeds)
    if len(seeds) not in (0, 2):
        raise ValueError(f"seeds must hold the estimates at 2 other seeds (or none), got "
                         f"{len(seeds)}")
    verdict, ci_verdict, holds_dt4, holds_seeds = judge(rule, estimate, dt4=dt4, seeds=seeds)
    if not isinstance(statement, str):
        raise ValueError(f"statement must be a string, got {statement!r}")
    try:
        text = statement.format(value=estimate.value, ci_low=estimate.ci_low,
                                ci_high=estimate.ci_high, unit=unit)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"statement: only the fields {{value}}, {{ci_low}}, {{ci_high}} and "
                         f"{{unit}} can be filled in ({err!r})") from None
    nan = math.nan
    return Finding(
        experiment=experiment, id=id, claim=claim, statement=text, statistic=statistic,
        value=estimate.value, ci_low=estimate.ci_low, ci_high=estimate.ci_high, unit=unit,
        rule=rule.text(), verdict=verdict, ci_verdict=ci_verdict, holds_at_dt4=holds_dt4,
        holds_across_seeds=holds_seeds,
        value_dt4=dt4.value if dt4 is not None else nan,
        ci_low_dt4=dt4.ci_low if dt4 is not None else nan,
        ci_high_dt4=dt4.ci_high if dt4 is not None else nan,
        value_seed2=seeds[0].value if seeds else nan,
        value_seed3=seeds[1].value if seeds else nan,
        seeds=" ".join(str(int(s)) for s in seed_labels), section=section)


# --- CSV --------------------------------------------------------------------------------------
FINDING_COLUMNS: tuple[str, ...] = (
    "experiment", "claim", "id", "statement", "statistic", "value", "ci_low", "ci_high", "unit",
    "rule", "verdict", "ci_verdict", "holds_at_dt4", "holds_across_seeds", "value_dt4",
    "ci_low_dt4", "ci_high_dt4", "value_seed2", "value_seed3", "seeds", "section",
)
"""Columns of ``tables/findings*.csv``, in order (every field of :class:`Finding`)."""


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """The records as a table with :data:`FINDING_COLUMNS` (also when there are none)."""
    rows = []
    for f in findings:
        row = {name: getattr(f, name) for name in FINDING_COLUMNS}
        row["verdict"], row["ci_verdict"] = f.verdict.value, f.ci_verdict.value
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    frame["claim"] = frame["claim"].astype("Int64")
    return frame


def write_findings(findings: Iterable[Finding], path: Path) -> None:
    """Write the records to the CSV file ``path`` (booleans as True/False, None as empty)."""
    findings_frame(findings).to_csv(path, index=False)


def read_findings(path: Path) -> list[Finding]:
    """The records of a CSV file written by :func:`write_findings`."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in FINDING_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"path: {str(path)!r} is not a findings table (missing columns "
                         f"{missing})")
    floats = {"value", "ci_low", "ci_high", "value_dt4", "ci_low_dt4", "ci_high_dt4",
              "value_seed2", "value_seed3"}
    flags = {"True": True, "False": False, "": None}
    out = []
    for record in frame.to_dict("records"):
        kwargs = {}
        for name in FINDING_COLUMNS:
            text = record[name]
            if name in floats:
                kwargs[name] = float(text) if text != "" else math.nan
            elif name == "claim":
                kwargs[name] = int(text) if text != "" else None
            elif name in ("holds_at_dt4", "holds_across_seeds"):
                kwargs[name] = flags[text]
            else:
                kwargs[name] = text
        out.append(Finding(**kwargs))
    return out


# --- rendering --------------------------------------------------------------------------------
def format_number(value: float) -> str:
    """Four significant digits (``"n/a"`` for NaN)."""
    return "n/a" if math.isnan(value) else f"{value:.4g}"


def format_estimate(value: float, ci_low: float, ci_high: float, unit: str = "") -> str:
    """``"57.27 [56.9, 57.64] price units"``, ``"45.1 (no CI)"`` or ``"n/a"``."""
    if math.isnan(value):
        return "n/a"
    text = format_number(value)
    text += (" (no CI)" if math.isnan(ci_low) else
             f" [{format_number(ci_low)}, {format_number(ci_high)}]")
    return f"{text} {unit}" if unit else text


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


_HOLDS = {True: "holds", False: "fails", None: "not run"}


def findings_table(findings: Sequence[Finding]) -> str:
    """A compact Markdown table of an experiment's findings (the opening of its section)."""
    lines = ["| Claim | Finding | Statistic | Estimate [95% CI] | Rule | Verdict | dt/4 | "
             "3 seeds |", "|---|---|---|---|---|---|---|---|"]
    for f in findings:
        lines.append("| " + " | ".join(_cell(c) for c in (
            str(f.claim) if f.claim is not None else "-", f.statement, f.statistic,
            format_estimate(f.value, f.ci_low, f.ci_high, f.unit), f.rule,
            f"**{f.verdict.value}**", _HOLDS[f.holds_at_dt4],
            _HOLDS[f.holds_across_seeds])) + " |")
    return "\n".join(lines)


def summary_table(findings: Sequence[Finding], titles: Mapping[str, str] | None = None) -> str:
    """The executive summary: one row per claim (1..11) with its verdict (:func:`aggregate`),
    the deciding finding's statistic, estimate and interval, and a link to its section.

    ``titles`` maps an experiment to its section title, the text of the link (default: the
    experiment's name). Claim numbers link to the anchors ``claim-<n>``.
    """
    titles = dict(titles or {})
    lines = ["| # | Claim | Verdict | Evidence (estimate [95% CI]) | Findings | Section |",
             "|---|---|---|---|---|---|"]
    for c in CLAIMS:
        tested = [f for f in findings if f.claim == c.number]
        verdict, deciding = aggregate(tested)
        number = f"[{c.number}](#claim-{c.number})"
        if deciding is None:
            cells = (number, c.title, "not tested yet", "-", "0", "-")
        else:
            evidence = (f"{deciding.statistic}: "
                        + format_estimate(deciding.value, deciding.ci_low, deciding.ci_high,
                                          deciding.unit))
            link = (f"[{titles.get(deciding.experiment, deciding.experiment)}]"
                    f"(#{deciding.section})")
            cells = (number, c.title, f"**{verdict.value}**", evidence,
                     str(len(tested)), link)
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines)


def verdict_legend() -> str:
    """The verdicts' meanings, one bullet each, for the report."""
    return "\n".join(f"- **{v.value}**: {VERDICT_MEANING[v]}." for v in Verdict)
