"""mmengine checkpoints (save, resume, load_from) under torch>=2.6's
weights_only loading, and refusal of anything else."""
import io
import os.path as osp
import pickle

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from provmm.engine.checkpoint_safety import register_checkpoint_safe_globals


@pytest.fixture(autouse=True)
def _safe_globals():
    register_checkpoint_safe_globals()


class _ToyDataset(Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=g), label=torch.tensor(i % 2))


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, inputs, label, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=torch.nn.functional.cross_entropy(out, label))
        return out


def _runner(work_dir, max_epochs, **kwargs):
    torch.manual_seed(0)  # the model is built before the runner seeds
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=4),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='LinearLR', start_factor=0.1, by_epoch=True,
                             begin=0, end=3),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='provmm',
        **kwargs)


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    runner = _runner(tmp_path, max_epochs=1)
    runner.train()
    ckpt = torch.load(osp.join(tmp_path, 'epoch_1.pth'), weights_only=True)
    assert ckpt['meta']['epoch'] == 1
    assert 'train/loss' in ckpt['message_hub']['log_scalars']


def test_resume_after_interruption_continues_with_identical_state(tmp_path):
    straight = _runner(tmp_path / 'straight', max_epochs=3)
    straight.train()

    interrupted = _runner(tmp_path / 'interrupted', max_epochs=3)
    interrupted.train_loop._max_epochs = 1  # stop after the first epoch
    interrupted.train()
    resumed = _runner(tmp_path / 'interrupted', max_epochs=3, resume=True)
    resumed.train()

    assert resumed.epoch == 3 and resumed.iter == straight.iter
    for a, b in zip(straight.model.state_dict().values(),
                    resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (resumed.optim_wrapper.get_lr()['lr'] ==
            straight.optim_wrapper.get_lr()['lr'])


def test_load_from_restores_weights(tmp_path):
    trained = _runner(tmp_path / 'a', max_epochs=1)
    trained.train()
    loaded = _runner(tmp_path / 'b', max_epochs=1,
                     load_from=osp.join(tmp_path, 'a', 'epoch_1.pth'))
    loaded.load_or_resume()
    for a, b in zip(trained.model.state_dict().values(),
                    loaded.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class _Foreign:
    """A global that no mmengine checkpoint contains."""


def test_checkpoint_with_foreign_global_is_refused():
    buf = io.BytesIO()
    torch.save({'state_dict': {}, 'meta': {'x': _Foreign()}}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match='_Foreign'):
        torch.load(buf)


def test_getattr_is_resolved_only_for_history_buffer_methods():
    # A hand-written protocol-2 pickle of getattr(os, 'system'): what an
    # allow-listed builtins.getattr would let a malicious checkpoint do.
    payload = (b'\x80\x02c__builtin__\ngetattr\ncos\nsystem\n'
               b'\x86q\x00.')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(io.BytesIO(_zip_checkpoint(payload)))


def _zip_checkpoint(pickle_bytes):
    """Wrap raw pickle bytes in torch's zip checkpoint container."""
    buf = io.BytesIO()
    torch.save({}, buf)
    import zipfile
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith('data.pkl'):
                data = pickle_bytes
            dst.writestr(name, data)
    return out.getvalue()
