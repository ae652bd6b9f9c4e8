"""The claims registry: eleven numbered claims with a title and the issue's text."""

from __future__ import annotations

import pytest

from experiments.claims import CLAIMS, claim


def test_there_are_eleven_claims_numbered_in_order_with_titles_and_texts():
    assert [c.number for c in CLAIMS] == list(range(1, 12))
    for c in CLAIMS:
        assert c.title.strip() and len(c.title) <= 60     # fits a summary table cell
        assert c.text.endswith(".") and len(c.text) > len(c.title)
    assert len({c.title for c in CLAIMS}) == 11


def test_claim_texts_are_the_issue_s():
    assert claim(2).text == "Inventory creates asymmetric spreads (long: wider ask, tighter bid)."
    assert claim(10).text == "Fill probability decays exponentially with queue position."
    assert "residual below 1e-9" in claim(3).text


@pytest.mark.parametrize("number", [0, 12, -1, 1.0, True, "1", None])
def test_unknown_claim_numbers_raise_a_value_error_naming_the_parameter(number):
    with pytest.raises(ValueError, match=r"claim must be an integer in 1\.\.11"):
        claim(number)
