"""The progress observer protocol: a start and an end per step (also when the step fails), the
end carrying its time and how it ended; counted steps advance; nobody observing costs nothing."""
import pytest

from analysis.progress import ADVANCE, END, START, counter, step


def test_a_step_reports_start_then_end_with_how_it_ended():
    seen = []
    with step(seen.append, "compile", "shop head (main)") as info:
        info["cached"] = True
    assert [(s.stage, s.label, s.state) for s in seen] == [("compile", "shop head (main)", START),
                                                           ("compile", "shop head (main)", END)]
    assert seen[1].cached and seen[1].ok and seen[1].seconds >= 0


def test_a_failing_step_still_ends_not_ok_and_the_error_goes_on():
    seen = []
    with pytest.raises(ValueError):
        with step(seen.append, "lineage", "base", total=3):
            raise ValueError("boom")
    assert [s.state for s in seen] == [START, END] and not seen[1].ok and seen[1].total == 3


def test_a_counter_advances_every_n_items_and_at_the_last():
    seen = []
    tick = counter(seen.append, "lineage", "head", every=2)
    for done in range(1, 6):
        tick(done, 5)
    assert [(s.state, s.done, s.total) for s in seen] == [(ADVANCE, 2, 5), (ADVANCE, 4, 5), (ADVANCE, 5, 5)]
    assert counter(None, "lineage", "head") is None  # nobody observes: no per-node calls at all
    with step(None, "impact", "x"):
        pass
