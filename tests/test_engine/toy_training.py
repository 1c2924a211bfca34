"""A linear model on 16 random vectors: a few-second mmengine Runner for the
engine tests."""
import itertools

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset


_runs = itertools.count()


class ToyDataset(Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=g),
                    label=torch.tensor(i % 2))


class ToyModel(BaseModel):
    """``loss_cls`` and ``loss_pg``; ``loss_pg`` is infinite at the
    ``inf_at``-th training forward."""

    def __init__(self, inf_at=None, provenance_loss=None):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.provenance_loss = provenance_loss
        self.inf_at = inf_at
        self.calls = 0

    def forward(self, inputs, label, mode='tensor'):
        out = self.linear(inputs)
        if mode != 'loss':
            return out
        self.calls += 1
        scale = float('inf') if self.calls == self.inf_at else 1.0
        return dict(loss_cls=F.cross_entropy(out, label),
                    loss_pg=out.abs().mean() * scale)


class CountMetric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        return dict(count=sum(results))


def toy_runner(work_dir, model=None, max_epochs=1, **kwargs):
    """A Runner training ``model`` (a fresh :class:`ToyModel`) with SGD,
    4 iterations per epoch and a checkpoint after every epoch."""
    torch.manual_seed(0)  # the model is built before the runner seeds
    loader = dict(dataset=ToyDataset(),
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'), batch_size=4)
    return Runner(
        model=model or ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        test_dataloader=loader,
        test_cfg=dict(),
        test_evaluator=CountMetric(),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='provmm',
        experiment_name=f'toy_{next(_runs)}',
        **kwargs)
