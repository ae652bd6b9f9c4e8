"""Findings as data: verdict rules on constructed estimates (borders included), robustness
(qualified), aggregation per claim, the record's validation, its CSV round trip and rendering."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from experiments.findings import (
    FINDING_COLUMNS,
    Above,
    Below,
    Between,
    Estimate,
    Finding,
    Near,
    Verdict,
    aggregate,
    findings_frame,
    findings_table,
    judge,
    make_finding,
    read_findings,
    summary_table,
    write_findings,
)

C, Q, I, R = Verdict.CONFIRMED, Verdict.QUALIFIED, Verdict.INCONCLUSIVE, Verdict.REFUTED
NAN = math.nan


def ci(low: float, high: float) -> Estimate:
    """An estimate at the interval's midpoint."""
    return Estimate((low + high) / 2, low, high)


# --- rules: verdict from the interval ---------------------------------------------------------
@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.1, 1.0, C),          # whole CI above
    (0.0, 1.0, I),          # touches the threshold: 0 is not > 0
    (-1.0, 1.0, I),         # straddles
    (-1.0, 0.0, R),         # every point <= 0
    (-1.0, -0.1, R),
])
def test_above_decides_from_the_whole_interval(low, high, verdict):
    assert Above(0.0).decide(ci(low, high)) is verdict


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (-1.0, -0.1, C), (-1.0, 0.0, I), (-1.0, 1.0, I), (0.0, 1.0, R), (0.1, 1.0, R),
])
def test_below_decides_from_the_whole_interval(low, high, verdict):
    assert Below(0.0).decide(ci(low, high)) is verdict


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.6, 1.9, C),
    (0.5, 2.0, C),          # closed set: the ends belong to it
    (0.4, 1.0, I),
    (2.0, 3.0, I),          # touches 2 from above: one point satisfies the claim
    (0.1, 3.0, I),          # covers the whole set
    (2.01, 3.0, R),
    (0.1, 0.49, R),
])
def test_between_is_closed_and_decides_from_the_whole_interval(low, high, verdict):
    assert Between(0.5, 2.0).decide(ci(low, high)) is verdict


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.95, 1.05, C), (0.9, 1.1, C), (1.05, 1.2, I), (1.1, 1.2, I), (1.11, 1.2, R),
    (0.7, 0.89, R),
])
def test_near_is_between_target_minus_and_plus_tol(low, high, verdict):
    assert Near(1.0, 0.1).decide(ci(low, high)) is verdict


@pytest.mark.parametrize("rule", [Above(0.0), Below(0.0), Between(-1.0, 1.0), Near(0.0, 1.0)])
def test_no_interval_or_no_estimate_is_inconclusive(rule):
    assert rule.decide(Estimate(0.5)) is I                   # CE without an honest interval
    assert rule.decide(Estimate(NAN)) is I


def test_exact_numbers_are_decided_by_their_value():
    assert Below(1e-9).decide(Estimate.exact(3e-13)) is C     # an identity residual
    assert Below(1e-9).decide(Estimate.exact(1e-9)) is R


def test_rules_render_themselves_as_text():
    assert Above(0.0).text() == "CI above 0"
    assert str(Below(1e-9)) == "CI below 1e-09"
    assert Between(0.5, 2).text() == "CI within [0.5, 2]"
    assert Near(1.0, 0.1).text() == "CI within 0.1 of 1"


def test_rules_are_immutable_hashable_data():
    assert Above(0.0) == Above(0) and len({Above(0.0), Above(0.0), Below(0.0)}) == 2
    with pytest.raises(AttributeError):
        Above(0.0).threshold = 1.0


# --- robustness -------------------------------------------------------------------------------
def test_a_confirmed_claim_that_holds_at_dt4_and_other_seeds_stays_confirmed():
    verdict, ci_verdict, dt4, seeds = judge(Above(0.0), ci(0.2, 1.0), dt4=ci(-0.1, 0.9),
                                            seeds=[ci(0.3, 0.9), ci(0.1, 1.1)])
    assert (verdict, ci_verdict, dt4, seeds) == (C, C, True, True)


def test_a_confirmed_claim_whose_dt4_estimate_is_on_the_other_side_is_qualified():
    # The dt/4 interval straddles 0, but its point estimate says the claim fails there.
    verdict, ci_verdict, dt4, seeds = judge(Above(0.0), ci(0.2, 1.0), dt4=ci(-0.5, 0.3),
                                            seeds=[ci(0.3, 0.9), ci(0.1, 1.1)])
    assert (verdict, ci_verdict, dt4, seeds) == (Q, C, False, True)


def test_a_claim_failing_at_one_other_seed_is_qualified():
    verdict, _, dt4, seeds = judge(Below(0.0), ci(-2.0, -1.0), dt4=ci(-2.0, -1.0),
                                   seeds=[ci(-2.0, -1.0), ci(0.5, 0.6)])
    assert (verdict, dt4, seeds) == (Q, True, False)


def test_a_refuted_claim_that_holds_at_dt4_is_qualified_too():
    verdict, ci_verdict, dt4, _ = judge(Above(0.0), ci(-2.0, -1.0), dt4=ci(0.5, 0.7))
    assert (verdict, ci_verdict, dt4) == (Q, R, False)
    verdict, _, dt4, _ = judge(Above(0.0), ci(-2.0, -1.0), dt4=ci(-0.5, 0.1))
    assert (verdict, dt4) == (R, True)


def test_checks_not_run_leave_the_verdict_and_record_none():
    assert judge(Above(0.0), ci(0.2, 1.0)) == (C, C, None, None)


def test_an_inconclusive_interval_stays_inconclusive_whatever_the_checks():
    assert judge(Above(0.0), ci(-1.0, 1.0), dt4=ci(2.0, 3.0),
                 seeds=[ci(2.0, 3.0), ci(2.0, 3.0)]) == (I, I, None, None)


def test_a_check_without_an_estimate_does_not_hold():
    assert judge(Above(0.0), ci(0.2, 1.0), dt4=Estimate(NAN))[:3] == (Q, C, False)


def _finding(id: str = "f", verdict: Verdict = C, claim: int | None = 1, **kwargs) -> Finding:
    fields = dict(experiment="baseline", id=id, claim=claim, statement="S.", statistic="x",
                  value=1.0, ci_low=0.5, ci_high=1.5, unit="", rule="CI above 0",
                  verdict=verdict, ci_verdict=C)
    fields.update(kwargs)
    return Finding(**fields)


def test_a_claim_gets_the_worst_verdict_of_its_findings():
    a, b, c, d = _finding("a", C), _finding("b", Q), _finding("c", I), _finding("d", R)
    assert aggregate([a, b]) == (Q, b)
    assert aggregate([a, d, c]) == (R, d)
    assert aggregate([a, c, _finding("e", I)]) == (I, c)          # the first of the worst
    assert aggregate([]) == (None, None)


# --- records ----------------------------------------------------------------------------------
def test_make_finding_fills_the_statement_template_and_records_the_checks():
    f = make_finding("baseline", "as_lower_std", statement="AS std minus symmetric std is "
                     "{value:.1f} {unit}.", statistic="std difference", rule=Below(0.0),
                     estimate=ci(-7.0, -6.0), unit="price units", claim=1,
                     dt4=ci(-7.5, -6.1), seeds=[ci(-7.0, -6.2), ci(-6.9, -6.0)],
                     seed_labels=[2008, 2009, 2010])
    assert f.statement == "AS std minus symmetric std is -6.5 price units."
    assert (f.verdict, f.ci_verdict, f.rule) == (C, C, "CI below 0")
    assert (f.value_dt4, f.ci_low_dt4, f.value_seed2, f.value_seed3) == (-6.8, -7.5, -6.6, -6.45)
    assert f.seeds == "2008 2009 2010" and f.section == "baseline"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"statement": "{sharpe}"}, "statement: only the fields"),
    ({"seeds": [ci(0.1, 0.2)]}, "seeds must hold the estimates at 2 other seeds"),
    ({"estimate": (1.0, 0.5, 1.5)}, "estimate must be an Estimate"),
    ({"rule": "CI above 0"}, "rule must be a Rule"),
    ({"claim": 12}, "claim must be an integer in 1..11"),
    ({"claim": True}, "claim must be an integer in 1..11"),
])
def test_bad_findings_raise_value_errors_naming_the_field(kwargs, message):
    args = dict(statement="S.", statistic="x", rule=Above(0.0), estimate=ci(0.1, 0.2))
    args.update(kwargs)
    with pytest.raises(ValueError) as err:
        make_finding("baseline", "f", **args)
    assert message in str(err.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"id": "Bad Id"}, "id must be lowercase letters"),
    ({"experiment": ""}, "experiment must be lowercase letters"),
    ({"verdict": "maybe"}, "verdict must be one of"),
    ({"holds_at_dt4": "yes"}, "holds_at_dt4 must be True, False or None"),
    ({"statement": " "}, "statement must be a non-empty string"),
    ({"value": float("inf")}, "value must be finite or NaN"),
])
def test_bad_records_raise_value_errors_naming_the_field(kwargs, message):
    with pytest.raises(ValueError) as err:
        _finding(**kwargs)
    assert message in str(err.value)


@pytest.mark.parametrize(("args", "message"), [
    ((1.0, 2.0, 3.0), "value must lie in [ci_low, ci_high]"),
    ((1.0, NAN, 2.0), "ci_low and ci_high must be both finite or both NaN"),
    ((1.0, 2.0, 0.0), "ci_low must be <= ci_high"),
    ((float("inf"),), "value must be finite or NaN"),
    (("1.0",), "value must be a real number or NaN"),
])
def test_bad_estimates_raise_value_errors_naming_the_field(args, message):
    with pytest.raises(ValueError) as err:
        Estimate(*args)
    assert message in str(err.value)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Between(2.0, 1.0), "low must be < high"),
    (lambda: Near(0.0, 0.0), "tol must be > 0"),
    (lambda: Above(NAN), "threshold must be finite"),
    (lambda: Below("0"), "threshold must be a real number"),
])
def test_bad_rules_raise_value_errors_naming_the_parameter(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert message in str(err.value)


def test_estimates_from_summary_rows_and_stats_dicts():
    row = {"sharpe": 1.5, "sharpe_ci_low": 1.2, "sharpe_ci_high": 1.8}
    assert Estimate.from_row(row, "sharpe") == Estimate(1.5, 1.2, 1.8)
    assert Estimate.from_stats({"mean": 2.0, "ci_low": 1.0, "ci_high": 3.0}, "mean") == \
        Estimate(2.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="no column 'ce'"):
        Estimate.from_row(row, "ce")


# --- CSV and rendering ------------------------------------------------------------------------
def test_findings_survive_a_csv_round_trip(tmp_path):
    records = [
        _finding("a", C, unit="", holds_at_dt4=True, holds_across_seeds=False, value_dt4=0.9,
                 ci_low_dt4=0.4, ci_high_dt4=1.4, value_seed2=1.1, value_seed3=1.0,
                 seeds="2008 2009 2010", statement="A sentence, with a comma | and a bar."),
        _finding("b", I, claim=None, value=2.0, ci_low=NAN, ci_high=NAN, unit="price units",
                 section="baseline_summary"),
    ]
    path = tmp_path / "findings.csv"
    write_findings(records, path)
    again = read_findings(path)
    pd.testing.assert_frame_equal(findings_frame(again), findings_frame(records))
    assert again[0].holds_at_dt4 is True and again[1].holds_at_dt4 is None
    assert again[1].claim is None and again[0].claim == 1 and again[1].unit == "price units"
    assert list(pd.read_csv(path).columns) == list(FINDING_COLUMNS)


def test_no_findings_give_a_header_only_csv(tmp_path):
    write_findings([], tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_text().strip() == ",".join(FINDING_COLUMNS)
    assert read_findings(tmp_path / "f.csv") == []


def test_findings_table_escapes_bars_and_shows_the_checks():
    table = findings_table([_finding("a", Q, statement="x | y", holds_at_dt4=False,
                                     holds_across_seeds=None, unit="shares")])
    lines = table.splitlines()
    assert len(lines) == 3 and "x \\| y" in lines[2]
    assert "1 [0.5, 1.5] shares" in lines[2] and "**qualified**" in lines[2]
    assert "| fails | not run |" in lines[2]


def test_summary_has_one_row_per_claim_with_the_deciding_finding_and_a_link():
    records = [_finding("a", C, claim=1), _finding("b", R, claim=1, value=-2.0, ci_low=-3.0,
                                                   ci_high=-1.0, section="baseline_summary"),
               _finding("c", I, claim=None)]
    lines = summary_table(records, {"baseline": "Baseline Monte Carlo"}).splitlines()
    assert len(lines) == 2 + 11
    assert lines[2].startswith("| [1](#claim-1) |") and "**refuted**" in lines[2]
    assert "x: -2 [-3, -1]" in lines[2] and "[Baseline Monte Carlo](#baseline_summary)" in lines[2]
    assert "| 2 |" in lines[2]                                    # two findings test claim 1
    assert all("not tested yet" in line for line in lines[3:])
