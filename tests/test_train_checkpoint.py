import json

import numpy as np
import pytest

from scratchnet import manual_seed, nn, optim
from scratchnet.train.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from scratchnet.train.npzio import save_npz


def trained_adam():
    """A Linear layer after two Adam steps under StepLR: moment arrays, step counters, tuples."""
    manual_seed(0)
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        model(np.ones((4, 3), np.float32))
        model.backward(np.ones((4, 2), np.float32))
        opt.step()
        opt.zero_grad()
        sched.step()
    return model, opt, sched


def test_state_round_trips_exactly_without_pickle(tmp_path):
    model, opt, sched = trained_adam()
    rng = np.random.default_rng(5)
    rng.random(3)
    state = TrainingState(epoch=2, spec={"layers": [{"type": "Linear", "in_features": 3, "out_features": 2}]},
                          model=model.state_dict(), best_model=model.state_dict(), optimizer=opt.state_dict(),
                          scheduler=sched.state_dict(), rng=rng.bit_generator.state,
                          history=[{"epoch": 1, "val_loss": 0.5}], best_epoch=1, best_val_loss=0.5,
                          epochs_without_improvement=1)
    save_checkpoint(tmp_path / "checkpoint.npz", state)
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as archive:
        assert "model/weight" in archive.files and "best/bias" in archive.files
    loaded = load_checkpoint(tmp_path / "checkpoint.npz")
    assert (loaded.epoch, loaded.best_epoch, loaded.history, loaded.spec) == (2, 1, state.history, state.spec)

    _, fresh_opt, fresh_sched = trained_adam()
    fresh_opt.load_state_dict(loaded.optimizer)
    fresh_sched.load_state_dict(loaded.scheduler)
    assert fresh_sched.state_dict() == sched.state_dict()
    for i, entry in opt.state_dict()["state"].items():
        restored = fresh_opt.state_dict()["state"][i]
        assert restored["step"] == entry["step"]
        np.testing.assert_array_equal(restored["exp_avg_sq"], entry["exp_avg_sq"])
    assert fresh_opt.param_groups[0]["betas"] == (0.8, 0.9)
    again = np.random.default_rng()
    again.bit_generator.state = loaded.rng
    assert again.random() == rng.random()


def test_other_files_are_not_checkpoints(tmp_path):
    save_npz(tmp_path / "model.npz", {"scratchnet_model": np.zeros(3, np.uint8)})
    with pytest.raises(ValueError, match="not a scratchnet training checkpoint"):
        load_checkpoint(tmp_path / "model.npz")
    newer = {"format": "scratchnet-checkpoint", "format_version": 99}
    save_npz(tmp_path / "newer.npz", {"checkpoint": np.frombuffer(json.dumps(newer).encode(), np.uint8)})
    with pytest.raises(ValueError, match="newer scratchnet.*upgrade scratchnet to resume"):
        load_checkpoint(tmp_path / "newer.npz")
