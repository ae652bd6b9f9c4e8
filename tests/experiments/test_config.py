"""Config loading and validation: every error names the offending key path."""

from __future__ import annotations

import pytest

import experiments.as2008
import experiments.baseline
import experiments.pnl_decomposition
from experiments.config import ConfigError, load_config, parse_config

MODULES = {"baseline": experiments.baseline, "pnl_decomposition": experiments.pnl_decomposition,
           "as2008": experiments.as2008}


def _config(tmp_path, text: str):
    path = tmp_path / "user.yaml"
    path.write_text(text)
    return load_config(path)


def test_shipped_config_validates_every_section_of_these_experiments():
    config = load_config()
    for name, module in MODULES.items():
        settings = config.settings(name, module.Settings)
        assert isinstance(settings, module.Settings)
    assert config.settings("baseline", experiments.baseline.Settings).paths == 10_000
    assert config.settings("as2008", experiments.as2008.Settings).gammas == (0.1, 0.01, 0.5)


def test_user_file_overrides_only_the_fields_it_names(tmp_path):
    config = _config(tmp_path, "experiments:\n  baseline:\n    gamma: 0.5\n")
    settings = config.settings("baseline", experiments.baseline.Settings)
    assert settings.gamma == 0.5 and settings.paths == 10_000
    assert config.market("as2008").sigma == 2.0


@pytest.mark.parametrize(("text", "message"), [
    ("markets:\n  as2008:\n    sigma: -1\n", "markets.as2008.sigma must be > 0, got -1.0"),
    ("markets:\n  as2008:\n    sigma: high\n", "markets.as2008.sigma must be a number"),
    ("markets:\n  as2008:\n    volatility: 2\n", "markets.as2008: unknown field(s) ['volatility']"),
    ("markets:\n  as2008:\n    fill_rule: cubic\n",
     "markets.as2008.fill_rule must be one of"),
    ("seed: -3\n", "seed must be an integer >= 0"),
    ("quick_paths: 0\n", "quick_paths must be an integer >= 1"),
    ("colour: red\n", "unknown top-level key(s) ['colour']"),
    ("markets: [1, 2]\n", "markets must be a mapping"),
    ("seed: [unclosed\n", "not valid YAML"),
])
def test_invalid_market_or_top_level_value_names_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        _config(tmp_path, text)
    assert message in str(exc.value)


@pytest.mark.parametrize(("name", "section", "message"), [
    ("baseline", "paths: 0", "experiments.baseline.paths must be an integer >= 1, got 0"),
    ("baseline", "paths: abc", "experiments.baseline.paths must be an integer, got 'abc'"),
    ("baseline", "paths: 1.5", "experiments.baseline.paths must be an integer, got 1.5"),
    ("baseline", "gamma: 0", "experiments.baseline.gamma must be > 0, got 0.0"),
    ("baseline", "policies: [as, glxx]", "experiments.baseline.policies must be a list of"),
    ("baseline", "policies: [symmetric, as]", "'as' first"),
    ("baseline", "policies: []", "experiments.baseline.policies must be a non-empty list"),
    ("baseline", "policies: as", "experiments.baseline.policies must be a list"),
    ("baseline", "market: nowhere",
     "experiments.baseline.market: market 'nowhere' is not defined"),
    ("baseline", "liquidation_cost: -1", "experiments.baseline.liquidation_cost must be >= 0"),
    ("baseline", "robustness_paths: 0", "experiments.baseline.robustness_paths must be in (0, 1]"),
    ("baseline", "colour: red", "experiments.baseline: unknown field(s) ['colour']"),
    ("pnl_decomposition", "impact: 0", "experiments.pnl_decomposition.impact must be > 0"),
    ("pnl_decomposition", "impact: -0.2", "experiments.pnl_decomposition.impact must be > 0"),
    ("as2008", "gammas: [0.1, 0.2]",
     "experiments.as2008.gammas must be distinct values of the paper's"),
    ("as2008", "gammas: []", "experiments.as2008.gammas must be distinct values"),
    ("as2008", "markets: [as2008, nowhere]",
     "experiments.as2008.markets[1]: market 'nowhere' is not defined"),
    ("as2008", "markets: [as2008]", "experiments.as2008.markets must name two markets"),
    ("as2008", "paths: 0", "experiments.as2008.paths must be an integer >= 1"),
])
def test_invalid_experiment_setting_names_the_field(tmp_path, name, section, message):
    config = _config(tmp_path, f"experiments:\n  {name}:\n    {section}\n")
    with pytest.raises(ConfigError) as exc:
        config.settings(name, MODULES[name].Settings)
    assert message in str(exc.value)


def test_dump_round_trips_through_parse():
    config = load_config()
    again = parse_config(__import__("yaml").safe_load(config.dump()))
    assert again.markets == config.markets and again.experiments == config.experiments
