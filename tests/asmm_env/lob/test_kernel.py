"""The compiled engine of the order book (``asmm_env.lob._kernel``, the optional extra
``fast``): byte for byte the numpy engine (random configurations, episodes with the ledger,
``simulate_events``, several ``advance_to`` in a step, working-set compaction), whatever the
number of threads, its generator and log1p against numpy's, the guard that falls back to
numpy, and the engine switch. Skipped without numba."""

import logging

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from asmm_env.lob import BookParams, LimitOrderBook, _kernel  # noqa: E402
from asmm_env.lob import book as book_module  # noqa: E402
from asmm_env.lob.book import KEEP  # noqa: E402

# (levels, agents) of the random configurations: every level count 1-4 and agent count
# 1-3, without compiling all twelve pairs (each pair is its own compiled loop).
SHAPES = [(1, 1), (2, 2), (3, 3), (4, 1), (3, 1), (1, 3), (2, 1), (4, 2)]


def _pair(params, n_paths, n_agents, seed, block_paths=None):
    """A numpy-engine book and a compiled-engine book, reset with the same seed."""
    books = []
    for engine in ("numpy", "numba"):
        book = LimitOrderBook(params, n_paths, n_agents, block_paths=block_paths,
                              engine=engine)
        book.reset(seed=seed)
        books.append(book)
    assert books[1].compiled and not books[0].compiled
    return books


def _assert_same(books, where):
    for name, (a, b) in _kernel.snapshot_pairs(*books):
        assert a.tobytes() == b.tobytes(), f"{name} differs {where}"


def _offsets(rng, n, A, K, previous):
    """Offsets in [KEEP, K - 1]; on half the paths the previous step's (orders keep their
    place), and on a tenth of them no order at all."""
    new = rng.integers(KEEP, K, size=(n, A, 2))
    if previous is not None:
        new = np.where(rng.random((n, 1, 1)) < 0.5, previous, new)
    new[rng.random(n) < 0.1] = -1
    return new


def _random_config(i):
    """Book parameters, batch and seed of configuration ``i`` (rates include zero cancel and
    market rates, no market-order boost and empty refills; several blocks, a partial one)."""
    rng = np.random.default_rng(1000 + i)
    K, A = SHAPES[i % len(SHAPES)]
    dt = float(rng.choice([0.5, 1.0, 3.0]))
    params = BookParams(
        n_levels=K,
        limit_rate=float(rng.uniform(0.2, 3.0)),
        cancel_rate=float(rng.choice([0.0, rng.uniform(0.05, 1.0)], p=[0.2, 0.8])),
        market_rate=float(rng.choice([0.0, rng.uniform(0.1, 2.0)], p=[0.15, 0.85])),
        market_boost=float(rng.choice([0.0, rng.uniform(0.2, 3.0)])),
        small_queue=int(rng.integers(0, 5)),
        refill=float(rng.choice([0.0, rng.uniform(0.3, 8.0)], p=[0.25, 0.75])),
        dt=dt, T=dt * int(rng.integers(3, 7)),
        fee=float(rng.choice([0.0, 0.001])), q0=float(rng.integers(-2, 3)),
        adverse_selection_steps=int(rng.integers(1, 4)))
    n_paths = int(rng.choice([1, 7, 40, 130, 301]))
    block_paths = rng.choice([None, 16, 64]) if n_paths > 1 else None
    return params, n_paths, A, None if block_paths is None else int(block_paths), int(i)


@pytest.mark.parametrize("i", range(24))
def test_random_configurations_give_the_numpy_engines_bytes(i):
    """Whole episodes of ``step`` (ledger included) with random offsets, then
    ``simulate_events``: every state array, every ledger array and every block's event
    generator equal after every call."""
    params, n, A, block_paths, seed = _random_config(i)
    books = _pair(params, n, A, seed, block_paths)
    rng = np.random.default_rng(seed)
    offsets = None
    while not books[0].done:
        offsets = _offsets(rng, n, A, params.n_levels, offsets)
        volumes = [book.step(offsets) for book in books]
        assert volumes[0].tobytes() == volumes[1].tobytes()
        _assert_same(books, f"after step {books[0].step_index}")
    events = int(rng.integers(1, 80))
    for book in books:
        book.simulate_events(events)
    _assert_same(books, f"after simulate_events({events})")


@pytest.mark.parametrize("i", range(8))
def test_several_calls_within_a_step_give_the_numpy_engines_bytes(i, monkeypatch):
    """Within one decision step: quotes, ``advance_to`` half-way, new quotes (cancellations
    can move the price, reading refill rows the compiled engine drew), ``advance_to`` the
    end, again past it, then ``simulate_events`` twice; working sets compact from 8 paths
    (so the event generators' positions depend on when the numpy engine compacts)."""
    monkeypatch.setattr(book_module, "_MIN_COMPACT", 8)
    params, n, A, block_paths, seed = _random_config(100 + i)
    params = params.replace(refill=float(i % 3), dt=2.0, T=4.0)
    books = _pair(params, max(n, 40), A, seed, block_paths)
    n, K = books[0].n_paths, params.n_levels
    rng = np.random.default_rng(seed)
    first, second = _offsets(rng, n, A, K, None), _offsets(rng, n, A, K, None)
    for book in books:
        book.set_quotes(first)
        book.advance_to(0.7)
    _assert_same(books, "after the first advance_to")
    for book in books:
        book.set_quotes(second)
        book.advance_to(2.0)
        book.advance_to(2.0)
    _assert_same(books, "after advance_to the end")
    for book in books:
        book.simulate_events(25)
        book.set_quotes(first)
        book.simulate_events(7)
    _assert_same(books, "after simulate_events")


def test_a_long_step_resumes_paths_out_of_rows_and_refills():
    """dt = 40 (hundreds of events a step, far past the first chunk of rows), empty refills
    at one level (a price move every few events): the same bytes."""
    params = BookParams(n_levels=1, refill=0.0, T=80.0, dt=40.0, cancel_rate=0.5)
    books = _pair(params, 50, 2, seed=3, block_paths=16)
    rng = np.random.default_rng(3)
    while not books[0].done:
        offsets = _offsets(rng, 50, 2, 1, None)
        for book in books:
            book.step(offsets)
        _assert_same(books, f"after step {books[0].step_index}")
    assert books[1]._s.moves.max() > 20


@pytest.mark.parametrize("threads", [1, 2])
def test_results_do_not_depend_on_threads_or_groups(threads, monkeypatch):
    """Groups of 64 paths on a thread pool (any batch size) with 1 or 2 threads: the numpy
    engine's bytes."""
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("numba was started with fewer threads")
    monkeypatch.setattr(_kernel, "_INLINE_PATHS", 0)
    monkeypatch.setattr(_kernel, "GROUP_PATHS", 64)
    params = BookParams(n_levels=2, T=3.0, refill=1.0)
    books = _pair(params, 700, 2, seed=5, block_paths=32)
    rng = np.random.default_rng(5)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        while not books[0].done:
            offsets = _offsets(rng, 700, 2, 2, None)
            for book in books:
                book.step(offsets)
        for book in books:
            book.simulate_events(30)
    finally:
        numba.set_num_threads(before)
    _assert_same(books, f"with {threads} threads")


def test_the_one_level_reference_setting_gives_the_numpy_engines_bytes():
    """The benchmark's setting: one level, the agent at both bests, 500 events a path."""
    params = BookParams(n_levels=1, limit_rate=1.0, cancel_rate=0.2, market_rate=0.6,
                        market_boost=0.0, refill=5.0)
    books = _pair(params, 1500, 1, seed=11)
    for book in books:
        book.set_quotes(np.zeros((1500, 1, 2), dtype=int))
        book.simulate_events(500)
    _assert_same(books, "after 500 events")


def test_the_compiled_generator_is_numpys_pcg64():
    """Rows drawn four at a time by jumped copies of the generator, any row count, and the
    plain fill: numpy's ``Generator.random`` bytes, and the same final state."""
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7, spawn_key=(3, 6))))
    for k in (1, 3, 4, 9):
        state = _kernel._pcg64_state(gen)
        out = np.empty((50, 12, 2))
        _kernel._fill_rows(state, out, k, -1)
        expected = gen.random((k, 2, 50))
        assert out[:, :k].transpose(1, 2, 0).tobytes() == expected.tobytes()
        assert (state == _kernel._pcg64_state(gen)).all()
    state = _kernel._pcg64_state(gen)
    flat = np.empty(1001)
    _kernel._random_into(state, flat)
    assert flat.tobytes() == gen.random(1001).tobytes()
    assert (state == _kernel._pcg64_state(gen)).all()


def test_the_log1p_transcription_is_numpys_log1p_where_the_guard_picks_it():
    """On the guard's sample and 200,000 more uniforms on numpy's grid, scalar and vectorised:
    numpy's bytes, when the guard picked the transcription (else the C library's log1p is
    used and must match)."""
    assert _kernel.guard()
    u = np.concatenate([_kernel.log1p_sample(), np.random.default_rng(2).random(200_000),
                        np.random.default_rng(3).integers(0, 2**30, 2000) * 2.0 ** -53])
    out = np.empty_like(u)
    functions = ((_kernel._log1p_neg_scalar, _kernel._log1p_neg_rows) if _kernel._LOG1P == 1
                 else (_kernel._log1p_neg_libm,))
    for f in functions:
        f(u, out)
        assert out.tobytes() == np.log1p(-u).tobytes(), f


def test_numpy_rows_drawn_replays_the_compaction_schedule():
    """Events per path (two blocks of 4): without compaction every block draws max + 1 rows;
    with it, a block leaves at the first compaction after its last event."""
    events = np.array([1, 2, 0, 1, 9, 9, 9, 3])
    assert _kernel.numpy_rows_drawn(events, 4, 2, 10**9).tolist() == [10, 10]
    # Paths active at iterations 0, 1, 2, 3: 7, 5, 4, 3 of 8; the working set first drops
    # below half at iteration 3, when block 0 is done (its last event at iteration 1).
    assert _kernel.numpy_rows_drawn(events, 4, 2, 1).tolist() == [4, 10]


# --- the guard and the engine switch -----------------------------------------------------------

def _off_by_one_ulp(u, out):
    out[:] = np.nextafter(np.log1p(-u), 0.0)


@pytest.fixture
def unchecked(monkeypatch):
    """The guard forgotten (it runs again), restored afterwards."""
    monkeypatch.setattr(_kernel, "_GUARD", None)
    monkeypatch.setattr(_kernel, "_LOG1P", _kernel._LOG1P)


def test_a_log1p_that_differs_turns_the_compiled_engine_off(unchecked, monkeypatch, caplog):
    for name in ("_log1p_neg_scalar", "_log1p_neg_rows", "_log1p_neg_libm"):
        monkeypatch.setattr(_kernel, name, _off_by_one_ulp)
    params = BookParams(T=2.0)
    with caplog.at_level(logging.WARNING, logger="asmm_env.lob._kernel"):
        book = LimitOrderBook(params, 5)
        assert not book.compiled
    assert "log1p differs" in caplog.text and "numpy engine" in caplog.text
    book.reset(seed=1)
    book.step(np.zeros((5, 1, 2), dtype=int))       # runs on numpy
    forced = LimitOrderBook(params, 5, engine="numba")
    forced.reset(seed=1)
    with pytest.raises(RuntimeError, match="engine='numba'"):
        forced.step(np.zeros((5, 1, 2), dtype=int))


def test_a_transcription_that_differs_falls_back_to_the_c_librarys_log1p(unchecked,
                                                                          monkeypatch):
    monkeypatch.setattr(_kernel, "_log1p_neg_rows", _off_by_one_ulp)
    assert _kernel.guard() and _kernel._LOG1P == 0
    params = BookParams(n_levels=2, T=3.0)
    books = _pair(params, 60, 2, seed=4, block_paths=16)
    rng = np.random.default_rng(4)
    while not books[0].done:
        offsets = _offsets(rng, 60, 2, 2, None)
        for book in books:
            book.step(offsets)
    for book in books:
        book.simulate_events(40)
    _assert_same(books, "with the C library's log1p")


def test_a_kernel_that_differs_is_caught_and_numpy_runs(unchecked, monkeypatch, caplog):
    run_for = _kernel._run_for

    def drifting(K, A):
        run = run_for(K, A)

        def wrong(*args):
            run(*args)
            clock = args[17]                 # run(paths, ..., Q, shift, clock, ...)
            clock[args[0]] = np.nextafter(clock[args[0]], np.inf)
        return wrong

    monkeypatch.setattr(_kernel, "_run_for", drifting)
    with caplog.at_level(logging.WARNING, logger="asmm_env.lob._kernel"):
        assert not _kernel.guard()
    assert "state.clock differs" in caplog.text
    assert not LimitOrderBook(BookParams(), 3).compiled


def test_engine_numba_refuses_a_refill_whose_inverse_comes_from_scipy():
    with pytest.raises(ValueError, match="refill"):
        LimitOrderBook(BookParams(refill=31.0), 2, engine="numba")
    assert not LimitOrderBook(BookParams(refill=31.0), 2).compiled


def test_auto_uses_the_compiled_engine_and_numpy_when_asked():
    assert LimitOrderBook(BookParams(), 2).compiled
    assert not LimitOrderBook(BookParams(), 2, engine="numpy").compiled


def test_a_recorded_book_runs_numpy_and_records_the_same_day():
    from asmm_env.lob.recorder import BookRecorder

    params = BookParams(s0=100.005, T=20.0, order_size=100)
    runs = []
    for engine in ("numpy", "auto"):
        book = LimitOrderBook(params, 3, engine=engine)
        recorder = BookRecorder().attach(book)
        book.reset(seed=1)
        while not book.done:
            book.step(np.full((3, 1, 2), -1))
        runs.append((book, recorder.lobster()))
    assert not runs[1][0].compiled          # the recorded auto book says it runs numpy
    _assert_same([book for book, _ in runs], "with a recorder")
    for numpy_day, auto_day in zip(runs[0][1], runs[1][1], strict=True):
        assert auto_day.n_messages > 100
        assert numpy_day.messages.equals(auto_day.messages)
        assert numpy_day.book.equals(auto_day.book)


def test_a_book_built_for_the_compiled_engine_refuses_a_recorder():
    from asmm_env.lob.recorder import BookRecorder

    book = LimitOrderBook(BookParams(order_size=100), 2, engine="numba")
    with pytest.raises(ValueError, match="engine must be 'auto' or 'numpy'"):
        BookRecorder().attach(book)
