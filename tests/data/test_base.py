"""The one datamodule base: named splits and one loader path for samples and for whole batches, a training order
(shuffled or streamed) that a checkpoint resumes, evaluation splits read in order, one loader per test split."""

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from zoo.data.base import SplitDataModule


class Samples(SplitDataModule):
    """Samples ``0 .. n-1`` in each split; two test splits."""

    test_names = ("test", "test_ood")

    def setup(self, stage=None):
        self.splits = {name: TensorDataset(torch.arange(n))
                       for name, n in (("train", 6), ("val", 3), ("test", 4), ("test_ood", 5))}


class Stream(IterableDataset):
    """Three batches a pass; remembers where it was told to resume."""

    def __init__(self):
        self.resumed = None

    def __iter__(self):
        yield from ({"x": torch.full((2,), float(i))} for i in range(3))

    def state(self, trained: int, epoch_done: bool) -> dict:
        return {}

    def resume(self, **state) -> None:
        self.resumed = state


class Batches(SplitDataModule):
    """Whole batches: a training stream, fixed validation and test batches."""

    batched = True

    def setup(self, stage=None):
        self.splits = {"train": Stream(), "val": [{"x": torch.zeros(2)}] * 2, "test": [{"x": torch.ones(2)}]}


def test_samples_are_batched_shuffled_in_a_resumable_order_and_read_in_order_for_evaluation():
    data = Samples(batch_size=4)
    assert sorted(torch.cat([x for (x,) in data.train_dataloader()]).tolist()) == list(range(6))
    assert [x.tolist() for (x,) in data.val_dataloader()] == [[0, 1, 2]]
    assert [len(loader.dataset) for loader in data.test_dataloader()] == [4, 5]  # one loader per test split
    rng = torch.get_rng_state()
    data.load_state_dict({"seed": 7, "skip": 2, "rng": rng})  # what a checkpoint taken inside an epoch hands back
    resumed = torch.cat([x for (x,) in data.train_dataloader()]).tolist()
    assert resumed == torch.randperm(6, generator=torch.Generator().manual_seed(7)).tolist()[2:]


def test_whole_batches_come_through_the_same_loaders_and_a_stream_is_its_own_training_order():
    data = Batches(batch_size=2)
    data.load_state_dict({"next_pass": 1, "skip": 0})
    train = data.train_dataloader()
    assert train.batch_size is None and data.splits["train"].resumed == {"next_pass": 1, "skip": 0}
    assert [batch["x"].shape for batch in train] == [(2,)] * 3
    assert len(list(data.val_dataloader())) == 2 and isinstance(data.test_dataloader(), DataLoader)


@pytest.mark.parametrize("kwargs, message", [({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
                                             ({"batch_size": 2, "num_workers": -1}, "num_workers must be >= 0")])
def test_bad_loader_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Samples(**kwargs)
