"""The order book's event loop compiled with numba: the optional fast engine of
:class:`asmm_env.lob.book.LimitOrderBook` (``pip install "asmm_env[fast]"``), giving the
numpy engine's bytes for the same seed.

What runs here
--------------
``LimitOrderBook.advance_to`` (the events of a decision step) and ``simulate_events``: each
path runs its events one after another in compiled code (:func:`_run_for`, one loop per
number of levels and agents). Everything else (``set_quotes``, ``apply_events``, the ledger,
the observables) is the numpy engine's code, on the same arrays.

The same uniforms
-----------------
The numpy engine draws, per block of ``B`` paths and decision step, one ``(2, B)`` row of the
``"book"`` stream per event iteration and one ``(4, B)`` row of ``"refill"`` per price move
(the book's "Randomness" section); the ``j``-th event of a path uses row ``j``. Here each
block's rows are drawn in chunks of ``m`` (:func:`_fill_rows`: numpy's PCG64 and
``Generator.random``, the same integer arithmetic compiled, from the state of the very
generator the numpy engine would use; tested against numpy) and stored path by path, and a
path reads row ``j`` for its ``j``-th event. A path that reaches the end of its block's chunk
stops before the event and resumes once the block's next chunk is drawn; a path that might
need a refill row its block has not drawn stops the same way until the block draws more
(twice as many). The tie-break keys are the numpy engine's (drawn once per step by
``LimitOrderBook._step_streams``). numpy's generators are then moved to where the numpy
engine leaves them: ``simulate_events`` draws one row per block per event; in
``advance_to`` the numpy engine draws a row for a block while the block is in its working
set, which depends on when it compacts, and :func:`numpy_rows_drawn` replays that schedule
from the events per path. The refill rows drawn are kept and put into the book's cache of
them only if numpy code needs them later in the step (:func:`merge_refill_rows`).

The same arithmetic
-------------------
Every floating-point operation is the numpy engine's, in its order (the cumulative rates,
``x - cum[e - 1]``, ``log1p(-u) / total``, the Poisson inversion), and ``exp(-refill)`` comes
from numpy. ``log1p`` is the one function that is not IEEE arithmetic: numpy's calls the C
library's, and so does this engine, through a transcription of glibc's ``__log1p_fma``
(vectorised over a row) when it gives numpy's bytes on the guard's sample, else through the
C library (:data:`_LOG1P`). The first use in a process runs :func:`guard`: that sample of
``log1p`` and a short episode of a small book (three levels, two agents, three blocks, one
of them partial) with both engines. If any byte differs, ``engine="auto"`` books use numpy
(a warning is logged) and ``engine="numba"`` raises. A refill mean above 30 (whose Poisson
inverse comes from scipy) stays with numpy.

Threads
-------
Blocks are grouped (about :data:`GROUP_PATHS` paths a group) and the groups of a book of at
least 4,096 paths run on ``numba.get_num_threads()`` threads (the caller's and a small pool),
each group drawing its own rows and running its paths while they are in cache; the compiled
functions release the GIL. Paths are independent, so the result does not depend on the
number of threads or on the grouping. numba's parallel loops (``prange``) are not used: with
its OpenMP threading layer a process that has run one aborts its forked children (the
experiments' process pool), and its workqueue layer does not let two threads run them.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from asmm_env import streams as _streams

try:
    import numba
except ImportError:          # the optional extra "fast" is not installed
    numba = None

log = logging.getLogger(__name__)

#: Whether numba imports (the extra ``fast``).
AVAILABLE = numba is not None
#: Paths per group of blocks: one thread draws a group's rows and runs its paths.
GROUP_PATHS = 1024
_INLINE_PATHS = 4096         # below this many paths the calling thread runs every group
_FIRST_ROWS = 16             # rows of the first chunk of a book's first advance_to
_MIN_REFILL_ROWS = 2         # refill rows every block has before advance_to runs
_SIMULATE_ROWS = 32           # rows per chunk in simulate_events (a block's chunk stays in cache)


def _jit(func=None, **options):
    if func is None:
        return lambda f: _jit(f, **options)
    if numba is None:
        return func
    try:
        return numba.njit(cache=True, nogil=True, **options)(func)
    except RuntimeError:     # no writable cache directory: compile in every process
        return numba.njit(nogil=True, **options)(func)


# --- bit-level helpers ----------------------------------------------------------------------

if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils
    from numba.core import types as _nbtypes
    from numba.extending import intrinsic

    @intrinsic
    def _mul_high(typingctx, a, b):
        """The high 64 bits of the 128-bit product of two uint64."""
        if a != _nbtypes.uint64 or b != _nbtypes.uint64:
            return None

        def codegen(context, builder, signature, args):
            wide = ir.IntType(128)
            product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
            return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

        return _nbtypes.uint64(_nbtypes.uint64, _nbtypes.uint64), codegen

    @intrinsic
    def _double_bits(typingctx, x):
        """The IEEE bits of a float64, as an int64."""
        if x != _nbtypes.float64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))

        return _nbtypes.int64(_nbtypes.float64), codegen

    @intrinsic
    def _bits_double(typingctx, bits):
        """The float64 with these IEEE bits (an int64)."""
        if bits != _nbtypes.int64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return _nbtypes.float64(_nbtypes.int64), codegen

    @intrinsic
    def _fma(typingctx, a, b, c):
        """``a * b + c`` with one rounding (a fused multiply-add)."""
        if not a == b == c == _nbtypes.float64:
            return None

        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * 3)
            return builder.call(cgutils.get_or_insert_function(builder.module, fnty,
                                                               "llvm.fma.f64"), args)

        return _nbtypes.float64(_nbtypes.float64, _nbtypes.float64, _nbtypes.float64), codegen
else:
    _mul_high = _double_bits = _bits_double = _fma = None


# --- log1p(-u), as the C library computes it ----------------------------------------------------
# The numpy engine's one transcendental, once per event. numpy's float64 log1p calls the C
# library's; on x86-64 glibc (2.28 and later) runs ``__log1p_fma`` on CPUs with FMA: the
# fdlibm algorithm compiled with fused multiply-adds. ``_log1p_neg`` is that function
# operation for operation, fused multiply-adds where its machine code has them (read from
# glibc 2.36's), for ``x = -u`` with u in [0, 1); ``_log1p_neg_rows`` is the same without
# branches, so that the compiler vectorises it (inputs on its two rare paths are redone by
# ``_log1p_neg``). Both are used only if they give numpy's bytes on the guard's sample
# (:data:`_LOG1P`); otherwise the C library's own log1p is called (like numpy's, it may still
# differ from numpy's on some CPUs: the guard then turns the compiled engine off).

_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LP1, _LP2, _LP3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LP4, _LP5 = 2.222219843214978396e-01, 1.818357216161805012e-01
_LP6, _LP7 = 1.531383769920937332e-01, 1.479819860511658591e-01
_TWO_THIRDS = 6.666666666666666297e-01
_INT_TO_DOUBLE = 4503601774854144.0      # 2**52 + 2**31: int k is bits(0x4330000080000000 + k) - it

#: How the compiled engine computes log1p: 1, the transcription above; 0, the C library's.
_LOG1P = 0


@_jit(inline="always")
def _log1p_neg(u):
    """``log1p(-u)`` for u in [0, 1) as glibc's ``__log1p_fma`` (fdlibm ``s_log1p.c``)."""
    x = -u
    ax = (_double_bits(x) >> 32) & 0x7FFFFFFF
    if ax < 0x3E200000:                       # |x| < 2**-29
        if ax < 0x3C900000:
            return x
        return _fma(-(x * x), 0.5, x)
    k = 0
    c = 0.0
    hu = 1
    f = x
    if ax >= 0x3FD2BEC4:                      # x <= -0.2929: 1 + x = 2**k (1 + f)
        v = x + 1.0
        vb = _double_bits(v)
        hu = vb >> 32
        k = (hu >> 20) - 1023
        if k > 0:
            c = 1.0 - (v - x)
        else:
            c = x - (v - 1.0)
        c = c / v
        hu &= 0xFFFFF
        if hu > 0x6A09D:
            v = _bits_double(((hu | 0x3FE00000) << 32) | (vb & 0xFFFFFFFF))
            k += 1
            hu = (0x100000 - hu) >> 2
        else:
            v = _bits_double(((hu | 0x3FF00000) << 32) | (vb & 0xFFFFFFFF))
        f = v - 1.0
    hfsq = (f * 0.5) * f
    if hu == 0:                               # |f| < 2**-20
        if f == 0.0:
            if k == 0:
                return 0.0
            kd = float(k)
            return _fma(kd, _LN2_HI, _fma(kd, _LN2_LO, c))
        R = _fma(-f, _TWO_THIRDS, 1.0) * hfsq
        if k == 0:
            return f - R
        kd = float(k)
        return _fma(kd, _LN2_HI, -((R - _fma(kd, _LN2_LO, c)) - f))
    s = f / (f + 2.0)
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    R = _fma(z2 * z4, _fma(z, _LP7, _LP6),
             _fma(z4, _fma(z, _LP5, _LP4), _fma(z, _LP1, z2 * _fma(z, _LP3, _LP2))))
    y = (R + hfsq) * s
    if k == 0:
        return f - (hfsq - y)
    kd = float(k)
    return _fma(kd, _LN2_HI, -((hfsq - (_fma(kd, _LN2_LO, c) + y)) - f))


@_jit(error_model="numpy")
def _log1p_neg_rows(u, out):
    """``out[i] = _log1p_neg(u[i])`` (u in [0, 1)), vectorised."""
    rare = 0
    for i in range(u.shape[0]):
        x = -u[i]
        ax = (_double_bits(x) >> 32) & 0x7FFFFFFF
        big = ax >= 0x3FD2BEC4
        v = x + 1.0
        vb = _double_bits(v)
        hv = vb >> 32
        c = (x - (v - 1.0)) / v               # 1 + x <= 1: the k <= 0 correction
        hu = hv & 0xFFFFF
        up = hu > 0x6A09D
        vn = _bits_double(((hu | (0x3FE00000 if up else 0x3FF00000)) << 32)
                          | (vb & 0xFFFFFFFF))
        k = ((hv >> 20) - 1023 + (1 if up else 0)) if big else 0
        f = (vn - 1.0) if big else x
        c = c if big else 0.0
        hu = ((0x100000 - hu) >> 2 if up else hu) if big else 1
        rare += (ax < 0x3E200000) | (hu == 0)
        hfsq = (f * 0.5) * f
        s = f / (f + 2.0)
        z = s * s
        z2 = z * z
        z4 = z2 * z2
        R = _fma(z2 * z4, _fma(z, _LP7, _LP6),
                 _fma(z4, _fma(z, _LP5, _LP4), _fma(z, _LP1, z2 * _fma(z, _LP3, _LP2))))
        y = (R + hfsq) * s
        kd = _bits_double(0x4330000080000000 + k) - _INT_TO_DOUBLE
        with_k = _fma(kd, _LN2_HI, -((hfsq - (_fma(kd, _LN2_LO, c) + y)) - f))
        out[i] = (f - (hfsq - y)) if k == 0 else with_k
    if rare:
        for i in range(u.shape[0]):
            x = -u[i]
            ax = (_double_bits(x) >> 32) & 0x7FFFFFFF
            hu = (_double_bits(x + 1.0) >> 32) & 0xFFFFF
            if ax < 0x3E200000 or (ax >= 0x3FD2BEC4 and (
                    hu == 0 or (hu > 0x6A09D and (0x100000 - hu) >> 2 == 0))):
                out[i] = _log1p_neg(u[i])


# --- numpy's PCG64 generator, compiled ----------------------------------------------------
# ``Generator(PCG64).random`` fills an array with ``(next64() >> 11) * 2**-53``, where
# ``next64`` steps the 128-bit LCG ``state = state * MULT + inc`` and outputs the XSL-RR
# permutation of the new state (``numpy/random/src/pcg64``). The same integer arithmetic
# here gives the same doubles (tested against numpy), about twice as fast, on the thread of
# the group that reads them.

_MULT_HIGH = np.uint64(2549297995355413924)     # PCG's default 128-bit multiplier
_MULT_LOW = np.uint64(4865540595714422341)
_U0, _U1, _U11, _U58, _U63, _U64 = (np.uint64(v) for v in (0, 1, 11, 58, 63, 64))


@_jit(inline="always")
def _mul128(a_high, a_low, b_high, b_low):
    """The low 128 bits of a product of two 128-bit integers (high, low uint64 halves)."""
    return _mul_high(a_low, b_low) + a_low * b_high + a_high * b_low, a_low * b_low


@_jit(inline="always")
def _add128(a_high, a_low, b_high, b_low):
    low = a_low + b_low
    return a_high + b_high + (_U1 if low < a_low else _U0), low


@_jit(inline="always")
def _pcg64_step(high, low, inc_high, inc_low):
    """One PCG64 step: the new state and the double ``random()`` makes of it."""
    high, low = _mul128(high, low, _MULT_HIGH, _MULT_LOW)
    high, low = _add128(high, low, inc_high, inc_low)
    rot = high >> _U58
    x = high ^ low
    bits = (x >> rot) | (x << ((_U64 - rot) & _U63))
    return high, low, np.float64(bits >> _U11) * (1.0 / 9007199254740992.0)


@_jit(inline="always")
def _jump(high, low, mult_high, mult_low, plus_high, plus_low):
    """``state * mult + plus`` (128-bit): a state moved by a :func:`_pcg64_jump`."""
    high, low = _mul128(high, low, mult_high, mult_low)
    return _add128(high, low, plus_high, plus_low)


@_jit
def _pcg64_jump(inc_high, inc_low, delta):
    """``(mult, plus)`` (128-bit, as four uint64) with ``state * mult + plus`` the state
    ``delta`` steps later (PCG's ``pcg_advance_lcg_128``)."""
    cur_mult_high, cur_mult_low = _MULT_HIGH, _MULT_LOW
    cur_plus_high, cur_plus_low = inc_high, inc_low
    acc_mult_high, acc_mult_low = _U0, _U1
    acc_plus_high, acc_plus_low = _U0, _U0
    while delta > 0:
        if delta & 1:
            acc_mult_high, acc_mult_low = _mul128(acc_mult_high, acc_mult_low,
                                                  cur_mult_high, cur_mult_low)
            acc_plus_high, acc_plus_low = _mul128(acc_plus_high, acc_plus_low,
                                                  cur_mult_high, cur_mult_low)
            acc_plus_high, acc_plus_low = _add128(acc_plus_high, acc_plus_low,
                                                  cur_plus_high, cur_plus_low)
        plus_one_high, plus_one_low = _add128(cur_mult_high, cur_mult_low, _U0, _U1)
        cur_plus_high, cur_plus_low = _mul128(plus_one_high, plus_one_low,
                                              cur_plus_high, cur_plus_low)
        cur_mult_high, cur_mult_low = _mul128(cur_mult_high, cur_mult_low,
                                              cur_mult_high, cur_mult_low)
        delta >>= 1
    return acc_mult_high, acc_mult_low, acc_plus_high, acc_plus_low


@_jit
def _fill_rows(state, out, k, log1p_mode):
    """The next ``k`` rows of a block's ``"book"`` stream, ``Generator(PCG64).random((k, 2,
    B))``, stored path by path: row ``r``, uniform ``c`` of path ``i`` at ``out[i, r, c]``
    (``out`` is ``(B, m, 2)``, ``m >= k``), so that a path reads its uniforms one after
    another. ``state = [state_high, state_low, inc_high, inc_low]`` (uint64) is updated.
    With ``log1p_mode`` >= 0, ``out[i, r, 0]`` holds ``log1p(-u)`` instead (the numpy
    engine's first step with that uniform): from the transcription (1) or the C library (0).
    Rows are drawn four at a time by four copies of the generator jumped a row apart, whose
    steps the CPU overlaps, and each path's four rows are written as one cache line."""
    high, low, inc_high, inc_low = state[0], state[1], state[2], state[3]
    B = out.shape[0]
    W = 2 * B
    jm_high, jm_low, jp_high, jp_low = _pcg64_jump(inc_high, inc_low, W)
    rows = np.empty((4, W))
    logged = np.empty(B)
    r = 0
    while r < k:
        n_rows = min(4, k - r)
        if n_rows == 4:
            h0, l0 = high, low
            h1, l1 = _jump(h0, l0, jm_high, jm_low, jp_high, jp_low)
            h2, l2 = _jump(h1, l1, jm_high, jm_low, jp_high, jp_low)
            h3, l3 = _jump(h2, l2, jm_high, jm_low, jp_high, jp_low)
            for i in range(W):
                h0, l0, rows[0, i] = _pcg64_step(h0, l0, inc_high, inc_low)
                h1, l1, rows[1, i] = _pcg64_step(h1, l1, inc_high, inc_low)
                h2, l2, rows[2, i] = _pcg64_step(h2, l2, inc_high, inc_low)
                h3, l3, rows[3, i] = _pcg64_step(h3, l3, inc_high, inc_low)
            high, low = h3, l3
        else:
            for j in range(n_rows):
                for i in range(W):
                    high, low, rows[j, i] = _pcg64_step(high, low, inc_high, inc_low)
        for j in range(n_rows):
            if log1p_mode == 1:
                _log1p_neg_rows(rows[j, :B], logged)
                rows[j, :B] = logged
            elif log1p_mode == 0:
                for i in range(B):
                    rows[j, i] = math.log1p(-rows[j, i])
        for i in range(B):
            for j in range(n_rows):
                out[i, r + j, 0] = rows[j, i]
                out[i, r + j, 1] = rows[j, B + i]
        r += n_rows
    state[0], state[1] = high, low


@_jit
def _random_into(state, out):
    """``Generator(PCG64).random(out.size)`` into the flat array ``out``; ``state`` (see
    :func:`_fill_rows`) is updated."""
    high, low, inc_high, inc_low = state[0], state[1], state[2], state[3]
    for i in range(out.shape[0]):
        high, low, out[i] = _pcg64_step(high, low, inc_high, inc_low)
    state[0], state[1] = high, low


def _pcg64_state(gen: np.random.Generator) -> np.ndarray:
    """``[state_high, state_low, inc_high, inc_low]`` of a PCG64 generator, uint64."""
    if type(gen.bit_generator) is not np.random.PCG64:
        raise TypeError(f"the compiled order book draws as numpy's PCG64, not "
                        f"{type(gen.bit_generator).__name__}")
    st = gen.bit_generator.state["state"]
    mask = (1 << 64) - 1
    return np.array([st["state"] >> 64, st["state"] & mask, st["inc"] >> 64, st["inc"] & mask],
                    dtype=np.uint64)


# --- the compiled event loop --------------------------------------------------------------
# Arrays are the book's (path axis last, see ``asmm_env.lob.book``) and ``p`` is a path of the
# whole book. The loop is one function (numba passes arrays to a called function with
# reference counts, which cost more than an event) made for each (levels, agents), so that
# its loops unroll; a path's state is copied into small scratch arrays while it runs. The
# comments name the numpy engine's method each part mirrors.

@_jit(error_model="numpy")
def _poisson_inverse(u, lam, p0):
    """``asmm_env.streams.poisson_inverse`` for one uniform (``p0 = exp(-lam)``, lam <= 30)."""
    if u < p0:
        return 0.0
    n = 0
    pp = p0
    cdf = p0
    while True:
        n += 1
        pp = pp * lam / n
        cdf = cdf + pp
        if not (u >= cdf and pp > 0):
            return float(n)


def _make_run(K: int, A: int):
    """The event loop of a book with ``K`` levels and ``A`` agents (see :func:`_run_for`)."""
    K2, K4, NC, A2 = 2 * K, 4 * K, 4 * K + 2, 2 * A

    def run(paths, base, cursor, status, advance, t_end, j_end, rows, logged, log1p_mode,
            row0, nrow, rrows, rmade, B, Q, shift, clock, lvl, target, ahead, ccode, mcode,
            nbest, fills, fill_shift, placements, refilled, dropped, moves, order, lim_cum,
            consts, boosted):
        L2K, C, M, mb, small_queue = consts[0], consts[1], consts[2], consts[3], consts[4]
        lam, p0 = consts[5], consts[6]
        cum = np.empty(NC)              # cumulative rates; the limit rows are constant
        for c in range(K2):
            cum[c] = lim_cum[c]
        q = np.empty(K2)                # others' orders at [side * K + level]
        nb = np.empty(2)                # agents' orders at each best
        lv = np.empty(A2, np.int64)     # the agents' orders at [side * A + agent]
        tg = np.empty(A2, np.int64)
        ah = np.empty(A2)
        cc = np.empty(A2, np.int64)
        mc = np.empty(A2, np.int64)
        fl = np.empty(A2)
        fs = np.empty(A2)
        pl = np.empty(A2, np.int64)
        rank = np.zeros(A, np.int64)    # the agents in the order of their tie-break keys
        moved = np.empty(A, np.bool_)
        pending = np.zeros(A2, np.bool_)
        for i in range(paths.shape[0]):
            p = paths[i]
            lp = p - base
            b = lp // B
            col = lp - b * B
            j = cursor[lp]
            first, end, refill_rows = row0[b], row0[b] + nrow[b], rmade[b]
            mine_rows = rows[b, col]
            for s in range(2):
                nb[s] = nbest[s, p]
                for k in range(K):
                    q[s * K + k] = Q[s, k, p]
                for a in range(A):
                    lv[s * A + a] = lvl[s, a, p]
                    tg[s * A + a] = target[s, a, p]
                    ah[s * A + a] = ahead[s, a, p]
                    cc[s * A + a] = ccode[s, a, p]
                    mc[s * A + a] = mcode[s, a, p]
                    fl[s * A + a] = fills[s, a, p]
                    fs[s * A + a] = fill_shift[s, a, p]
                    pl[s * A + a] = placements[s, a, p]
            if A > 1:
                for r in range(A):
                    rank[r] = order[r, p]
            sh, ck, mv, rf, dr = shift[p], clock[p], moves[p], refilled[p], dropped[p]
            state = 0
            while j < j_end:
                if j >= end:
                    state = 1
                    break
                if mv >= refill_rows:
                    state = 2
                    break
                u0 = mine_rows[j - first, 0]
                u1 = mine_rows[j - first, 1]
                # ``_cumulative_rates``
                acc = q[0]
                cum[K2] = acc * C + L2K
                for c in range(1, K2):
                    acc = acc + q[c]
                    cum[K2 + c] = acc * C + L2K
                if boosted:
                    for s in range(2):
                        small = 1.0 if q[s * K] + nb[s] <= small_queue else 0.0
                        cum[K4 + s] = (small * mb + M) + cum[K4 + s - 1]
                else:
                    cum[K4] = cum[K4 - 1] + M
                    cum[K4 + 1] = cum[K4] + M
                total = cum[NC - 1]
                # the clock (``advance_to``, ``simulate_events``)
                if logged:
                    wait = u0 / total
                elif log1p_mode == 1:
                    wait = _log1p_neg(u0) / total
                else:
                    wait = math.log1p(-u0) / total
                j += 1
                if advance:
                    now = ck - wait
                    if not now < t_end:
                        ck = t_end
                        break
                    ck = now
                else:
                    ck -= wait
                # ``_select``
                x = u1 * total
                e = 0
                for c in range(NC):
                    if cum[c] < x:
                        e += 1
                # ``_apply``
                n_pending = 0
                if e < K2:                                   # a limit order
                    q[e] += 1.0
                elif e < K4:                                 # a cancellation
                    at = e - K2
                    side = at // K
                    level = at - side * K
                    # ``_cancel_ahead``: was the cancelled order ahead of ours?
                    place = x - cum[e - 1]
                    for a in range(A):
                        k = side * A + a
                        moved[a] = False
                        if cc[k] == e:
                            mine = ah[k]
                            others_ahead = mine
                            if A > 1:        # other agents' orders ahead are not others'
                                for a2 in range(A):
                                    if lv[side * A + a2] == level and ah[side * A + a2] < mine:
                                        others_ahead -= 1.0
                            moved[a] = place < C * others_ahead or others_ahead >= q[at]
                    for a in range(A):
                        if moved[a]:
                            ah[side * A + a] -= 1.0
                    q[at] -= 1.0
                elif e < NC:                                 # a market order
                    side = e - K4
                    q[side * K] -= 1.0
                    for a in range(A):
                        k = side * A + a
                        if mc[k] == e:
                            if ah[k] == 0.0:                 # ``_fill``
                                fl[k] += 1.0
                                fs[k] += sh
                                lv[k] = -1
                                cc[k] = -1
                                mc[k] = -1
                                ah[k] = 0.0
                                nb[side] -= 1.0
                                q[side * K] += 1.0
                                pending[k] = True
                                n_pending += 1
                            else:
                                ah[k] -= 1.0
                bid_empty = q[0] == 0.0 and nb[0] == 0.0
                ask_empty = q[K] == 0.0 and nb[1] == 0.0
                if bid_empty or ask_empty:                   # ``_move``, ``_move_side``
                    move = mv
                    if bid_empty and ask_empty:     # (set_quotes only, not one event)
                        side = 0 if rrows[move, 3, lp] < 0.5 else 1
                    else:
                        side = 0 if bid_empty else 1
                    other = 1 - side
                    mv = move + 1
                    new0 = _poisson_inverse(rrows[move, 0, lp], lam, p0) + 1.0
                    new1 = _poisson_inverse(rrows[move, 1, lp], lam, p0) + 1.0
                    dr += q[other * K + K - 1]
                    for k in range(K - 1):
                        q[side * K + k] = q[side * K + k + 1]
                    q[side * K + K - 1] = new0
                    for k in range(K - 1, 0, -1):
                        q[other * K + k] = q[other * K + k - 1]
                    q[other * K] = new1
                    # orders keep their price; behind the window they are cancelled
                    for s in range(2):
                        step = -1 if s == side else 1
                        at_best = 0
                        for a in range(A):
                            k = s * A + a
                            level = lv[k]
                            if level >= 0:
                                level += step
                                if level >= K:
                                    level = -1
                                    ah[k] = 0.0
                                    pending[k] = True
                                    n_pending += 1
                                lv[k] = level
                            if level >= 0:
                                cc[k] = K2 + s * K + level
                            else:
                                cc[k] = -1
                            if level == 0:
                                mc[k] = K4 + s
                                at_best += 1
                            else:
                                mc[k] = -1
                        nb[s] = at_best
                    if q[side * K] == 0.0 and nb[side] == 0.0:
                        fresh = _poisson_inverse(rrows[move, 2, lp], lam, p0) + 1.0
                        q[side * K] = fresh
                        rf += fresh
                    rf += new0 + new1
                    sh += 1.0 if side == 1 else -1.0
                if n_pending:            # ``_place``, the agents in the order of their keys
                    for r in range(A):
                        a = rank[r] if A > 1 else 0
                        for s in range(2):
                            k = s * A + a
                            if not pending[k]:
                                continue
                            pending[k] = False
                            level = tg[k]
                            if level < 0:
                                continue
                            in_front = q[s * K + level]
                            if A > 1:    # other agents' orders at that level are ahead
                                for a2 in range(A):
                                    if lv[s * A + a2] == level:
                                        in_front += 1.0
                            lv[k] = level
                            ah[k] = in_front
                            cc[k] = K2 + s * K + level
                            if level == 0:
                                mc[k] = K4 + s
                                nb[s] += 1.0
                            else:
                                mc[k] = -1
                            pl[k] += 1
            for s in range(2):
                nbest[s, p] = nb[s]
                for k in range(K):
                    Q[s, k, p] = q[s * K + k]
                for a in range(A):
                    lvl[s, a, p] = lv[s * A + a]
                    ahead[s, a, p] = ah[s * A + a]
                    ccode[s, a, p] = cc[s * A + a]
                    mcode[s, a, p] = mc[s * A + a]
                    fills[s, a, p] = fl[s * A + a]
                    fill_shift[s, a, p] = fs[s * A + a]
                    placements[s, a, p] = pl[s * A + a]
            shift[p], clock[p], moves[p], refilled[p], dropped[p] = sh, ck, mv, rf, dr
            cursor[lp] = j
            status[lp] = state

    # numpy's error model: no test for a zero divisor before each division (there is none).
    return _jit(run, error_model="numpy")


_RUNS: dict[tuple[int, int], Any] = {}
_RUNS_LOCK = threading.Lock()


def _run_for(K: int, A: int):
    """The compiled event loop for ``K`` levels and ``A`` agents, made (and compiled, or
    loaded from numba's cache) once per process: with both fixed the compiler unrolls the
    loops over levels and agents. ``run(paths, base, cursor, status, advance, t_end, j_end,
    rows, logged, log1p_mode, row0, nrow, rrows, rmade, B, <the book's state arrays>, order,
    lim_cum, consts, boosted)`` runs the paths ``paths`` (of the whole book; ``base``: the
    group's first path) from their row ``cursor[p - base]`` until the step ends
    (``advance``: the clock would pass ``t_end``) or ``j_end`` events are done, or a row is
    missing. ``rows[b, i, j - row0[b]]`` is the pair of uniforms of event row ``j`` of the
    group's block ``b`` for its path ``i`` (``nrow[b]`` rows held; with ``logged`` the first
    is already ``log1p(-u)``, else ``log1p_mode`` says how to take it, as in
    :func:`_fill_rows`); ``rrows[r, :, p - base]`` is refill row ``r`` (``rmade[b]`` of them
    drawn). ``status``: 0 done, 1 waits for event rows, 2 waits for refill rows."""
    with _RUNS_LOCK:
        if (K, A) not in _RUNS:
            _RUNS[K, A] = _make_run(K, A)
        return _RUNS[K, A]


@_jit
def _log1p_neg_libm(u, out):
    for i in range(u.shape[0]):
        out[i] = math.log1p(-u[i])


@_jit
def _log1p_neg_scalar(u, out):
    for i in range(u.shape[0]):
        out[i] = _log1p_neg(u[i])


def log1p_sample() -> np.ndarray:
    """Uniforms on numpy's grid (multiples of 2**-53 in [0, 1)) that reach every branch of
    glibc's log1p at ``-u``: 8,192 uniform ones, |x| < 2**-29, 1 + x near 2**-53, 1 + x a
    power of two (f = 0) or just above one (|f| < 2**-20), both sides of the k = 0 branch's
    bound and of the normalisation's ``0x6a09e``."""
    rng = np.random.default_rng(20_240_229)
    grid = 2.0 ** -53
    k_bound = np.array([0x3FD2BEC4 << 32], dtype=np.int64).view(np.float64)[0]
    powers = 2.0 ** -np.arange(1, 54)
    near = (1 + rng.integers(0, 2**20, (53, 16)) * 2.0 ** -52) * powers[:, None]
    hu_bound = np.array([((0x3FE00000 | 0x6A09D) << 32) + d for d in range(-4, 5)]
                        + [((0x3FF00000 | 0x6A09D) << 32) + d for d in range(-4, 5)],
                        dtype=np.int64).view(np.float64)
    parts = [np.array([0.0, grid, 2.0 ** -29 - grid, 2.0 ** -29, 0.25, 0.5, 1 - grid]),
             rng.random(8192),
             rng.integers(0, 2**25, 1024) * grid,
             1 - rng.integers(1, 2**30, 1024) * grid,
             1 - powers, 1 - near.ravel(),
             k_bound + (np.arange(-64, 65) * grid),
             1 - hu_bound / 2, 1 - hu_bound / 4]
    u = np.concatenate(parts)
    u = np.round(u / grid) * grid          # on the grid
    return u[(u >= 0) & (u < 1)]


# --- the driver (Python) -------------------------------------------------------------------

_LOCAL = threading.local()


def _scratch(shape: tuple[int, ...]) -> np.ndarray:
    """A float64 array of ``shape`` from this thread's scratch buffer (reused from call to
    call: fresh pages cost more than the draws written into them)."""
    size = int(np.prod(shape))
    buf = getattr(_LOCAL, "rows", None)
    if buf is None or buf.size < size:
        buf = _LOCAL.rows = np.empty(size)
    return buf[:size].reshape(shape)


class _Run:
    """One ``advance_to`` or ``simulate_events`` call: what every group needs."""

    def __init__(self, book: Any, advance: bool, t_end: float, n_events: int) -> None:
        p, K = book.params, book.n_levels
        merge_refill_rows(book)
        self.book, self.s = book, book._s
        self.advance, self.t_end, self.n_events = advance, float(t_end), int(n_events)
        self.B = book.streams.block_paths
        self.n = book.n_paths
        self.lim_cum = p.limit_rate * np.arange(1, 2 * K + 1)
        self.consts = np.array([2 * K * p.limit_rate, p.cancel_rate, p.market_rate,
                                p.market_rate * p.market_boost, float(p.small_queue),
                                p.refill, float(np.exp(-p.refill))])
        self.boosted = bool(p.market_boost and p.market_rate)
        if book.n_agents > 1:
            self.order = np.ascontiguousarray(np.argsort(book._rank, axis=0))
        else:
            self.order = np.zeros((1, 1), dtype=np.int64)
        self.first_rows = book._kernel_cache.get("rows", _FIRST_ROWS)
        self.run = _run_for(K, book.n_agents)
        # Each block's "book" and "refill" generators as the call finds them; numpy's
        # generators are moved once the groups are done.
        self.states = np.array([_pcg64_state(g) for g in book._event_gens])
        self.refill_states = np.array([_pcg64_state(g) for g in book._refill_gens])

    def group(self, b0: int, b1: int) -> tuple:
        """Run the paths of blocks ``b0 .. b1 - 1`` to the end of the call; returns ``(b0,
        b1, event rows drawn per block, rows used per path, refill rows (``(R, 4, paths)``),
        refill rows drawn per block)``."""
        book, s, B = self.book, self.s, self.B
        base, stop = b0 * B, min(b1 * B, self.n)
        G, width = b1 - b0, stop - base
        states = self.states[b0:b1]
        # Refill rows: the group's slice of the book's cache, drawn further as needed.
        rmade = book._refill_made[b0:b1].copy()
        have = int(rmade.max())
        rrows = np.empty((max(have, _MIN_REFILL_ROWS), 4, width))
        rrows[:have] = book._refill_rows[:have, :, base:stop]
        if self.advance:      # most blocks see a price move or two in a decision step
            rrows = self._refill(b0, rrows, rmade, range(G), _MIN_REFILL_ROWS)
            m = self.first_rows
        else:
            m = min(self.n_events, _SIMULATE_ROWS)
        rows = _scratch((G, B, m, 2))
        drawn = np.zeros(G, dtype=np.int64)
        row0 = np.zeros(G, dtype=np.int64)
        nrow = np.zeros(G, dtype=np.int64)
        cursor = np.zeros(width, dtype=np.int64)
        status = np.zeros(width, dtype=np.int8)
        every = np.arange(base, stop)
        todo, blocks = every, range(G)
        j_end = np.iinfo(np.int64).max
        while True:
            # The next chunk of event rows of the blocks whose paths wait for one.
            if self.advance:
                k = m if not drawn.any() else max(8, m // 2)
            else:
                k = min(m, self.n_events - int(drawn[0]))
                j_end = int(drawn[0]) + k
            for b in blocks:
                _fill_rows(states[b], rows[b], k, -1 if self.advance else _LOG1P)
                row0[b], nrow[b] = drawn[b], k
                drawn[b] += k
            waiting, running = [], todo
            while True:
                self.run(running, base, cursor, status, self.advance, self.t_end, j_end, rows,
                         not self.advance, _LOG1P, row0, nrow, rrows, rmade, B, s.Q, s.shift,
                         s.clock, s.lvl, s.target, s.ahead, s.ccode, s.mcode, s.nbest,
                         s.fills, s.fill_shift, s.placements, s.refilled, s.dropped, s.moves,
                         self.order, self.lim_cum, self.consts, self.boosted)
                state = status[running - base]
                waiting.append(running[state == 1])
                running = running[state == 2]
                if not running.size:
                    break
                # Paths that may need a refill row their block has not drawn: the block
                # draws as many again, and they run on.
                short = np.unique((running - base) // B)
                rrows = self._refill(b0, rrows, rmade, short,
                                     max(_MIN_REFILL_ROWS, 2 * int(rmade[short].max())))
            if not self.advance:
                if int(drawn[0]) == self.n_events:
                    break
                todo, blocks = every, range(G)
                continue
            todo = np.sort(np.concatenate(waiting))
            if not todo.size:
                break
            blocks = np.unique((todo - base) // B)
        return b0, b1, drawn, cursor, rrows, rmade

    def _refill(self, b0: int, rrows: np.ndarray, rmade: np.ndarray, blocks: Any,
                last: int) -> np.ndarray:
        """Draw refill rows of the group's ``blocks`` up to ``last`` rows each."""
        B, base = self.B, b0 * self.B
        if last > rrows.shape[0]:
            grown = np.empty((max(last, 2 * rrows.shape[0]), 4, rrows.shape[2]))
            grown[: rrows.shape[0]] = rrows
            rrows = grown
        for b in blocks:
            have = int(rmade[b])
            if last > have:
                _, paths, width = self.book._blocks[b0 + b]
                draws = np.empty((last - have, 4, B))
                _random_into(self.refill_states[b0 + b], draws.reshape(-1))
                rrows[have:last, :, paths.start - base: paths.stop - base] = draws[..., :width]
                rmade[b] = last
        return rrows


def _groups(run: _Run) -> list[tuple[int, int]]:
    n_blocks, per = len(run.book._blocks), max(1, GROUP_PATHS // run.B)
    return [(b, min(b + per, n_blocks)) for b in range(0, n_blocks, per)]


_POOL: ThreadPoolExecutor | None = None
_POOL_PID = -1
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """The module's thread pool (a new one after a fork: the parent's threads are gone)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid() or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asmm_env-book")
            _POOL_PID = os.getpid()
        return _POOL


def _run_groups(run: _Run) -> list[tuple]:
    """Every group, on ``numba.get_num_threads()`` threads (the caller's among them), each
    taking the next group when it is free."""
    groups = _groups(run)
    threads = min(numba.get_num_threads(), len(groups))
    if threads <= 1 or run.n < _INLINE_PATHS:
        return [run.group(*g) for g in groups]
    queue, lock = iter(groups), threading.Lock()

    def worker() -> list[tuple]:
        done = []
        while True:
            with lock:
                g = next(queue, None)
            if g is None:
                return done
            done.append(run.group(*g))

    futures = [_pool(threads - 1).submit(worker) for _ in range(threads - 1)]
    try:
        results = worker()
    finally:                # the other threads write into the book too: let them finish
        done = [f.result() for f in futures]
    return sorted(results + [r for rs in done for r in rs], key=lambda r: r[0])


def merge_refill_rows(book: Any) -> None:
    """Put the refill rows the compiled engine drew in this step into the book's cache of
    them, which numpy code reads (``LimitOrderBook._refill_uniforms``); deferred until then,
    since most steps never need them."""
    pending, book._kernel_refill = book._kernel_refill, []
    if not pending:
        return
    need = max(int(rmade.max()) for _, _, _, rmade in pending)
    if need > book._refill_rows.shape[0]:
        grown = np.empty((need, 4, book.n_paths))
        grown[: book._refill_rows.shape[0]] = book._refill_rows
        book._refill_rows = grown
    B = book.streams.block_paths
    for b0, b1, rrows, rmade in pending:
        have = int(rmade.max())
        book._refill_rows[:have, :, b0 * B: b0 * B + rrows.shape[2]] = rrows[:have]
        book._refill_made[b0:b1] = rmade


def _finish(run: _Run, results: list[tuple]) -> None:
    """Keep the refill rows drawn (for :func:`merge_refill_rows`) and move numpy's refill
    generators past them."""
    book = run.book
    book._kernel_refill = [(b0, b1, rrows, rmade) for b0, b1, _, _, rrows, rmade in results]
    drawn = np.concatenate([rmade for *_, rmade in results]) - book._refill_made
    for gen, rows in zip(book._refill_gens, drawn, strict=True):
        if rows:
            gen.bit_generator.advance(int(rows) * 4 * run.B)


def advance_to(book: Any, t_end: float) -> None:
    """``LimitOrderBook.advance_to`` compiled (same bytes; see the module docstring)."""
    from asmm_env.lob import book as book_module

    book._step_streams()
    run = _Run(book, True, t_end, 0)
    results = _run_groups(run)
    _finish(run, results)
    B, n = run.B, run.n
    used = np.empty(n, dtype=np.int64)
    drawn = np.empty(len(book._blocks), dtype=np.int64)
    for b0, b1, rows, cursor, _, _ in results:
        used[b0 * B: b0 * B + cursor.size] = cursor
        drawn[b0:b1] = rows
    # Move every block's generator to where the numpy engine leaves it.
    target = numpy_rows_drawn(used - 1, B, len(book._blocks), book_module._MIN_COMPACT)
    for gen, rows in zip(book._event_gens, target, strict=True):
        gen.bit_generator.advance(int(rows) * 2 * B)
    block_max = np.maximum.reduceat(used, np.arange(0, n, B))
    book._kernel_cache["rows"] = max(8, int(block_max.mean()) + 2)


def simulate_events(book: Any, n_events: int) -> None:
    """``LimitOrderBook.simulate_events`` compiled (same bytes; see the module docstring)."""
    book._step_streams()
    if int(n_events) <= 0:
        return
    run = _Run(book, False, np.inf, int(n_events))
    _finish(run, _run_groups(run))
    for gen in book._event_gens:
        gen.bit_generator.advance(run.n_events * 2 * run.B)


def numpy_rows_drawn(events: np.ndarray, block_paths: int, n_blocks: int,
                     min_compact: int) -> np.ndarray:
    """Rows of each block's ``"book"`` stream that the numpy engine's ``advance_to`` draws
    when path ``p`` runs ``events[p]`` events, ``(n_blocks,)``.

    It draws a row for every block of its working set at each iteration; path ``p`` is
    active at iterations ``0 .. events[p] - 1``, the loop ends at the first iteration with no
    active path, and at the end of an iteration where fewer than half of the working set
    (of at least ``min_compact`` paths) are active the working set becomes the active paths
    (and their blocks)."""
    events = np.asarray(events, dtype=np.int64)
    last = int(events.max())
    active = events.size - np.cumsum(np.bincount(events, minlength=last + 1))
    compactions, size = [], events.size
    for i in range(last):
        if 2 * active[i] < size and size >= min_compact:
            compactions.append(i)
            size = int(active[i])
    comp = np.asarray(compactions, dtype=np.int64)
    block_last = np.maximum.reduceat(events, np.arange(0, events.size, block_paths))
    first = np.searchsorted(comp, block_last)    # the first compaction once the block is done
    rows = np.full(n_blocks, last + 1, dtype=np.int64)
    dropped = first < comp.size
    rows[dropped] = comp[first[dropped]] + 1
    return rows


# --- availability and the guard -------------------------------------------------------------

_GUARD: bool | None = None
_GUARD_LOCK = threading.Lock()


def unsupported(params: Any) -> str | None:
    """Why the compiled engine cannot run a book with ``params`` (None: it can)."""
    if numba is None:
        return "numba is not installed (pip install 'asmm_env[fast]')"
    if params.refill > _streams._LOOP_MAX_RATE:
        return (f"refill = {params.refill} is above {_streams._LOOP_MAX_RATE}, where the "
                f"Poisson inverse comes from scipy")
    return None


def check(params: Any) -> None:
    """Raise if ``engine="numba"`` cannot run a book with ``params``."""
    why = unsupported(params)
    if why is None:
        return
    if numba is None:
        raise ImportError(f"engine='numba' needs {why}")
    raise ValueError(f"engine='numba' cannot run this book: {why}; use engine='auto' or "
                     f"'numpy'")


def resolve(engine: str, params: Any) -> bool:
    """Whether the compiled kernel runs the events of a book with ``engine`` (``"auto"`` or
    ``"numba"``) and ``params``; runs :func:`guard` on first use."""
    if engine == "numba":
        check(params)
    elif unsupported(params) is not None:
        return False
    if guard():
        return True
    if engine == "numba":
        raise RuntimeError("engine='numba': the compiled order book does not reproduce the "
                           "numpy engine's bytes on this machine (see the warning logged by "
                           "asmm_env.lob._kernel); use engine='auto' or 'numpy'")
    return False


def guard() -> bool:
    """Whether the compiled kernel gives the numpy engine's bytes here: checked once per
    process (compiling the kernel on first use), see :func:`differences`. A failure is
    logged as a warning."""
    global _GUARD
    if _GUARD is None:
        with _GUARD_LOCK:
            if _GUARD is None:
                found = differences()
                if found:
                    log.warning("the compiled order book differs from the numpy engine on "
                                "its check sample (%s): LimitOrderBook uses the numpy "
                                "engine", "; ".join(found))
                _GUARD = not found
    return _GUARD


def differences() -> list[str]:
    """What differs between the compiled and numpy engines on a fixed sample (empty: none):
    ``log1p(-u)`` on :func:`log1p_sample` (which also picks :data:`_LOG1P`: the transcription
    if it gives numpy's bytes, else the C library's), then an episode of a small book (three
    levels, two agents with random offsets including KEEP and -1, 40 paths in blocks of 16,
    six steps then 40 events of ``simulate_events``), compared field by field."""
    from asmm_env.lob.book import LimitOrderBook
    from asmm_env.lob.params import BookParams

    global _LOG1P
    found = []
    u = log1p_sample()
    expected = np.log1p(-u).tobytes()
    out = np.empty_like(u)
    _log1p_neg_scalar(u, out)
    exact = out.tobytes() == expected
    _log1p_neg_rows(u, out)
    exact &= out.tobytes() == expected
    _log1p_neg_libm(u, out)
    if exact:
        _LOG1P = 1
    elif out.tobytes() == expected:
        _LOG1P = 0
    else:
        found.append(f"log1p differs from numpy's on {int((out != np.log1p(-u)).sum())} of "
                     f"{u.size} uniforms")
    params = BookParams(n_levels=3, T=6.0, refill=2.0, cancel_rate=0.4, market_rate=0.9,
                        small_queue=3, fee=0.001)
    books = []
    for compiled in (False, True):
        book = LimitOrderBook(params, 40, 2, block_paths=16, engine="numpy")
        book._engine_used = "numba" if compiled else "numpy"   # no guard within the guard
        book.reset(seed=7)
        rng = np.random.default_rng(8)
        while not book.done:
            book.step(rng.integers(-2, 3, size=(40, 2, 2)))
        book.simulate_events(40)
        books.append(book)
    for name, (a, b) in snapshot_pairs(*books):
        if a.tobytes() != b.tobytes():
            found.append(f"{name} differs")
    return found


def snapshot_pairs(first: Any, second: Any) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    """``(name, (array of first, array of second))`` for every state field and ledger array of
    two books, and the position of every block's event generator (the refill generators may
    stand apart: each engine caches the rows it drew, and reads only those)."""
    out = [(f"state.{name}", (getattr(first._s, name), getattr(second._s, name)))
           for name in first._s.FIELDS]
    for name, value in vars(first.ledger).items():
        if isinstance(value, np.ndarray):
            out.append((f"ledger.{name}", (value, getattr(second.ledger, name))))
    for b, (g, h) in enumerate(zip(first._event_gens, second._event_gens, strict=True)):
        out.append((f"book stream of block {b}", (_position(g), _position(h))))
    return out


def _position(gen: np.random.Generator) -> np.ndarray:
    state = gen.bit_generator.state["state"]
    return np.array([state["state"] >> 64, state["state"] & (2**64 - 1)], dtype=np.uint64)
