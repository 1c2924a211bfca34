"""``tools/train.py`` on the built-in spurious-correlation benchmark."""
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_train_runs_two_guided_iterations_on_generated_data(tmp_path):
    data_root = str(tmp_path / 'synth_spurious')
    options = []
    for loader in ('train', 'val', 'test'):
        key = f'{loader}_dataloader.dataset'
        options += [f'{key}.data_root={data_root}',
                    f'{key}.generator.num_images.train=12',
                    f'{key}.generator.num_images.val=4',
                    f'{key}.generator.num_images.test=4']
    # 12 real + 4 edited images in batches of 8: two iterations
    options += ['train_dataloader.batch_size=8',
                'train_dataloader.dataset.edits.fraction=0.34',
                'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                'model.provenance_loss.warmup_iters=0',
                'default_hooks.logger.interval=1']
    work_dir = str(tmp_path / 'work')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, 'tools/train.py',
         'configs/provmm/synth_spurious_edits_pg.py', '--work-dir', work_dir,
         '--cfg-options', *options],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Epoch(train) [1][2/2]' in log
    assert 'loss_pg' in log and 'pg_ratio' in log
    assert 'group_accuracy/worst_group' in log
    edits = osp.join(data_root, 'edits')
    (edit_folder, ) = os.listdir(edits)
    assert osp.isfile(osp.join(edits, edit_folder, 'masks', 'otsu_plain',
                               'manifest.csv'))
