"""Under DDP every evaluation loader of every datamodule reads each sample exactly once.

Lightning gives a loader without a ``DistributedSampler`` a padded one, which repeats samples so that every process
gets as many; our evaluation loaders carry an ``UnrepeatedDistributedSampler`` instead (``zoo.data.base``). The
test builds every datamodule of ``configs/data/`` at a tiny size, forks two processes that form a gloo group, and
has each take its validation and test loaders (every test resolution and extra test split) the way Lightning's
trainer would (:func:`lightning_view`); the indices the two read must cover each sample once.
"""

from __future__ import annotations

import multiprocessing
import queue
import socket
import sys
import traceback
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from hydra.utils import instantiate
from lightning.pytorch.trainer.connectors.data_connector import _DataConnector
from lightning.pytorch.trainer.states import RunningStage, TrainerFn
from torch.utils.data import IterableDataset, RandomSampler

from zoo.cache import atomic_save
from zoo.cli import CONFIG_DIR
from zoo.data.graph.anomaly import generate_anomaly_dataset, write_tu

# the raw-format fixtures of the domains' tests (test folders are no packages)
sys.path[:0] = [str(Path(__file__).parent / domain) for domain in ("graph", "sequence", "spectra")]

PROCESSES = 2
TIMEOUT = 120  # seconds for both processes to finish; a hang fails the test instead of blocking the run

# every data config, made tiny and offline (odd split sizes: the two processes get unequal shares)
SMALL = ["batch_size=2", "n_train=6", "n_val=5", "n_test=7"]
CASES = {
    "burgers": [*SMALL, "resolution=16", "test_resolutions=[16,32]", "t_final=0.1", "dt=0.02"],
    "darcy": [*SMALL, "resolution=5", "test_resolutions=[5,9]"],
    "navier_stokes": [*SMALL, "resolution=8", "test_resolutions=[8,16]", "t_final=0.1", "dt=0.05"],
    "cycles": [*SMALL, "n_min=5", "n_max=7", "width=7"],
    "eot_benchmark": [*SMALL, "n_test=9", "dim=2"],  # 3 validation and 5 test batches, dealt whole
    "toy2d": [*SMALL, "n_test=9"],
    "listops": [*SMALL, "max_length=32", "min_length=4", "max_depth=3", "max_args=3"],
    "molecules": ["batch_size=2", "pool_size=120"],  # the size split: test and test_ood
    "pendulum": SMALL,
    "sines": SMALL,
    "energy": ["batch_size=2", "n_val=5", "n_test=7"],
    "stocks": ["batch_size=2", "n_val=5", "n_test=7"],
    "qm9_ir": ["batch_size=2", "n_train=2", "n_val=3", "n_test=5"],
    "seq_digits": ["batch_size=2", "val_size=5", "test_size=7"],
    "seq_image": ["dataset=fake", "+fake_size=24", "val_fraction=0.25", "batch_size=2", "num_workers=0"],
    "spectral_anomaly": [*SMALL, "n_train=30", "min_nodes=5", "max_nodes=8"],
    "tu_screen": ["batch_size=2", "d_input=6", "fractions=[0.5,0.25,0.25]"],
    "zinc": ["batch_size=1"],
    "phantoms": [*SMALL, "size=8"],
    "rgb_crops": [*SMALL, "size=8", "side=32"],
    "hsi": [*SMALL, "size=8", "side=32", "bands=5"],
    "ethanol_md": ["batch_size=2", "n_train=4", "n_val=3", "n_test=5", "trajectories=1"],
    "pde_manufactured": ["grid=[400]", "n_val=7", "n_test=8", "steps_per_epoch=2"],
    "manifold_vectors": ["n_points=60", "field=rotation"],
    "continuous_tensor": ["n_train=20", "n_val=5", "n_test=3"],
    "quantum_well": ["n_collocation=8", "steps_per_epoch=2", "n_reference=50"],
    "eeg_synthetic": ["batch_size=2", "n_trials=11", "n_channels=4", "duration=0.5", "val_fraction=0.25"],
    "moabb": ["batch_size=2", "dataset=FakeDataset", "download=true", "events=[fake1,fake2]", "n_channels=3",
              "tmax=1.0", "dataset_kwargs={n_subjects:1,n_sessions:1,n_runs:1,duration:30,n_events:22,seed:0,"
              "event_list:[fake1,fake2],channels:[C3,Cz,C4]}"],  # MOABB's own fake recordings: no download
    "burgers_snapshots": [*SMALL, "num_classes=2", "resolution=32", "dt=0.01"],
    "darcy_snapshots": [*SMALL, "num_classes=2", "resolution=9"],
    "elastic_bar": [*SMALL, "n_cells=100", "n_steps=390", "n_records=16"],
}
# the datamodules whose every split is one whole problem (one batch: a PDE's grid, a GP's data); their tasks fit in
# one process, and under two their evaluation loaders must refuse with the clear error instead of splitting the batch
WHOLE = {"pde_manufactured", "manifold_vectors", "continuous_tensor", "quantum_well"}


def write_fixtures(data_dir: Path) -> None:
    """The files the configs that read data (no download in tests) need, in their raw formats."""
    from test_spectra import _fake_molecules
    from test_timeseries import write_csv
    from test_zinc import write_fixture

    write_csv(data_dir / "energy", rows=40, columns=28)  # energy/timeseries/stock_data.csv
    write_csv(data_dir, rows=40, columns=6)  # timeseries/stock_data.csv
    (data_dir / "energy" / "timeseries" / "stock_data.csv").rename(data_dir / "timeseries" / "energy_data.csv")
    arrays = generate_anomaly_dataset(20, 4, num_labels=6, min_nodes=5, max_nodes=8, seed=0)
    arrays["graph_labels"] = 2 * arrays["graph_labels"] - 1  # the screens' labels are -1 / 1
    write_tu(arrays, data_dir / "tu" / "MCF-7" / "raw", "MCF-7")
    write_fixture(data_dir / "zinc" / "raw")
    atomic_save({"molecules": _fake_molecules(10), "failed": [], "seconds": 1.0},
                data_dir / "spectra" / "shard_00000.pt")


STAGES = {"val": (RunningStage.VALIDATING, TrainerFn.VALIDATING), "test": (RunningStage.TESTING, TrainerFn.TESTING)}


def lightning_view(loader, rank: int, stage: str):
    """``loader`` as Lightning's trainer iterates it in a DDP run (``use_distributed_sampler=True``): one whose
    sampler is not a ``DistributedSampler`` gets a padded ``DistributedSampler`` in its place. This calls Lightning's
    own (private) code for it, so a Lightning that changes it fails here loudly rather than passing quietly."""
    mode, fn = STAGES[stage]
    trainer = SimpleNamespace(
        _accelerator_connector=SimpleNamespace(use_distributed_sampler=True, is_distributed=True),
        distributed_sampler_kwargs={"num_replicas": PROCESSES, "rank": rank}, overfit_batches=0,
        state=SimpleNamespace(fn=fn))
    return _DataConnector(trainer)._prepare_dataloader(loader, shuffle=False, mode=mode)


def as_list(loaders) -> list:
    return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]


def read_indices(loader) -> list[int]:
    """The dataset indices ``loader`` reads (samples, or pre-made batches when ``batch_size`` is None), checked
    against what iterating it yields."""
    indices = [int(i) for chunk in (loader.batch_sampler or loader.sampler)
               for i in (chunk if isinstance(chunk, list) else [chunk])]
    assert sum(1 for _ in loader) == len(loader.batch_sampler or loader.sampler)
    return indices


def evaluation_loaders(datamodule) -> dict[str, list]:
    return {"val": as_list(datamodule.val_dataloader()), "test": as_list(datamodule.test_dataloader())}


def worker(rank: int, port: int, probe, results) -> None:
    """One of the processes: join the gloo group, run ``probe(rank)`` and report what it returns (or its error)."""
    try:
        torch.set_num_threads(1)  # OpenMP's thread pool does not survive fork(): one thread never needs it
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=PROCESSES,
                                timeout=timedelta(seconds=TIMEOUT))
        results.put((rank, probe(rank)))
    except BaseException:  # noqa: BLE001 (reported to the parent, which fails the test with it)
        results.put((rank, RuntimeError(traceback.format_exc())))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_two_processes(probe) -> dict[int, object]:
    """``probe(rank)`` in each of two forked processes of a gloo group (they inherit everything built here); a
    process that fails fails the test with its traceback, one that hangs fails it after ``TIMEOUT`` seconds."""
    context = multiprocessing.get_context("fork")
    results, port = context.Queue(), free_port()
    processes = [context.Process(target=worker, args=(rank, port, probe, results), daemon=True)
                 for rank in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        returned = dict(results.get(timeout=TIMEOUT) for _ in processes)
    except queue.Empty:
        pytest.fail(f"the {PROCESSES} processes did not report within {TIMEOUT} s (exit codes "
                    f"{[process.exitcode for process in processes]}): a hang in the process group or a loader")
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    for rank, value in sorted(returned.items()):
        if isinstance(value, RuntimeError):
            pytest.fail(f"process {rank} failed:\n{value}")
    return returned


def read_by_rank(datamodules: dict):
    """A probe: ``{name: {"val": [indices per loader], "test": [...]}}`` read by this process, after checking that
    the training loaders still shuffle with a ``RandomSampler`` (Lightning swaps in its ``DistributedSampler``)."""
    def probe(rank: int) -> dict:
        read = {}
        for name, datamodule in datamodules.items():
            train = datamodule.train_dataloader()
            assert isinstance(train.dataset, IterableDataset) or isinstance(train.sampler, RandomSampler), name
            if name in WHOLE:
                with pytest.raises(ValueError, match="trainer.devices"):
                    datamodule.val_dataloader()
                continue
            read[name] = {stage: [read_indices(lightning_view(loader, rank, stage))
                                  for loader in loaders] for stage, loaders in evaluation_loaders(datamodule).items()}
        return read
    return probe


def test_every_data_config_is_covered():
    assert set(CASES) == {path.stem for path in (Path(CONFIG_DIR) / "data").glob("*.yaml")}


def test_every_evaluation_loader_reads_each_sample_once_under_two_processes(make_cfg, tmp_path):
    write_fixtures(tmp_path / "data")
    datamodules, sizes = {}, {}
    for name, overrides in CASES.items():
        datamodule = instantiate(make_cfg(f"data={name}", *(f"data.{item}" if not item.startswith("+") else
                                                            f"+data.{item[1:]}" for item in overrides)).data)
        datamodule.prepare_data()
        datamodule.setup("fit")
        datamodules[name] = datamodule
        sizes[name] = {stage: [len(loader.dataset) for loader in loaders]  # one process: every sample once
                       for stage, loaders in evaluation_loaders(datamodule).items()}
    assert len(sizes["darcy"]["test"]) == len(sizes["molecules"]["test"]) == 2  # a zero-shot grid, an OOD split
    read = in_two_processes(read_by_rank(datamodules))
    wrong = []
    for name, stages in sizes.items():
        if name in WHOLE:
            assert all(length == [1] for length in stages.values()), (name, stages)
            continue
        for stage, lengths in stages.items():
            for index, length in enumerate(lengths):
                shares = [read[rank][name][stage][index] for rank in range(PROCESSES)]
                counts = Counter(i for share in shares for i in share)
                if counts != Counter(range(length)) or not all(shares):
                    wrong.append(f"{name} {stage} loader {index}: {length} items, {[len(s) for s in shares]} read by "
                                 f"the {PROCESSES} processes, repeated {sorted(i for i, c in counts.items() if c > 1)},"
                                 f" missed {sorted(set(range(length)) - set(counts))}")
    assert not wrong, "evaluation loaders that do not read each sample once:\n" + "\n".join(wrong)


def test_an_evaluation_set_smaller_than_the_process_count_is_a_clear_error(make_cfg):
    datamodule = instantiate(make_cfg("data=seq_digits", "data.val_size=1").data)
    datamodule.setup("fit")

    def probe(rank: int) -> str:
        with pytest.raises(ValueError) as error:
            datamodule.val_dataloader()
        return str(error.value)

    messages = in_two_processes(probe)
    assert all("1 items" in message and "trainer.devices" in message for message in messages.values())
