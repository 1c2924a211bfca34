"""tools/visualize_guidance.py run as a user runs it, on a tiny CutMix
classifier: the PNG grid, and the refusals."""
import os
import os.path as osp

import cv2
import pytest
from tiny_guidance_config import write_tiny_checkpoint, write_tiny_config
from tool_process import run_tool, run_tool_ok

from provmm.visualization.guidance_figure import figure_size, panel_titles

TOOL = 'tools/visualize_guidance.py'


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('tiny_guidance'))
    config = write_tiny_config(folder)
    return dict(folder=folder, config=config,
                plain=write_tiny_checkpoint(config,
                                            osp.join(folder, 'plain.pth'), 0),
                guided=write_tiny_checkpoint(
                    config, osp.join(folder, 'guided.pth'), 1))


@pytest.mark.parametrize('compare', [True, False])
def test_writes_one_png_of_images_times_panels(tiny, tmp_path, compare):
    out = str(tmp_path / 'figs' / 'guidance.png')
    args = [TOOL, tiny['config'], tiny['plain'], '--num-images', '3',
            '--out', out, '--seed', '1']
    if compare:
        args += ['--compare', tiny['guided']]
    log = run_tool_ok(args)
    assert f'Guidance figure written to {out}' in log
    names = ['plain', 'guided'] if compare else ['plain']
    columns = len(panel_titles('soft', names))
    assert columns == (10 if compare else 6)
    height, width = cv2.imread(out).shape[:2]
    assert (width, height) == figure_size(3, columns)
    assert os.listdir(tmp_path / 'figs') == ['guidance.png']  # no temp file


@pytest.mark.parametrize('which', ['config', 'plain'])
def test_refuses_to_overwrite_an_input(tiny, which):
    before = open(tiny[which], 'rb').read()
    out = run_tool([TOOL, tiny['config'], tiny['plain'], '--out',
                    tiny[which]])
    assert out.returncode != 0
    assert 'would overwrite the input' in out.stderr
    assert 'Traceback' not in out.stderr
    assert open(tiny[which], 'rb').read() == before


def test_missing_checkpoint_is_a_clear_error(tiny, tmp_path):
    missing = str(tmp_path / 'missing.pth')
    out_png = str(tmp_path / 'guidance.png')
    out = run_tool([TOOL, tiny['config'], tiny['plain'], '--compare',
                    missing, '--out', out_png])
    assert out.returncode != 0
    assert f'--compare {missing} does not exist' in out.stderr
    assert 'Traceback' not in out.stderr
    assert not osp.exists(out_png)
