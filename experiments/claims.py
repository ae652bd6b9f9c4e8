"""The claims this package is built to test, numbered 1 to 11 (issue 13).

Each is a statement from the Avellaneda–Stoikov (2008) literature, or folklore about it, that
one or more experiments test; the text is the issue's, word for word (a pronoun resolved), so
that a verdict is about exactly what was claimed. A finding names the claim it tests by number
(``ctx.finding(..., claim=1)``); the executive summary of REPORT.md has one row per claim,
in this order, whether or not an experiment has tested it yet.

Example
-------
>>> from experiments.claims import claim
>>> claim(2).title
'Inventory skews the spreads'
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """A claim: its number (1..11), a short title for tables and the full text."""

    number: int
    title: str
    text: str


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "AS: lower PnL and inventory variance than symmetric",
          "AS inventory control gives lower PnL and inventory variance than the symmetric "
          "strategy."),
    Claim(2, "Inventory skews the spreads",
          "Inventory creates asymmetric spreads (long: wider ask, tighter bid)."),
    Claim(3, "PnL decomposes, spread capture dominant",
          "PnL decomposes into spread capture, inventory PnL and adverse selection, spread "
          "capture dominant, with a residual below 1e-9."),
    Claim(4, "Sharpe of about 0.5-2 is realistic",
          "Sharpe ratios of about 0.5-2 are \"realistic\" for AS (say what we measure, per "
          "step and per episode, and why)."),
    Claim(5, "High sigma breaks the model",
          "High sigma breaks the model (inventory risk dominates)."),
    Claim(6, "Low arrival rate breaks the model",
          "Low A breaks the model (too few fills)."),
    Claim(7, "Toxic flow is a partial failure",
          "Toxic flow is a partial failure (adverse selection takes a share of gross PnL; the "
          "micro-price helps but does not eliminate it)."),
    Claim(8, "Competition erodes profits",
          "Competition compresses spreads and erodes profits toward zero; aggressive agents "
          "(low gamma) earn more with more variance and risk-adjusted returns converge."),
    Claim(9, "Many competitors: no profit, risk remains",
          "With many competitors profits go to zero but inventory risk remains."),
    Claim(10, "Fill probability decays with queue position",
          "Fill probability decays exponentially with queue position."),
    Claim(11, "Micro-price reduces adverse selection",
          "The micro-price reduces adverse selection against the mid."),
)
"""The 11 claims, in order (``CLAIMS[i].number == i + 1``)."""


def claim(number: int) -> Claim:
    """The claim numbered ``number`` (an integer in 1..11)."""
    if (not isinstance(number, numbers.Integral) or isinstance(number, bool)
            or not 1 <= number <= len(CLAIMS)):
        raise ValueError(f"claim must be an integer in 1..{len(CLAIMS)}, got {number!r}")
    return CLAIMS[int(number) - 1]
