"""Named random streams: one generator per source of randomness and per block of paths.

This module is the one place that defines what "the same seed gives the same market" means.

The guarantee
-------------
Every source of randomness draws from its own stream: the mid's increments (``"price"``,
and ``"jumps"``, ``"jump_size"``, ``"volatility"`` for the extensions), the market-order flow
(``"flow"``), the tie-breaks among quotes at one price (``"tiebreak"``), the order book's
exogenous events (``"book"``, ``"refill"``) and so on (:data:`STREAMS`). Paths are grouped in
fixed blocks of ``block_paths`` consecutive paths, and the stream of one source on one
block is a generator seeded by ``SeedSequence(entropy, spawn_key=(block, stream))``. A
source draws a fixed number of variates per path and step whatever the quotes (a fill count
is found by inverting one uniform, not by a sampler whose consumption depends on the rate),
and a block's variates are drawn for the whole block even where a run simulates only part of
it. Hence the market a path sees (its mid path, the orders arriving on each side and how
deep they reach) depends only on ``(seed, block_paths, path index)``:

* not on the policies or the number of agents (they never touch the price or flow streams),
* not on how paths are chunked or spread over workers (a chunk is a whole number of blocks
  and carries its first block's index),
* not on how many paths are simulated (a partial block draws a full block's variates).

:func:`asmm_env.rollout.rollout` uses :data:`BLOCK_PATHS` paths per block; an env with
``n`` paths uses ``min(n, BLOCK_PATHS)`` (so a single env draws for one path only, and a
vector env of ``BLOCK_PATHS`` or more paths sees exactly the paths of ``rollout`` with the
same seed). On the order book the exogenous events are common in a per-event sense: the
``j``-th event of path ``p`` within decision step ``t`` uses the same uniforms whatever the
agents do (a generator per block and step, see :meth:`RandomStreams.step_generator`), and so
do the queues drawn at its ``r``-th price move of the step. The agents' orders change which
event those uniforms select, as they change the book's state.

Fixed-shape draws are prefetched many steps at a time (:class:`Source`): numpy fills arrays
in order from the bit generator, so a block of ``S`` steps at once gives the bytes of ``S``
single-step draws, and the prefetch depth never changes a result.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Paths per block in Monte Carlo rollouts (and the largest block of any env).
BLOCK_PATHS = 1000

#: Stream ids: the second entry of each block generator's ``spawn_key``. Never renumber one
#: (that would change every result drawn from it); add new sources at the end.
STREAMS = {"price": 0, "jumps": 1, "jump_size": 2, "volatility": 3, "flow": 4, "tiebreak": 5,
           "book": 6, "refill": 7, "hawkes": 8, "latency": 9, "asset": 10, "reach": 11,
           "queue": 12}

_PREFETCH_VALUES = 1 << 18   # variates per prefetch of one source (about 2 MB of float64)
_MAX_PREFETCH_STEPS = 256
_LOOP_MAX_RATE = 30.0   # above this mean a Poisson inverse comes from scipy (a long loop)


def _entropy(seed: Any) -> tuple[int | list[int], tuple[int, ...]]:
    """``(entropy, spawn_key prefix)`` of the episode's ``SeedSequence`` from an int >= 0, a
    sequence of them, a ``SeedSequence`` (its entropy and spawn key) or a ``Generator``
    (which contributes one 63-bit draw: reproducible from the generator's state)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed.entropy, tuple(seed.spawn_key)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63)), ()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        return int(seed), ()
    if isinstance(seed, (list, tuple, np.ndarray)) and len(seed) > 0 and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
            for s in seed):
        return [int(s) for s in seed], ()
    raise ValueError(f"seed must be an integer >= 0, a list of them, a SeedSequence or a "
                     f"numpy Generator, got {seed!r}")


class RandomStreams:
    """The named random streams of one episode of ``n_paths`` paths.

    Parameters
    ----------
    seed : int, list of int, SeedSequence or Generator
        The episode's seed (a Generator contributes one draw; see :func:`_entropy`).
    n_paths : int
        Paths simulated (>= 1).
    block_paths : int, optional
        Paths per block (>= 1); default ``min(n_paths, BLOCK_PATHS)``.
    first_block : int
        Index of the block holding the first path (>= 0): a chunk of a larger run.
    """

    def __init__(self, seed: Any, n_paths: int, *, block_paths: int | None = None,
                 first_block: int = 0) -> None:
        for name, value, low in (("n_paths", n_paths, 1), ("first_block", first_block, 0)):
            if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
                    or value < low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if block_paths is None:
            block_paths = min(int(n_paths), BLOCK_PATHS)
        if (not isinstance(block_paths, numbers.Integral) or isinstance(block_paths, bool)
                or block_paths < 1):
            raise ValueError(f"block_paths must be an integer >= 1, got {block_paths!r}")
        self.entropy, self.spawn_prefix = _entropy(seed)
        self.n_paths, self.block_paths = int(n_paths), int(block_paths)
        self.first_block = int(first_block)
        self.n_blocks = -(-self.n_paths // self.block_paths)

    def block_generator(self, stream: str, block: int, index: int = 0) -> np.random.Generator:
        """The generator of ``stream`` on local block ``block`` (0-based within this run);
        ``index`` tells apart several sources of one kind (agent j's own flow, asset i)."""
        key = (*self.spawn_prefix, self.first_block + block, STREAMS[stream])
        if index:
            key = (*key, int(index))
        return np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(self.entropy, spawn_key=key)))

    def step_generator(self, stream: str, block: int, step: int) -> np.random.Generator:
        """A generator for ``stream`` on local block ``block`` used only within decision step
        ``step`` (>= -1; -1 for the draws at reset), seeded by its own ``SeedSequence``
        (spawn key ``(block, stream, 0, step + 1)``): the variates of a step do not depend on
        how many the other steps used (event-driven sources, e.g. the order book), and the
        steps' streams are statistically independent. (Jumping one PCG64 ahead by ``2**64``
        draws per step would be cheaper, but it leaves the low half of the 128-bit state as
        it was, so draws at one position correlate from step to step.)"""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < -1:
            raise ValueError(f"step must be an integer >= -1, got {step!r}")
        spawn = (*self.spawn_prefix, self.first_block + block, STREAMS[stream], 0, int(step) + 1)
        return np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(self.entropy, spawn_key=spawn)))

    def block_slices(self) -> list[tuple[int, slice, int]]:
        """``(block, paths, width)`` per block: the local block index, the slice of this
        run's paths it holds and how many of them are simulated (a partial last block)."""
        out = []
        for b in range(self.n_blocks):
            start = b * self.block_paths
            stop = min(start + self.block_paths, self.n_paths)
            out.append((b, slice(start, stop), stop - start))
        return out

    def source(self, stream: str, kind: str, shape: Sequence[int] = (), *,
               index: int = 0, **params: float) -> Source:
        """A per-step source of ``kind`` variates, ``shape`` per path (see :class:`Source`)."""
        return Source(self, stream, kind, tuple(shape), index=index, **params)


def episode_streams(seed: Any, n_paths: int, *, block_paths: int | None = None,
                    first_block: int = 0) -> RandomStreams:
    """The streams of a core's episode from what its ``reset(seed)`` was given: streams as
    they are (they must be for ``n_paths``), or an int, a sequence of ints, a
    ``SeedSequence`` or a ``Generator`` (one draw from it), or ``None`` (fresh OS entropy)."""
    if isinstance(seed, RandomStreams):
        if seed.n_paths != n_paths:
            raise ValueError(f"streams must be for n_paths = {n_paths}, got {seed.n_paths}")
        return seed
    return RandomStreams(np.random.SeedSequence() if seed is None else seed, n_paths,
                         block_paths=block_paths, first_block=first_block)


_KINDS = ("uniform", "normal", "exponential", "poisson")


class Source:
    """Fixed-shape draws of one stream: ``next()`` returns this step's variates,
    ``(n_paths, *shape)``, the same bytes whatever the prefetch depth.

    ``kind`` is ``"uniform"`` ([0, 1)), ``"normal"`` (standard), ``"exponential"``
    (standard) or ``"poisson"`` (with a fixed mean ``lam``). The array returned is a view
    into a prefetch buffer: read it (or copy it) before the next call.
    """

    def __init__(self, streams: RandomStreams, stream: str, kind: str, shape: tuple[int, ...],
                 *, index: int = 0, lam: float | None = None) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {sorted(STREAMS)}, got {stream!r}")
        self.kind, self.shape, self.lam = kind, shape, lam
        self._blocks = streams.block_slices()
        self._width = streams.block_paths
        self._gens = [streams.block_generator(stream, b, index) for b, _, _ in self._blocks]
        per_step = streams.n_paths * int(np.prod(shape, dtype=np.int64))
        self._depth = int(np.clip(_PREFETCH_VALUES // max(per_step, 1), 1, _MAX_PREFETCH_STEPS))
        dtype = np.int64 if kind == "poisson" else np.float64
        self._buffer = np.empty((self._depth, streams.n_paths, *shape), dtype=dtype)
        self._next = self._depth

    def _draw(self, gen: np.random.Generator, size: tuple[int, ...], out=None):
        if self.kind == "uniform":
            return gen.random(size, out=out)
        if self.kind == "normal":
            return gen.standard_normal(size, out=out)
        if self.kind == "exponential":
            return gen.standard_exponential(size, out=out)
        return gen.poisson(self.lam, size)

    def _refill(self) -> None:
        depth, buf = self._depth, self._buffer
        in_place = self.kind != "poisson"
        if len(self._blocks) == 1 and self._blocks[0][2] == self._width and in_place:
            self._draw(self._gens[0], buf.shape, out=buf)        # one full block: in place
        else:
            for gen, (_, paths, width) in zip(self._gens, self._blocks, strict=True):
                if depth == 1 and width == self._width and in_place:
                    # One step at a time: a full block's rows are a contiguous slice.
                    self._draw(gen, (self._width, *self.shape), out=buf[0, paths])
                else:
                    draws = self._draw(gen, (depth, self._width, *self.shape))
                    buf[:, paths] = draws[:, :width]
        self._next = 0

    def next(self) -> np.ndarray:
        if self._next == self._depth:
            self._refill()
        out = self._buffer[self._next]
        self._next += 1
        return out


def poisson_inverse(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The Poisson(``lam``) variate of uniform ``u`` by inversion: the smallest n with
    ``P(N <= n) > u``, elementwise (float64 counts). Non-decreasing in ``lam`` for a fixed
    ``u``, and one uniform per variate whatever the mean (common random numbers)."""
    u, lam = np.broadcast_arrays(np.asarray(u, float), np.asarray(lam, float))
    p = np.exp(-lam)
    out = np.zeros(u.shape)
    idx = np.flatnonzero(u >= p)              # most counts are 0: one pass decides them
    if not idx.size:
        return out
    uu, ll = u.reshape(-1)[idx], lam.reshape(-1)[idx]
    big = ll > _LOOP_MAX_RATE
    if big.any():                             # exp(-lam) underflows, the loop would be long
        from scipy import stats

        out.reshape(-1)[idx[big]] = stats.poisson.ppf(uu[big], ll[big])
        idx, uu, ll = idx[~big], uu[~big], ll[~big]
    pp = p.reshape(-1)[idx]
    cdf = pp.copy()
    n = 0
    while idx.size:
        n += 1
        pp = pp * ll / n
        cdf = cdf + pp
        out.reshape(-1)[idx] = n
        # A uniform above the float CDF's limit (rounding) stops where the terms vanish.
        keep = (uu >= cdf) & (pp > 0)
        idx, uu, ll, pp, cdf = idx[keep], uu[keep], ll[keep], pp[keep], cdf[keep]
    return out


def binomial_inverse(u: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The Binomial(``n``, ``p``) variate of uniform ``u`` by inversion: the smallest x with
    ``P(X <= x) > u``, elementwise (float64 counts; ``n`` whole numbers >= 0, ``p`` in [0, 1]).
    Non-decreasing in ``p`` for a fixed ``u`` (up to rounding of the CDF), and one uniform per
    variate whatever ``n`` and ``p`` (common random numbers), as :func:`poisson_inverse`."""
    u, n, p = np.broadcast_arrays(np.asarray(u, float), np.asarray(n, float),
                                  np.asarray(p, float))
    out = np.where(p >= 1.0, n, 0.0)
    idx = np.flatnonzero(((n > 0) & (p > 0) & (p < 1)).reshape(-1))
    if not idx.size:
        return out
    uu, nn, pp = u.reshape(-1)[idx], n.reshape(-1)[idx], p.reshape(-1)[idx]
    pmf = np.exp(nn * np.log1p(-pp))          # P(X = 0)
    tiny = pmf == 0.0                         # (1 - p)^n underflows: n large, p near 1
    if tiny.any():
        from scipy import stats

        # ppf is the smallest x with CDF >= u: the same variate but on a CDF boundary.
        out.reshape(-1)[idx[tiny]] = stats.binom.ppf(uu[tiny], nn[tiny], pp[tiny])
        idx, uu, nn, pp, pmf = idx[~tiny], uu[~tiny], nn[~tiny], pp[~tiny], pmf[~tiny]
    cdf = pmf.copy()
    keep = uu >= cdf
    idx, uu, nn, pp, pmf, cdf = idx[keep], uu[keep], nn[keep], pp[keep], pmf[keep], cdf[keep]
    odds = pp / (1.0 - pp)
    x = 0
    while idx.size:
        x += 1
        pmf = pmf * ((nn - (x - 1)) / x) * odds
        cdf = cdf + pmf
        out.reshape(-1)[idx] = x
        # x = n is the last value (a uniform above the float CDF's limit stops there).
        keep = (uu >= cdf) & (x < nn)
        idx, uu, nn, odds, pmf, cdf = idx[keep], uu[keep], nn[keep], odds[keep], pmf[keep], \
            cdf[keep]
    return out
