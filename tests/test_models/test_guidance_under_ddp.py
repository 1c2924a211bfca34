"""Guided training under MMEngine's DDP wrapper (2 CPU processes, gloo).

The double backprop of L_PG must leave DDP's gradient all-reduce intact:
after one ``train_step`` every rank holds the weights that one process gets
by averaging the gradients of the two half batches (what DDP promises).
mmengine's ``pytorch`` launcher needs CUDA, so the process group is set up
here directly.
"""
import copy

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from provmm.registry import MODELS

WORLD_SIZE = 2
PER_RANK = 3
LR = 0.1


def _model():
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='ProvenanceImageClassifier',
             data_preprocessor=dict(type='ProvenanceMixBatchAugment',
                                    mean=[127.5] * 3, std=[64.0] * 3),
             backbone=dict(type='ResNet', depth=18, stem_channels=8,
                           base_channels=8, out_indices=(3, )),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=3, in_channels=64,
                       loss=dict(type='CrossEntropyLoss')),
             provenance_loss=dict(type='ProvenanceGradientLoss',
                                  loss_weight=1e-3, mode='hard',
                                  target='margin')))


def _batch(rank):
    """A fixed half batch: images with an edited (foreign) band."""
    generator = torch.Generator().manual_seed(100 + rank)
    inputs = torch.randint(0, 256, (PER_RANK, 3, 32, 32),
                           generator=generator, dtype=torch.uint8)
    samples = []
    for i in range(PER_RANK):
        mask = torch.ones(32, 32)
        mask[:, 4 * i:4 * i + 12] = 0
        sample = DataSample().set_gt_label((rank + i) % 3)
        sample.prov_mask = mask
        samples.append(sample)
    return dict(inputs=list(inputs), data_samples=samples)


def _step(model, data):
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=LR))
    return model.train_step(data, optim)


def _worker(rank, init_file, out_file):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=WORLD_SIZE)
    try:
        ddp = MMDistributedDataParallel(module=_model())
        ddp.train()
        losses = _step(ddp, _batch(rank))
        if rank == 0:
            torch.save(dict(state=ddp.module.state_dict(),
                            loss_pg=float(losses['loss_pg'].detach())), out_file)
    finally:
        dist.destroy_process_group()


def _half_batch_gradients(model, initial, rank, alpha):
    model.load_state_dict(initial)
    model.zero_grad()
    model.provenance_loss.loss_weight = alpha
    data = model.data_preprocessor(_batch(rank), True)
    losses = model(**data, mode='loss')
    parsed, _ = model.parse_losses(losses)
    parsed.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_guided_train_step_under_ddp_matches_averaged_half_batches(tmp_path):
    out_file = str(tmp_path / 'rank0.pth')
    mp.spawn(_worker, args=(str(tmp_path / 'init'), out_file),
             nprocs=WORLD_SIZE, join=True)
    ddp_result = torch.load(out_file, weights_only=True)
    assert ddp_result['loss_pg'] > 0

    # One process: the SGD update from the mean gradient of the two halves.
    model = _model()
    model.train()
    initial = copy.deepcopy(model.state_dict())
    alpha = model.provenance_loss.loss_weight
    guided = [_half_batch_gradients(model, initial, r, alpha)
              for r in range(WORLD_SIZE)]
    unguided = [_half_batch_gradients(model, initial, r, 0.0)
                for r in range(WORLD_SIZE)]
    for name, _ in model.named_parameters():
        ddp_update = ddp_result['state'][name] - initial[name]
        expected = -LR * (guided[0][name] + guided[1][name]) / WORLD_SIZE
        # float32 gradients summed in another order (DDP's buckets)
        scale = expected.abs().max().item()
        torch.testing.assert_close(ddp_update, expected, rtol=1e-3,
                                   atol=1e-4 * scale,
                                   msg=lambda m: f"{name}: {m}")
    # The comparison can fail: rank 0's own gradient and the mean gradient
    # without L_PG give other updates.
    name = 'backbone.conv1.weight'
    ddp_update = ddp_result['state'][name] - initial[name]
    for other in (guided[0][name], (unguided[0][name] + unguided[1][name]) /
                  WORLD_SIZE):
        assert (ddp_update + LR * other).abs().max() > 1e-2 * (
            ddp_update.abs().max())
