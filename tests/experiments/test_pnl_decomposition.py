"""The PnL decomposition experiment: components add up, adverse selection finds informed flow,
its findings' rules, and the seed contract with the baseline."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.findings import read_findings
from experiments.pnl_decomposition import Settings
from experiments.stats import Z95


@pytest.fixture(scope="module")
def components(quick_results) -> pd.DataFrame:
    return pd.read_csv(quick_results / "tables" / "pnl_decomposition_components.csv")


def _means(components: pd.DataFrame, values: str = "mean") -> pd.DataFrame:
    return components.pivot_table(index=["flow", "policy"], columns="component", values=values)


def test_component_means_add_up_to_the_total(components):
    m = _means(components)
    scale = m["terminal_pnl"].abs().max()
    parts = m["spread_capture"] + m["inventory_pnl"] + m["fees"] + m["liquidation"]
    assert ((parts - m["terminal_pnl"]).abs() < 1e-9 * scale).all()
    assert ((m["adverse_selection"] + m["other_inventory"] - m["inventory_pnl"]).abs()
            < 1e-9 * scale).all()
    shares = _means(components, "share_of_total")
    assert (shares["spread_capture"] - m["spread_capture"] / m["terminal_pnl"]).abs().max() \
        < 1e-12


def test_adverse_selection_is_null_in_the_as_model_and_negative_with_impact(components):
    # 200 paths per cell (--quick), seed 7: within 4 s.e. of zero without informed flow; with
    # a permanent impact of 0.2 per share it is about -14 per path (s.e. about 0.3).
    adverse = components[components["component"] == "adverse_selection"]
    z = adverse["mean"] / ((adverse["ci_high"] - adverse["ci_low"]) / (2 * Z95))
    assert (z[adverse["flow"] == "AS model"].abs() < 4).all()
    assert (z[adverse["flow"] == "impact 0.2"] < -4).all()


def test_findings_test_claim_3_with_their_rules(quick_results):
    found = {f.id: f for f in
             read_findings(quick_results / "tables" / "findings_pnl_decomposition.csv")}
    assert set(found) == {"identity_residual", "spread_capture_share",
                          "adverse_selection_share"}
    assert all(f.claim == 3 for f in found.values())
    residual = found["identity_residual"]
    assert residual.rule == "CI below 1e-09" and residual.value < 1e-9
    assert residual.verdict.value == "confirmed" and residual.ci_low == residual.ci_high
    identity = pd.read_csv(quick_results / "tables" / "pnl_decomposition_identity.csv")
    assert residual.value == identity["max_abs_residual"].max()
    share = found["spread_capture_share"]
    assert share.rule == "CI above 0.5" and share.ci_low > 0.5 and share.verdict == "confirmed"
    adverse = found["adverse_selection_share"]
    assert adverse.rule == "CI below 0.5" and 0 < adverse.value < 0.5
    assert adverse.verdict.value == "confirmed"


def test_baseline_and_decomposition_give_the_same_as_numbers_to_the_byte(quick_results):
    # The seed contract: same market, policy and seed -> the same random numbers, so the AS
    # row of both experiments is the same float, written as the same text.
    baseline = pd.read_csv(quick_results / "tables" / "baseline_summary.csv", dtype=str)
    decomposition = pd.read_csv(
        quick_results / "tables" / "pnl_decomposition_components.csv", dtype=str)
    as_row = baseline[baseline["policy"] == "AS inventory"].iloc[0]
    total = decomposition[(decomposition["flow"] == "AS model")
                          & (decomposition["policy"] == "AS inventory")
                          & (decomposition["component"] == "terminal_pnl")].iloc[0]
    assert (as_row["mean"], as_row["mean_ci_low"], as_row["mean_ci_high"]) == \
        (total["mean"], total["ci_low"], total["ci_high"])


@pytest.mark.parametrize(("changes", "message"), [
    ({"impact": 0.0}, "impact must be > 0, got 0.0"),
    ({"policies": ("glft", "as")}, "'as' first"),
    ({"robustness_paths": 1.5}, "robustness_paths must be in (0, 1], got 1.5"),
])
def test_bad_settings_name_the_field(changes, message):
    with pytest.raises(ValueError) as exc:
        Settings(**changes)
    assert message in str(exc.value)


def test_findings_get_their_dt4_and_seed_checks_when_not_quick(tmp_path, cli):
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  pnl_decomposition:\n    paths: 30\n"
                      "    policies: [as, symmetric]\n")
    out = tmp_path / "out"
    assert cli("pnl_decomposition", "--config", str(config), "--out", str(out)) == 0
    found = read_findings(out / "tables" / "findings_pnl_decomposition.csv")
    assert len(found) == 3
    assert all(f.holds_at_dt4 is not None and f.holds_across_seeds is not None for f in found)
