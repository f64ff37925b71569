"""The collector is paused around bulk data, its long-lived objects frozen only within an analysis."""
import gc

import pytest

from analysis.store.gcpause import gc_paused, gc_resumed, gc_session


def test_paused_blocks_restore_the_collector_even_on_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            assert not gc.isenabled()
            with gc_resumed():  # code that makes cycles runs with the collector on
                assert gc.isenabled()
            assert not gc.isenabled()
            raise RuntimeError
    assert gc.isenabled()
    with gc_resumed():  # outside a paused block: nothing to do
        assert gc.isenabled()


def test_a_session_freezes_what_paused_blocks_built_and_unfreezes_it_at_the_end():
    gc.unfreeze()
    with gc_paused():
        kept = [{"n": i} for i in range(1000)]
    assert gc.get_freeze_count() == 0  # no session: nothing frozen (e.g. a cold run of the CLI)
    with gc_session():
        with gc_paused():
            kept += [{"n": i} for i in range(1000)]
        assert gc.get_freeze_count() >= 2000
        with gc_session():  # nested: the outer one decides
            pass
        assert gc.get_freeze_count() >= 2000
    assert gc.get_freeze_count() == 0 and len(kept) == 2000
