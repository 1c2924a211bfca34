import pytest
import torch
import torch.nn as nn

from provmm.models.utils import SyntheticSourcePretrained


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)


def test_existing_checkpoint_is_loaded_without_pretraining(tmp_path):
    source = _Net()
    checkpoint = tmp_path / 'source.pth'
    torch.save({'state_dict': source.state_dict()}, checkpoint)
    target = _Net()
    init = SyntheticSourcePretrained(
        str(checkpoint), pretrain_config=str(tmp_path / 'never_used.py'),
        prefix='backbone.')
    init(target.backbone)
    torch.testing.assert_close(target.backbone.weight, source.backbone.weight)
    assert not torch.equal(target.head.weight, source.head.weight)


def test_missing_checkpoint_without_its_config_names_the_config(tmp_path):
    init = SyntheticSourcePretrained(
        str(tmp_path / 'missing.pth'),
        pretrain_config=str(tmp_path / 'no_such_config.py'))
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        init(_Net().backbone)


@pytest.mark.parametrize('seed, expected', [(None, 0), (7, 7)])
def test_pretraining_child_takes_the_seed(tmp_path, monkeypatch, seed,
                                          expected):
    from mmengine.runner import Runner

    from provmm.models.utils import synthetic_source_pretrained as module
    config = tmp_path / 'source.py'
    config.write_text('randomness = dict(seed=0, deterministic=False)\n')
    seen = {}

    class _Runner:
        def train(self):
            pass

    def from_cfg(cfg):
        seen.update(cfg.randomness)
        return _Runner()

    monkeypatch.setattr(Runner, 'from_cfg', staticmethod(from_cfg))
    argv = ['child', str(config), '--work-dir', str(tmp_path / 'run')]
    if seed is not None:
        argv += ['--seed', str(seed)]
    monkeypatch.setattr('sys.argv', argv)
    module.train_config()
    assert seen == dict(seed=expected, deterministic=False)
