import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import zoo.data.sequence.listops as listops
from zoo.data import ListOpsDataModule
from zoo.data.sequence.listops import (VOCAB, VOCAB_SIZE, apply_operator, detokenize, evaluate, generate_listops,
                                       longest_expression, tokenize)

SMALL = dict(max_length=64, min_length=8, max_depth=4, max_args=5, n_train=200, n_val=50, n_test=50, batch_size=16)


def nesting(ids) -> int:
    """Tree depth of an expression: a digit is depth 1, each enclosing operator adds 1."""
    depth = deepest = 0
    for index in ids:
        depth += VOCAB[index].startswith("[") - (VOCAB[index] == "]")
        deepest = max(deepest, depth)
    return deepest + 1


@pytest.mark.parametrize("expression,value", [
    ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9),
    ("[SM 5 6 7 ]", 8),                       # 18 mod 10
    ("[MED 1 9 3 ]", 3),
    ("[MED 1 2 ]", 1),                        # even count: mean of the middle two, 1.5, rounded down
    ("[MED 3 8 1 6 ]", 4),                    # 1 3 6 8 -> (3 + 6) / 2 = 4.5 -> 4
    ("[MED 2 4 ]", 3),
    ("[SM 5 6 [MED 1 9 3 ] ]", 4),            # 5 + 6 + 3 = 14
    ("[MIN [MAX 1 2 ] [SM 9 9 ] 5 ]", 2),     # min(2, 8, 5)
    ("[MAX [MIN [SM 4 4 ] [MED 0 0 9 ] ] 7 ]", 7),
    ("7", 7),
    ("( ( ( [MAX 2 ) 9 ) ] )", 9),            # LRA's written form: grouping parentheses are ignored
])
def test_evaluator_on_hand_worked_expressions(expression, value):
    assert evaluate(expression) == value
    assert evaluate(tokenize(expression)) == value  # from token ids too


def test_median_is_lras_int_of_numpy_median():
    rng = np.random.default_rng(0)
    for count in range(2, 11):
        for _ in range(20):
            args = rng.integers(0, 10, count).tolist()
            assert apply_operator("[MED", args) == int(np.median(args))


@pytest.mark.parametrize("expression,message", [
    ("[MAX 1 2", "1 operator\\(s\\) not closed"),
    ("1 ]", "after the end of a complete expression"),
    ("] 1", "closes no operator"),
    ("[FOO 1 ]", "unknown token '\\[FOO'"),
    ("[MAX ]", "operator \\[MAX has no arguments"),
    ("", "empty expression"),
])
def test_evaluator_rejects_malformed_expressions(expression, message):
    with pytest.raises(ValueError, match=message):
        evaluate(expression)


def test_vocabulary_and_tokenisation_round_trip():
    assert VOCAB_SIZE == 16 and VOCAB[0] == "<pad>"
    assert tokenize("[MAX 2 9 [MIN 4 7 ] 0 ]") == [11, 3, 10, 12, 5, 8, 15, 1, 15]
    assert tokenize("[MED 0 ] [SM 9") == [13, 1, 15, 14, 10]
    assert tokenize("( ( [MAX 2 ) 9 ) ]") == tokenize("[MAX 2 9 ]")
    text = "[SM 5 6 [MED 1 9 3 ] ]"
    assert detokenize(tokenize(text)) == text
    assert detokenize(torch.tensor(tokenize(text) + [0, 0, 0])) == text  # padding is dropped
    ids = list(range(1, VOCAB_SIZE))
    assert tokenize(detokenize(ids)) == ids
    with pytest.raises(ValueError, match="unknown token 'X'"):
        tokenize("[MAX 1 X ]")
    with pytest.raises(ValueError, match="token id 16 is outside the ListOps vocabulary"):
        detokenize([16])


def test_generated_expressions_respect_the_limits_and_evaluate_to_their_labels():
    sequences, values = generate_listops(300, max_depth=4, max_args=5, max_length=60, min_length=10, seed=1)
    assert len(sequences) == len(values) == 300
    assert len({tuple(sequence) for sequence in sequences}) == 300  # distinct
    assert all(10 < len(sequence) < 60 for sequence in sequences)  # LRA keeps min_length < length < max_length
    depths = [nesting(sequence) for sequence in sequences]
    assert max(depths) == 4 and min(depths) >= 2  # the depth limit is reached, never passed
    for sequence, value in zip(sequences, values):
        assert evaluate(sequence) == value  # the independent evaluator agrees with the generator
        assert tokenize(detokenize(sequence)) == sequence
    args_per_operator = []
    for sequence in sequences:  # count each operator's arguments: 2 .. max_args
        open_operators = []
        for index in sequence:
            if VOCAB[index] == "]":
                args_per_operator.append(open_operators.pop())
                continue
            if open_operators:
                open_operators[-1] += 1
            if VOCAB[index].startswith("["):
                open_operators.append(0)
    assert min(args_per_operator) == 2 and max(args_per_operator) == 5
    assert set(values) == set(range(10))


def test_lengths_stay_below_max_length_when_closing_brackets_end_an_expression():
    sequences, _ = generate_listops(1000, max_depth=4, max_args=5, max_length=16, min_length=0, seed=0)
    assert max(len(sequence) for sequence in sequences) == 15


def test_generation_is_deterministic_by_seed():
    first = generate_listops(50, max_length=100, min_length=10, seed=3)
    assert generate_listops(50, max_length=100, min_length=10, seed=3) == first
    assert generate_listops(50, max_length=100, min_length=10, seed=4) != first


def test_unreachable_length_windows_are_clear_errors():
    assert longest_expression(3, 2) == 2 + 2 * (2 + 2 * 1)
    with pytest.raises(ValueError, match="no expression with max_depth=3 and max_args=2 is longer than 10 tokens"):
        generate_listops(5, max_depth=3, max_args=2, max_length=100, min_length=10)
    with pytest.raises(ValueError, match="min_length < length < max_length"):
        generate_listops(5, max_length=20, min_length=19)
    with pytest.raises(RuntimeError, match="accepted 10 of 100000 sampled expressions"):
        generate_listops(11, max_depth=1, max_length=2, min_length=0)  # depth 1: only the 10 digits exist


def test_datamodule_batches_shapes_and_splits(tmp_path):
    data = ListOpsDataModule(data_dir=str(tmp_path), **SMALL)
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (16, 64, VOCAB_SIZE) and x.dtype == torch.float32
    assert y.shape == (16,) and y.dtype == torch.int64 and 0 <= y.min() and y.max() < 10
    assert torch.equal(x.sum(-1), torch.ones(16, 64))  # one-hot, padding included (id 0)
    assert {split: len(dataset) for split, dataset in data.splits.items()} == {"train": 200, "val": 50, "test": 50}
    for tokens, labels in ((data.splits[s].tokens, data.splits[s].labels) for s in ("train", "test")):
        for row, label in zip(tokens[:20], labels[:20]):
            length = int((row != 0).sum())
            assert 8 < length < 64 and (row[length:] == 0).all()  # padded at the end to max_length
            assert evaluate(row) == label
    rows = {tuple(row.tolist()) for s in ("train", "val", "test") for row in data.splits[s].tokens}
    assert len(rows) == 300  # no expression is shared between splits

    ids = ListOpsDataModule(data_dir=str(tmp_path), one_hot=False, **SMALL)
    xi, yi = next(iter(ids.test_dataloader()))
    xo, yo = next(iter(data.test_dataloader()))
    assert xi.shape == (16, 64) and xi.dtype == torch.int64 and torch.equal(yi, yo)
    assert torch.equal(xo.argmax(-1), xi)


def test_cache_is_written_atomically_reused_and_keyed_by_parameters(tmp_path, monkeypatch):
    folder = tmp_path / "listops"
    data = ListOpsDataModule(data_dir=str(tmp_path), **SMALL)
    data.setup()
    assert [path.name for path in folder.iterdir()] == [data.cache_path.name]  # no temporary file left over
    assert "depth4-args5-len8-64-n200-50-50-seed0" in data.cache_path.name

    def no_generation(*args, **kwargs):
        raise AssertionError("the cached splits should have been read, not generated")

    monkeypatch.setattr(listops, "generate_listops", no_generation)
    again = ListOpsDataModule(data_dir=str(tmp_path), **SMALL)
    again.setup()
    assert torch.equal(again.splits["test"].tokens, data.splits["test"].tokens)
    for change in ({"seed": 1}, {"max_depth": 3}, {"n_val": 40}, {"min_length": 9}):
        other = ListOpsDataModule(data_dir=str(tmp_path), **{**SMALL, **change})
        assert other.cache_path != data.cache_path
        with pytest.raises(AssertionError, match="should have been read"):
            other.setup()  # a changed parameter never reads the old file
    assert len(list(folder.iterdir())) == 1  # and a failed generation writes nothing


def test_majority_baseline(tmp_path):
    data = ListOpsDataModule(data_dir=str(tmp_path), **SMALL)
    counts = data.label_counts("train")
    assert counts.sum() == 200 and counts.shape == (10,)
    majority = int(counts.argmax())
    expected = (data.splits["test"].labels == majority).float().mean().item()
    assert data.majority_baseline() == pytest.approx(expected)
    assert 0.0 < data.majority_baseline("val") < 0.5


@pytest.mark.parametrize("kwargs,message", [
    ({"min_length": 300, "max_length": 256}, "need 0 <= min_length and max_length >= min_length \\+ 2"),
    ({"max_args": 1}, "max_args must be >= 2"),
    ({"max_depth": 0}, "max_depth must be >= 1"),
    ({"max_depth": 2, "max_args": 3, "min_length": 5}, "is longer than 5 tokens: lower min_length"),
    ({"n_val": 0}, "n_val must be a positive integer, got 0"),
])
def test_bad_arguments_name_what_is_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ListOpsDataModule(**kwargs)


def test_hydra_config_wires_the_vocabulary_into_the_model(make_cfg):
    cfg = make_cfg("data=listops")
    data = instantiate(cfg.data)
    assert isinstance(data, ListOpsDataModule) and data.one_hot
    assert cfg.model.d_input == VOCAB_SIZE and cfg.model.d_output == 10
