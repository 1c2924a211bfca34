"""Generating a synthetic task is announced in one line with a progress
bar; a cached task prints nothing."""
import sys

from provmm.synthetic import (BackgroundEditSpec, SyntheticSpuriousSpec,
                              SyntheticWSOLSpec, ensure_background_edits,
                              ensure_synthetic_spurious,
                              ensure_synthetic_wsol)
from provmm.synthetic.progress import announce


def _lines(capsys):
    return capsys.readouterr().out.split('\n')


def test_wsol_generation_prints_one_line_and_a_bar(tmp_path, capsys):
    root = str(tmp_path / 'synth')
    spec = SyntheticWSOLSpec(num_per_class=dict(train=1, val=1, test=1))
    ensure_synthetic_wsol(root, spec)
    line, bar, end = _lines(capsys)
    assert line == (f'Generating the synthetic WSOL benchmark under {root} '
                    '(first use, 24 images)...')
    assert bar.endswith('s') and '24/24' in bar and end == ''
    ensure_synthetic_wsol(root, spec)
    assert capsys.readouterr().out == ''
    source = SyntheticWSOLSpec(task='source', background_bias=None,
                               num_per_class=dict(train=1))
    ensure_synthetic_wsol(str(tmp_path / 'source'), source)
    assert _lines(capsys)[0].startswith(
        'Generating the synthetic WSOL source task under ')


def test_spurious_task_and_edits_are_announced(tmp_path, capsys):
    root = str(tmp_path / 'spurious')
    spec = SyntheticSpuriousSpec(num_images=dict(train=20, val=4, test=4))
    ensure_synthetic_spurious(root, spec)
    line, bar, _ = _lines(capsys)
    assert line == ('Generating the synthetic spurious-correlation benchmark'
                    f' under {root} (first use, 28 images)...')
    assert '28/28' in bar
    folder = ensure_background_edits(root, spec,
                                     BackgroundEditSpec(fraction=0.1))
    line, bar, _ = _lines(capsys)
    assert line == ('Generating 2 background edits of the synthetic '
                    f'spurious task under {folder} (first use)...')
    assert '2/2' in bar
    ensure_synthetic_spurious(root, spec)
    assert capsys.readouterr().out == ''


def test_the_bar_is_redrawn_a_bounded_number_of_times(capsys):
    with announce('Working...', 1000) as progress:
        for _ in range(1000):
            progress.update()
    line, bar, end = _lines(capsys)
    assert line == 'Working...' and end == ''
    assert bar.count('\r') == 50 and '1000/1000' in bar


def test_without_mmengine_only_the_line_is_printed(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'mmengine.utils', None)
    with announce('Working...', 3) as progress:
        for _ in range(3):
            progress.update()
    assert capsys.readouterr().out == 'Working...\n'
