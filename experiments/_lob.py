"""What the order-book experiments (``queue``, ``microprice``) share: the book's parameters
from a config section's ``book`` mapping, validated with the field named."""

from __future__ import annotations

from typing import Any

from asmm_env.lob import BookParams


def book_params(overrides: Any, *, fixed: tuple[str, ...] = (), **values: Any) -> BookParams:
    """``BookParams`` from the defaults, the config's ``book`` overrides and the experiment's
    own ``values`` (e.g. the horizon it needs).

    The overrides may not set the fields in ``fixed`` (the experiment sets them); every error
    names the field as ``book.<field>`` so the config loader reports
    ``experiments.<name>: book.<field> ...``.
    """
    if not isinstance(overrides, dict):
        raise ValueError(f"book must be a mapping of BookParams fields, got {overrides!r}")
    clash = sorted(set(overrides) & set(fixed))
    if clash:
        raise ValueError(f"book.{clash[0]} is set by the experiment and cannot be overridden "
                         f"(fields set by the experiment: {list(fixed)})")
    try:
        return BookParams.from_kwargs(**{**overrides, **values})
    except TypeError as err:
        raise ValueError(f"book: {err}") from None
    except ValueError as err:
        raise ValueError(f"book.{err}") from None
