"""The transport evaluators: cBW2-UVP against the EOT benchmark's closed-form plan and against POT's Sinkhorn plan,
and the pairs figure."""

import pytest
import torch

from zoo.data.transport.eot_benchmark import EOTBenchmarkDataModule
from zoo.data.transport.toy2d import Toy2DDataModule
from zoo.evaluation import EOTBenchmarkEvaluator, SinkhornEvaluator
from zoo.evaluation.transport import sinkhorn_plan
from zoo.generative import LightSB


def test_sample_metrics_small_for_the_truth_large_for_a_wrong_model(tmp_path):
    data = EOTBenchmarkDataModule(dim=2, epsilon=1.0, data_dir=str(tmp_path), n_test=50, n_variance=50_000)
    evaluate = EOTBenchmarkEvaluator(n_conditional=400, n_marginal=5000)
    model = LightSB(2, 5, 1.0).double().set_potential(**data.benchmark.lightsb_parameters())
    good = evaluate(model, data)
    with torch.no_grad():
        model.r.add_(0.5)
    bad = evaluate(model, data)
    assert set(good) == {"cbw2_uvp", "bw2_uvp", "cbw2_uvp_exact"}
    assert good["cbw2_uvp"] < 1.5 and good["bw2_uvp"] < 1.0
    assert good["cbw2_uvp_exact"] == pytest.approx(0, abs=1e-9)            # the true plan's own moments
    assert bad["cbw2_uvp_exact"] > 10 * good["cbw2_uvp"]
    assert bad["cbw2_uvp"] > 10 * good["cbw2_uvp"] and bad["bw2_uvp"] > 10 * good["bw2_uvp"]
    path = tmp_path / "samples.png"
    evaluate.plot(model, data, path, n=64, n_paths=2)
    assert path.stat().st_size > 1000


def test_the_benchmarks_ground_truth(tmp_path):
    data = EOTBenchmarkDataModule(dim=2, epsilon=1.0, data_dir=str(tmp_path), n_test=20, n_variance=10_000)
    truth = data.ground_truth()
    mean, cov = data.benchmark.conditional_moments(truth["x_test"])
    assert truth["x_test"].shape == (20, 2) and truth["p1_cov"].shape == (2, 2)
    assert torch.equal(truth["mean"], mean) and torch.equal(truth["cov"], cov)


@pytest.mark.parametrize("target", ["swiss_roll", "moons"])
def test_the_sinkhorn_reference(target):
    data = Toy2DDataModule(target=target, epsilon=0.5, n_test=40)
    generator = torch.Generator().manual_seed(0)
    y = data.sample_p1(2000, generator)
    x = data.sample_p0(30, generator)
    plan = sinkhorn_plan(x, y[:300], data.epsilon)
    # the Sinkhorn plan has uniform marginals and the Gibbs form diag(u) exp(-|x - y|²/2ε) diag(v)
    torch.testing.assert_close(plan.sum(1), torch.full((30,), 1 / 30, dtype=torch.float64), rtol=1e-6, atol=0)
    torch.testing.assert_close(plan.sum(0), torch.full((300,), 1 / 300, dtype=torch.float64), rtol=1e-6, atol=0)
    log_plan = plan.log() + torch.cdist(x, y[:300]).square() / (2 * data.epsilon)
    rank_one = log_plan - log_plan[:, :1] - log_plan[:1, :] + log_plan[0, 0]
    assert rank_one.abs().max() < 1e-6


def test_toy_metric_prefers_the_entropic_plan_over_a_constant_map():
    """A model that samples x1 ~ π(·|x) from the Sinkhorn plan itself scores far better than one ignoring x."""
    data = Toy2DDataModule(target="moons", epsilon=0.5, n_test=30)
    evaluate = SinkhornEvaluator(n_reference=400, n_conditional=300)
    y = data.sample_p1(400, torch.Generator().manual_seed(data.seed * 1_000_003 + 999_994))
    x_test = data.test_inputs()
    conditional = sinkhorn_plan(x_test, y, data.epsilon) * x_test.shape[0]

    class PlanSampler(torch.nn.Module):
        def __init__(self, use_x: bool):
            super().__init__()
            self.use_x, self.anchor = use_x, torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

        def sample(self, x0):
            rows = (torch.cdist(x0, x_test).argmin(1) if self.use_x else torch.zeros(len(x0), dtype=torch.long))
            return y[torch.multinomial(conditional[rows], 1)[:, 0]]

    good, bad = evaluate(PlanSampler(True), data), evaluate(PlanSampler(False), data)
    assert good["cbw2_uvp_sinkhorn"] < 2 and bad["cbw2_uvp_sinkhorn"] > 5 * good["cbw2_uvp_sinkhorn"]


def test_sample_counts_are_checked():
    with pytest.raises(ValueError, match="n_marginal must be an integer >= 2"):
        EOTBenchmarkEvaluator(n_marginal=1)
    with pytest.raises(ValueError, match="n_reference must be an integer >= 2"):
        SinkhornEvaluator(n_reference=1)
