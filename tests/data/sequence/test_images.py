import pytest
import torch
from sklearn.datasets import load_digits

from zoo.data import SeqDigitsDataModule, SeqImageDataModule


def test_seq_digits_splits_shapes_and_normalisation():
    data = SeqDigitsDataModule(batch_size=50)
    data.setup()
    sizes = {split: len(dataset) for split, dataset in data.splits.items()}
    assert sizes == {"train": 1797 - 540, "val": 180, "test": 360}
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (50, 64, 1) and x.dtype == torch.float32 and y.dtype == torch.long
    train_x = data.splits["train"].tensors[0]
    assert train_x.mean().abs() < 1e-5 and (train_x.std() - 1).abs() < 1e-4
    again = SeqDigitsDataModule()
    again.setup()
    assert torch.equal(again.splits["test"].tensors[1], data.splits["test"].tensors[1])  # fixed split


def test_seq_digits_class_subset_and_bad_arguments():
    data = SeqDigitsDataModule(num_classes=3)
    data.setup()
    assert set(data.splits["train"].tensors[1].tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match=r"num_classes must be in \[2, 10\], got 11"):
        SeqDigitsDataModule(num_classes=11)


@pytest.mark.parametrize("kwargs, message", [
    ({"val_size": -10}, "data.val_size=-10: expected an int >= 0 (seq_digits has 1797 images)"),
    ({"test_size": -1}, "data.test_size=-1: expected an int >= 0 (seq_digits has 1797 images)"),
    ({"test_size": "abc"}, "data.test_size='abc': expected an int >= 0"),
    ({"val_size": 1000, "test_size": 797}, "data.val_size + data.test_size = 1797 leaves none of seq_digits' 1797 "
                                           "images for training"),
])
def test_seq_digits_split_sizes_name_the_key(kwargs, message):
    """A negative size used to slice from the end: train and test overlapped."""
    with pytest.raises(ValueError) as caught:
        SeqDigitsDataModule(**kwargs)
    assert message in str(caught.value)
    assert SeqDigitsDataModule.images == len(load_digits().target)


@pytest.mark.parametrize("val_fraction", [-0.1, 1.0, "abc"])
def test_seq_image_val_fraction_names_the_key(val_fraction):
    """A negative fraction used to give an empty validation split, silently."""
    with pytest.raises(ValueError, match=r"data.val_fraction=.*: expected a fraction of the training set in \[0, 1\)"):
        SeqImageDataModule(dataset="fake", val_fraction=val_fraction)


@pytest.mark.parametrize("d_input", [3, 1])
def test_seq_image_fake_data(d_input):
    data = SeqImageDataModule(dataset="fake", d_input=d_input, batch_size=8, fake_size=40, val_fraction=0.25)
    data.setup()
    assert len(data.splits["train"]) == 30 and len(data.splits["val"]) == 10 and len(data.splits["test"]) == 40
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (8, 1024, d_input) and y.shape == (8,)


def test_seq_image_pixel_order_is_row_major():
    from zoo.data.sequence.images import pixels_as_sequence

    image = torch.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    sequence = pixels_as_sequence(image)
    assert sequence.shape == (12, 2) and torch.equal(sequence[5], image[:, 1, 1])


def test_seq_image_missing_data_says_how_to_fix(tmp_path):
    data = SeqImageDataModule(dataset="mnist", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MNIST was not found under root=.*data.download=true"):
        data.setup()
    with pytest.raises(ValueError, match="mnist has 1 channel"):
        SeqImageDataModule(dataset="mnist", d_input=3)
