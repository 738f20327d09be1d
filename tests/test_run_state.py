"""The typed run state: the checkpoint's `run` dict round-trips, older dicts load, bad ones are one line."""

import numpy as np
import pytest

from distill.errors import DistillError
from distill.train.saver import CheckpointSaver
from distill.train.state import RunState

SAVED = {"step": 7, "epoch": 1, "batch_in_epoch": 3, "negatives": np.array([[1, 2]]), "best": 0.5,
         "history": [{"epoch": 0, "step": 0, "loss": None}], "epoch_loss": [1.5, 3], "losses": [0.4, 0.5, 0.6],
         "test_before": {"map": {"medium": 0.4}}}


def test_run_dict_round_trips_with_the_keys_checkpoints_always_had() -> None:
    back = RunState.from_dict(SAVED, "ck").to_dict()
    assert back.keys() == SAVED.keys()
    assert {k: v for k, v in back.items() if k != "negatives"} == {k: v for k, v in SAVED.items() if k != "negatives"}
    assert np.array_equal(back["negatives"], SAVED["negatives"])


def test_a_run_dict_from_an_older_checkpoint_takes_defaults() -> None:
    old = RunState.from_dict({"step": 4, "epoch": 2, "history": [], "negatives": None, "best": None}, "ck")
    assert (old.batch_in_epoch, old.loss_count, old.losses, old.test) == (0, 0, [], None)


@pytest.mark.parametrize("run", [None, [], {"step": 1}])
def test_a_malformed_run_state_is_one_line(run: object) -> None:
    with pytest.raises(DistillError, match=r"ck\.pt: the checkpoint's run state"):
        RunState.from_dict(run, "ck.pt")


def test_steps_and_epochs_count_their_losses() -> None:
    st = RunState()
    st.record_step(2.0, 0)
    st.record_step(4.0, 1)
    assert (st.step, st.batch_in_epoch, st.epoch_loss(), st.losses) == (2, 2, 3.0, [2.0, 4.0])
    st.new_epoch()
    assert (st.batch_in_epoch, st.epoch_loss(), st.step) == (0, None, 2)


def test_best_is_the_highest_score_and_unscored_runs_keep_the_latest() -> None:
    st = RunState()
    assert [CheckpointSaver.improves(st, s) for s in (0.3, 0.2, 0.3, 0.4)] == [True, False, False, True]
    assert st.best == 0.4 and CheckpointSaver.improves(RunState(), None)
