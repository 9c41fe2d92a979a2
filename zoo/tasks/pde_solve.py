"""Solving one PDE: the model is the solution (GP-HM's grid values and kernel, a PINN's weights), trained on its own
objective ``model.loss(problem)["loss"]``, with Adam and then, optionally, L-BFGS.

Every training batch is the whole problem (:mod:`zoo.data.pde.manufactured`: an epoch is ``steps_per_epoch`` of
them); of the run's steps (``trainer.max_epochs`` × steps per epoch) the last ``lbfgs_steps`` are L-BFGS iterations
(strong-Wolfe line search, the curvature history kept across steps). Evaluation batches are ``(x (M, d), u (M,))``: ``rel_l2`` ``‖û − u‖ / ‖u‖`` of
``model(x)`` (each split is one batch), and ``max_error``. There is no model selection: the test scores the final
iterate (the task config monitors nothing), never the best error seen in training as GP-HM's reference code reports.
"""

from __future__ import annotations

import torch
from torchmetrics import MaxMetric

from zoo.metrics import RelativeL2Error
from zoo.tasks.base import ZooTask


class PDESolveTask(ZooTask):
    """Args: ``lbfgs_steps`` final L-BFGS iterations (0: Adam only); ``lbfgs_history`` its memory (module doc)."""

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None, lbfgs_steps: int = 0,
                 lbfgs_history: int = 50):
        if lbfgs_steps < 0 or lbfgs_history < 1:
            raise ValueError(f"lbfgs_steps={lbfgs_steps} must be >= 0 and lbfgs_history={lbfgs_history} >= 1")
        super().__init__(model, optimizer, scheduler)
        if not callable(getattr(self.model, "loss", None)):
            raise ValueError(f"model {model['name']!r} has no loss(problem): the pde_solve task trains solvers such as "
                             "gp_hm and pinn")
        self.automatic_optimization = False
        self.init_metrics({"rel_l2": RelativeL2Error(), "max_error": MaxMetric()})

    def training_step(self, problem: dict, batch_idx: int) -> torch.Tensor:
        adam, lbfgs = self.optimizers()
        if self.global_step < self.trainer.estimated_stepping_batches - self.hparams.lbfgs_steps:
            adam.zero_grad()
            parts = self.model.loss(problem)
            self.manual_backward(parts["loss"])
            adam.step()
            scheduler = self.lr_schedulers()
            if scheduler is not None:
                scheduler.step()
        else:
            evaluated = {}

            def closure():
                lbfgs.zero_grad()
                evaluated.update(self.model.loss(problem))
                self.manual_backward(evaluated["loss"])
                return evaluated["loss"]

            lbfgs.step(closure)
            parts = evaluated      # the line search's last evaluation
        for name, value in parts.items():
            self.log_value("train", name, value.detach(), batch_size=1, prog_bar=name == "loss")
        return parts["loss"].detach()

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        prediction, u = self.predict_batch(batch, "a PDE solver returns one value per point")
        collection = self.metrics[f"{stage}_"]
        collection["rel_l2"](prediction.reshape(1, -1), u.reshape(1, -1))
        collection["max_error"]((prediction - u).abs().max())
        self.log_dict(collection, prog_bar=True, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return (prediction - u).square().mean()

    def configure_optimizers(self):
        adam = super().configure_optimizers()
        lbfgs = torch.optim.LBFGS(self.model.parameters(), lr=1.0, max_iter=1, history_size=self.hparams.lbfgs_history,
                                  line_search_fn="strong_wolfe")
        if isinstance(adam, dict):
            return [adam["optimizer"], lbfgs], [adam["lr_scheduler"]]
        return [adam, lbfgs]
