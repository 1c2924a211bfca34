"""The WSOL benchmark's announced pre-training step: which seeds it trains,
and the child's seed."""
import os.path as osp
from types import SimpleNamespace

import pytest

import provmm.benchmarks.pretrain as pretrain
import provmm.benchmarks.synth_wsol as wsol


def test_only_missing_backbones_are_pretrained_with_one_line(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    made = []

    def fake_pretrain(config, checkpoint, seed):
        made.append((osp.basename(config), seed))
        open(checkpoint, 'w').close()

    monkeypatch.setattr(pretrain, 'pretrain', fake_pretrain)
    (tmp_path / pretrain.CHECKPOINT_DIR).mkdir(parents=True)
    open(pretrain.seed_checkpoint(1), 'w').close()
    lines = []
    pretrain.pretrain_backbones([0, 1, 2], 'configs', lines.append)
    assert made == [('synth_wsol_pretrain.py', 0),
                    ('synth_wsol_pretrain.py', 2)]
    assert len(lines) == 1 and lines[0].startswith(
        'Pre-training the synthetic-source backbone of seed(s) 0, 2 with '
        + osp.join('configs', 'provmm', 'synth_wsol_pretrain.py'))
    assert '2/2' in capsys.readouterr().out  # the progress bar
    pretrain.pretrain_backbones([0, 1, 2], 'configs', lines.append)
    assert len(made) == 2 and len(lines) == 1  # nothing missing: silent


def test_wsol_prepares_backbones_only_for_pretrained_variants(monkeypatch):
    seeds_seen = []
    monkeypatch.setattr(wsol, 'pretrain_backbones',
                        lambda seeds, *args: seeds_seen.append(seeds))
    by_name = wsol.BENCHMARK.variants_by_name
    wsol.prepare([by_name['cam_scratch']], [0, 1], None)
    assert seeds_seen == []
    wsol.prepare([by_name['cam_scratch'], by_name['pg_margin']], [0, 1],
                 None)
    assert seeds_seen == [[0, 1]]


@pytest.mark.parametrize('seed', [0, 7])
def test_pretraining_child_takes_the_seed(tmp_path, monkeypatch, seed):
    from mmengine.runner import Runner
    config = tmp_path / 'source.py'
    config.write_text('randomness = dict(seed=0, deterministic=False)\n')
    seen = {}

    class _Runner:
        def train(self):
            pass

    def from_cfg(cfg):
        seen.update(cfg.randomness, work_dir=cfg.work_dir)
        return _Runner()

    monkeypatch.setattr(Runner, 'from_cfg', staticmethod(from_cfg))
    pretrain.train_config([str(config), '--work-dir', 'run', '--seed',
                           str(seed)])
    assert seen == dict(seed=seed, deterministic=False, work_dir='run')


def test_pretrain_runs_the_child_and_copies_its_last_checkpoint(
        tmp_path, monkeypatch):
    commands = []

    def fake_run(command, stdout, stderr):
        commands.append(command)
        work_dir = command[command.index('--work-dir') + 1]
        last = osp.join(work_dir, 'epoch_10.pth')
        with open(last, 'w') as f:
            f.write('weights')
        with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
            f.write(last)
        stdout.write('child log\n')
        return SimpleNamespace(returncode=int('fail' in command[3]))

    monkeypatch.setattr(pretrain.subprocess, 'run', fake_run)
    checkpoint = str(tmp_path / 'seed3.pth')
    config = 'pretrain.py'
    assert pretrain.pretrain(config, checkpoint, 3) == checkpoint
    assert commands[0][1:] == ['-m', 'provmm.benchmarks.pretrain', config,
                               '--work-dir', str(tmp_path / 'seed3_run'),
                               '--seed', '3']
    with open(checkpoint) as f:
        assert f.read() == 'weights'
    config = 'fail.py'
    with pytest.raises(RuntimeError, match='(?s)seed 3 failed.*child log'):
        pretrain.pretrain(config, checkpoint, 3)


def test_each_pretraining_config_has_its_own_per_seed_backbones(
        monkeypatch):
    assert pretrain.seed_checkpoint(3) == osp.join(
        'work_dirs', 'synth_wsol_pretrain', 'source_pretrained_seed3.pth')
    sat = osp.join('provmm', 'synth_wsol_sat_pretrain.py')
    assert pretrain.seed_checkpoint(3, sat) == osp.join(
        'work_dirs', 'synth_wsol_sat_pretrain', 'source_pretrained_seed3.pth')
    calls = []
    monkeypatch.setattr(wsol, 'pretrain_backbones',
                        lambda seeds, root, log, config: calls.append(
                            (seeds, config)))
    by_name = wsol.BENCHMARK.variants_by_name
    wsol.prepare([by_name['sat_cutmix_pg'], by_name['cutmix'],
                  by_name['sat']], [0, 1], None)
    assert calls == [([0, 1], osp.join('provmm', 'synth_wsol_pretrain.py')),
                     ([0, 1], sat)]


def test_the_tiny_vit_rows_load_their_own_seed_backbone(tmp_path,
                                                       monkeypatch):
    from provmm.benchmarks.runner import build_config
    monkeypatch.chdir(tmp_path)  # configs come from the repository
    by_name = wsol.BENCHMARK.variants_by_name
    cfg = build_config(wsol.BENCHMARK, by_name['sat_cutmix_pg'], 2, 3, 'w',
                       alpha=0.3)
    assert cfg.model.backbone.init_cfg.checkpoint == osp.join(
        'work_dirs', 'synth_wsol_sat_pretrain', 'source_pretrained_seed2.pth')
    cfg = build_config(wsol.BENCHMARK, by_name['cutmix_advcam'], 2, 3, 'w')
    assert cfg.model.localization.type == 'AdvCAM'
