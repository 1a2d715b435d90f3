"""The AIMD window on its own: slow start, additive increase, the two kinds of cut."""

from __future__ import annotations

from filedock.services.batch_aimd import INITIAL_WINDOW, Aimd


def test_slow_start_then_additive_increase_up_to_the_limit() -> None:
    aimd = Aimd(limit=16)
    assert aimd.target() == INITIAL_WINDOW
    for n in range(12):
        aimd.on_answer(200, 0.02, now=n * 0.02)
    assert aimd.target() == 16  # +1 per answer, capped at the limit
    aimd.on_answer(429, 0.02, now=1.0)
    assert aimd.target() == 8
    for n in range(8):
        aimd.on_answer(200, 0.02, now=2.0 + n * 0.02)
    assert 8 < aimd.window < 10  # +1/window per answer above the threshold


def test_one_cut_per_round_trip_and_never_below_one() -> None:
    aimd = Aimd(limit=64)
    aimd.window = 32.0
    aimd.on_answer(503, 0.05, now=10.0)
    aimd.on_answer(503, 0.05, now=10.01)  # same window of answers: one event
    assert aimd.window == 16.0
    for n in range(10):
        aimd.on_answer(429, 0.05, now=11.0 + n)
    assert aimd.window == 1.0
    aimd.on_answer(500, 0.05, now=30.0)  # other errors neither grow nor cut
    assert aimd.window == 1.0


def test_latency_growth_cuts_but_noise_does_not() -> None:
    aimd = Aimd(limit=64)
    aimd.window = 20.0
    for n in range(20):
        aimd.on_answer(200, 0.010 + 0.02 * (n % 2), now=n * 0.05)  # jitter of 20 ms
    assert aimd.window > 20.0
    before = aimd.window
    for n in range(40):
        aimd.on_answer(200, 1.0, now=10.0 + n)  # a queue builds up: 1 s instead of 10 ms
    assert aimd.window < before * 0.8
