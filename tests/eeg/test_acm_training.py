"""acm_ts through train.py: the reference point is fitted from the training split when a fit starts, is kept by a
resumed run and by init_from, and the model learns the temporal regime the covariance baseline cannot."""

from __future__ import annotations

import torch

import zoo
from zoo.cli import train

SMALL = ["data.n_channels=4", "logger=csv"]  # 400 trials of 2 s: the 1 Hz shift needs them


def test_acm_ts_trains_fits_its_reference_once_and_beats_the_covariance_baseline(make_cfg, tmp_path, monkeypatch):
    calls = []
    original = zoo.eeg.ACMTangentSpace.fit_reference

    def counted(self, x, *args, **kwargs):
        calls.append(len(x))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(zoo.eeg.ACMTangentSpace, "fit_reference", counted)
    acm = train(make_cfg("experiment=acm_eeg_temporal", *SMALL, "trainer.max_epochs=10", folder="acm"))
    assert calls == [256]  # the training split only: 400 trials, 80 in the test fold, 64 validating
    last = tmp_path / "acm" / "checkpoints" / "last.ckpt"
    model = zoo.load_model(last)
    assert model.reference_fitted

    resumed = train(make_cfg("experiment=acm_eeg_temporal", *SMALL, "trainer.max_epochs=11", f"ckpt_path={last}",
                             "test=false", folder="acm"))
    assert resumed["epochs"] == 11 and calls == [256]  # the checkpoint's reference, not a new one
    train(make_cfg("experiment=acm_eeg_temporal", *SMALL, "trainer.max_epochs=1", f"init_from={last}",
                   "test=false", folder="finetuned"))
    assert calls == [256]
    torch.testing.assert_close(zoo.load_model(tmp_path / "finetuned" / "checkpoints" / "last.ckpt").C_ref,
                               model.C_ref)

    cov = train(make_cfg("experiment=acm_eeg_temporal", "model.order=1", *SMALL, "trainer.max_epochs=10", folder="cov"))
    # the classes differ only in their task source's resonance (10 vs 11 Hz): spatial covariances stay near chance
    acm_acc, cov_acc = acm["metrics"]["test/acc"], cov["metrics"]["test/acc"]
    assert acm_acc >= 0.75 and cov_acc <= 0.65 and acm_acc - cov_acc >= 0.15, (acm_acc, cov_acc)
