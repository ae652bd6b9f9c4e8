"""The PnL decomposition experiment: components add up, adverse selection finds informed flow."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def components(quick_results) -> pd.DataFrame:
    return pd.read_csv(quick_results / "tables" / "pnl_decomposition_components.csv")


def _means(components: pd.DataFrame) -> pd.DataFrame:
    return components.pivot_table(index=["toxicity", "policy"], columns="column",
                                  values="mean")


def test_component_means_add_up_to_the_total(components):
    m = _means(components)
    scale = m["terminal_pnl"].abs().max()
    assert ((m["spread_capture"] + m["inventory_pnl"] + m["fees"] - m["terminal_pnl"]).abs()
            < 1e-9 * scale).all()
    assert ((m["adverse_selection"] + m["other_inventory"] - m["inventory_pnl"]).abs()
            < 1e-9 * scale).all()


def test_shares_are_ratios_of_means_to_the_mean_total(components):
    m = _means(components)
    shares = components.pivot_table(index=["toxicity", "policy"], columns="column",
                                    values="share_of_mean_total")
    assert (shares["spread_capture"] - m["spread_capture"] / m["terminal_pnl"]).abs().max() \
        < 1e-12


def test_adverse_selection_is_null_without_informed_flow_and_negative_with_it(components):
    # 200 paths per cell (--quick), seed 7: within 4 s.e. of zero at toxicity 0; at toxicity
    # 0.3 the mean is about -2.5 per path with s.e. about 0.2, so well beyond 4 s.e.
    adverse = components[components["column"] == "adverse_selection"]
    null = adverse[adverse["toxicity"] == 0.0]
    toxic = adverse[adverse["toxicity"] == 0.3]
    assert ((null["mean"] / null["se"]).abs() < 4).all()
    assert (toxic["mean"] / toxic["se"] < -4).all()
