"""train.py init_from=<ckpt> finetune=flora|lora, and eval.py adapters=<folder>."""

import shutil

import pytest
import torch

import zoo
from zoo.adapters import load_adapters
from zoo.cli import evaluate, train

SMALL = ["model.d_model=16", "model.n_layers=1", "model.d_state=8", "data.batch_size=32", "+trainer.limit_train_batches=3",
         "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2", "logger=none"]


@pytest.mark.parametrize("method", ["flora", "lora"])
def test_finetune_trains_only_adapters_and_saves_them(make_cfg, tmp_path, method):
    pretrained = train(make_cfg(*SMALL, "trainer.max_epochs=1"))
    base = shutil.copy(pretrained["best_checkpoint"], tmp_path / "base.ckpt")
    tuned = train(make_cfg(*SMALL, "trainer.max_epochs=2", f"init_from={base}", f"finetune={method}",
                           "finetune.rank=2", "finetune.save=both", "finetune.modules_to_save=[decoder]",
                           folder="tuned"))
    assert 0 < tuned["trainable_parameters"] < tuned["parameters"]

    # the base weights did not move; the adapters did
    before = torch.load(base, weights_only=True)["state_dict"]
    after = torch.load(tuned["best_checkpoint"], weights_only=True)["state_dict"]
    frozen = [key for key in after if ".base_layer." in key]
    assert frozen and all(torch.equal(after[key], before[key.replace(".base_layer.", ".")]) for key in frozen)
    assert any(".adapter." in key and after[key].abs().sum() > 0 for key in after)
    assert not torch.equal(after["model.decoder.base_layer.weight" if "model.decoder.base_layer.weight" in after
                                 else "model.decoder.weight"], before["model.decoder.weight"])

    # eval.py on the fine-tuned checkpoint, and on the base checkpoint with the saved adapters, agree with train.py
    again = evaluate(make_cfg(f"ckpt_path={tuned['best_checkpoint']}", "+trainer.limit_test_batches=2", config="eval"))
    assert again["metrics"]["test/acc"] == pytest.approx(tuned["metrics"]["test/acc"])
    adapters = tuned["finetuned"]["adapters"]
    via_folder = evaluate(make_cfg(f"ckpt_path={base}", f"adapters={adapters}", "+trainer.limit_test_batches=2",
                                   config="eval"))
    assert via_folder["metrics"]["test/acc"] == pytest.approx(tuned["metrics"]["test/acc"])

    # the merged folder is a plain model with the same function as base + adapters
    merged = zoo.load_model(tuned["finetuned"]["merged"])
    adapted = load_adapters(zoo.load_model(base), adapters).eval()
    x = torch.randn(2, 64, 1)
    assert torch.allclose(merged(x), adapted(x), atol=1e-5)


def test_bad_finetune_options_are_clear_errors(make_cfg, tmp_path):
    with pytest.raises(ValueError, match="finetune.save='weights'"):
        train(make_cfg(*SMALL, "finetune=flora", "finetune.save=weights"))
    with pytest.raises(ValueError, match="FLoRAConfig has no option"):
        train(make_cfg(*SMALL, "finetune=flora", "+finetune.alpha=4"))
