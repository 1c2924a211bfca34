"""``SyntheticSourcePretrained`` loads a checkpoint made beforehand and
never trains: a missing one is an error naming the command that makes it."""
import subprocess

import pytest
import torch
import torch.nn as nn

from provmm.models.utils import SyntheticSourcePretrained


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)


def test_existing_checkpoint_is_loaded(tmp_path):
    source = _Net()
    checkpoint = tmp_path / 'source.pth'
    torch.save({'state_dict': source.state_dict()}, checkpoint)
    target = _Net()
    init = SyntheticSourcePretrained(str(checkpoint), prefix='backbone.')
    init(target.backbone)
    torch.testing.assert_close(target.backbone.weight, source.backbone.weight)
    assert not torch.equal(target.head.weight, source.head.weight)


def test_missing_checkpoint_names_the_command_and_trains_nothing(
        tmp_path, monkeypatch):
    def no_child(*args, **kwargs):
        raise AssertionError('the initializer must not start a process')

    monkeypatch.setattr(subprocess, 'run', no_child)
    missing = str(tmp_path / 'missing.pth')
    init = SyntheticSourcePretrained(missing)
    with pytest.raises(FileNotFoundError) as error:
        init(_Net().backbone)
    assert str(error.value) == (
        f'checkpoint {missing} not found; it is made by `python '
        'tools/train.py configs/provmm/synth_wsol_pretrain.py`')
