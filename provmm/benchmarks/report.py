"""A benchmark's report: markdown table, PNG plot and the markdown file
around them (hand-written introduction and notes included), the stale runs
it reuses and the environment its runs were made in.

Every table has a paired column: the mean ± std over the seeds of each
run's difference to the reference variant's run of the same seed (the
benchmark's own, or one added by :func:`table_columns`); conclusions are
drawn from it (docs/benchmarks/reproducibility.md says why).
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from provmm.benchmarks.cached_runs import markdown_table, mean_std
from provmm.benchmarks.paths import REPO_ROOT
from provmm.benchmarks.environment import environment_section
from provmm.benchmarks.runner import (Benchmark, Column, distinct_runs,
                                      total_run_seconds)

STALE_MARK = ' †'
DIVERGED_MARK = ' ‡'


@dataclass
class Section:
    """A report section besides the runs, with an optional plot panel."""
    markdown: str
    draw: Optional[Callable] = None  # draw(matplotlib axes)


def column_value(column: Column, run: dict,
                 reference: Optional[Dict[int, dict]] = None
                 ) -> Optional[float]:
    """``column``'s value of one run; None for a diverged run or where the
    reference run of its seed is missing or diverged."""
    if run.get('diverged'):
        return None
    if column.versus_reference is None:
        return column.value(run)
    other = (reference or {}).get(run['seed'])
    if other is None or other.get('diverged'):
        return None
    return column.versus_reference(run, other)


def paired_delta(runs: List[dict], reference: Optional[List[dict]],
                 value: Callable[[dict], float], scale: float = 1.0,
                 digits: int = 1) -> str:
    """``mean ± std`` of ``value(run) - value(reference run of the same
    seed)`` over the seeds both have (diverged runs left out); ``'–'``
    without any."""
    if not reference:
        return '–'
    by_seed = {r['seed']: value(r) for r in reference
               if not r.get('diverged')}
    deltas = [value(r) - by_seed[r['seed']] for r in runs
              if r['seed'] in by_seed and not r.get('diverged')]
    return mean_std(deltas, scale, digits) if deltas else '–'


def cell(column: Column, runs: List[dict],
         reference: Optional[List[dict]] = None) -> str:
    """The table cell of ``column`` over the runs of one row; a mean over
    fewer runs than the row has says over how many (``(k/n)``)."""
    if column.paired:
        return paired_delta(runs, reference, column.value, column.scale,
                            column.digits)
    by_seed = {r['seed']: r for r in reference or []}
    values = [column_value(column, r, by_seed) for r in runs]
    if column.per_seed:
        return ' / '.join('div.' if r.get('diverged') else
                          '–' if v is None else
                          f'{v * column.scale:.{column.digits}f}'
                          for r, v in zip(runs, values))
    text = mean_std(values, column.scale, column.digits)
    known = sum(v is not None for v in values)
    return text if known in (0, len(values)) else (
        f'{text} ({known}/{len(values)})')


def first_val_reaching(run: dict, reference: dict, key: str,
                       field: str) -> Optional[float]:
    """``field`` (``'epoch'`` or ``'train_s'``) of the first validation of
    ``run`` whose ``key`` reaches the best val ``key`` of ``reference``;
    None if none does (or the run has no per-epoch history)."""
    history = [h for h in run.get('val_history') or [] if field in h]
    target = max((h[key] for h in reference.get('val_history') or []),
                 default=None)
    if target is None:
        return None
    return next((h[field] for h in history if h[key] >= target), None)


def variant_alpha(results: Dict, bench: Benchmark,
                  name: str) -> Optional[float]:
    """The alpha a variant's runs used (None: not penalised)."""
    variant = bench.variants_by_name[name]
    if variant.retest_of is not None:
        return variant_alpha(results, bench, variant.retest_of)
    if not variant.penalised:
        return None
    return results['variant_alpha'].get(name, results['alpha'])


def reference_name(bench: Benchmark) -> str:
    """The variant of the paired columns: ``bench.reference``, else the
    first variant."""
    return bench.reference or bench.variants[0].name


def reaching_columns(bench: Benchmark) -> List[Column]:
    """Epochs and training seconds (validation excluded) until a run's val
    ``select_key`` first reaches the best val ``select_key`` of the
    reference run of its seed (benchmarks that validate every epoch)."""
    if not bench.validates_every_epoch:
        return []
    key, name = bench.select_key, reference_name(bench)

    def reaching(field):
        return lambda run, ref: first_val_reaching(run, ref, key, field)

    return [Column(f'epochs to {name}\'s best val', None, digits=1,
                   versus_reference=reaching('epoch')),
            Column(f'train s to {name}\'s best val', None, digits=0,
                   versus_reference=reaching('train_s'))]


def table_columns(bench: Benchmark) -> List[Column]:
    """``bench.columns``, plus (if none is paired) the paired difference of
    test ``select_key`` to the reference, after the last per-seed column
    (else after the first column), plus :func:`reaching_columns`."""
    columns = list(bench.columns) + reaching_columns(bench)
    if any(c.paired for c in columns):
        return columns
    key = bench.select_key
    paired = Column(f'Δ test {key} vs {reference_name(bench)}, same seed',
                    lambda run: run['test'].get(key), paired=True)
    per_seed = [i for i, c in enumerate(columns) if c.per_seed]
    at = per_seed[-1] + 1 if per_seed else 1
    return columns[:at] + [paired] + columns[at:]


def results_table(bench: Benchmark, results: Dict) -> str:
    """Markdown: every variant at its alpha, then (``grid_rows``) the runs
    of the alpha grids; rows with a stale run are marked ``†``."""
    by_name = bench.variants_by_name
    reference = results['variants'].get(reference_name(bench))
    columns = table_columns(bench)

    def row(label, alpha, runs):
        if any(r.get('stale') for r in runs):
            label += STALE_MARK
        if any(r.get('diverged') for r in runs):
            label += DIVERGED_MARK
        return ([label, '–' if alpha is None else f'{alpha:g}'] +
                [cell(c, runs, reference) for c in columns])

    rows = [row(by_name[name].label, variant_alpha(results, bench, name),
                runs) for name, runs in results['variants'].items()]
    if bench.grid_rows:
        grids = []
        if results['select_on'] is not None:
            grids.append((results['select_on'], results['alpha_search']))
        grids += list(results['variant_alpha_search'].items())
        for name, grid in grids:
            rows += [row(f'α grid: {by_name[name].label}', float(alpha), runs)
                     for alpha, runs in grid.items()]
    header = ['Variant', 'α'] + [c.header for c in columns]
    return markdown_table(header, rows)


def paired_note(bench: Benchmark) -> str:
    """What the paired columns are, in a sentence."""
    reference = bench.variants_by_name[reference_name(bench)].label
    return (f'Δ columns: mean ± std over the seeds of the difference to '
            f'"{reference}" on the same seed; variants are compared through '
            'them, not through the overlap of two rows\' mean ± std.')


def stale_note(runs: Sequence[dict]) -> str:
    """The stale runs reused (``--reuse-stale``) and why each is stale."""
    stale = [r for r in runs if r.get('stale')]
    if not stale:
        return ''
    lines = [f'- {r["variant"]} α={r["alpha"]} seed {r["seed"]}: '
             f'{r["stale"]}' for r in stale]
    return (f'{STALE_MARK.strip()} Rows with stale runs: {len(stale)} '
            'cached run(s) were reused although their config or code '
            'differs from this command\'s (`--reuse-stale`):\n\n' +
            '\n'.join(lines))


def diverged_note(runs: Sequence[dict]) -> str:
    """The runs a non-finite loss stopped; their rows' means leave them
    out."""
    diverged = [r for r in runs if r.get('diverged')]
    if not diverged:
        return ''
    lines = [f'- {r["variant"]} α={r["alpha"]} seed {r["seed"]}, epoch '
             f'{r["diverged_epoch"] + 1}: {r["diverged"]}' for r in diverged]
    return (f'{DIVERGED_MARK.strip()} Rows with diverged runs: '
            f'{len(diverged)} run(s) were stopped by a non-finite loss; '
            'they have no metrics, the means of their rows leave them out '
            '("div." per seed), and an α with one never wins its search:'
            '\n\n' + '\n'.join(lines))


def alpha_note(bench: Benchmark, results: Dict) -> str:
    """How alpha was chosen, in a sentence."""
    how = f'on validation {bench.select_key} ' + (
        '(first seed)' if bench.alpha_on_first_seed else
        '(mean over the seeds)')
    where = ' (its runs are listed at the bottom)' if bench.grid_rows else ''
    own = ', '.join(f'"{n}"' for n in results['variant_alpha'])
    if results['alpha'] is not None:
        note = (f'α = {results["alpha"]:g} was chosen {how} of '
                f'"{results["select_on"]}" from the grid{where}; every '
                'penalised variant uses it')
        if own:
            note += (f' except {own}, each choosing its own α the same way '
                     'from its own grid')
        return note + '.'
    if own:
        return (f'α of every penalised variant ({own}) was chosen {how} '
                f'from its grid{where}.')
    return ''


def plot_results(bench: Benchmark, results: Dict, path: str,
                 section: Optional[Section] = None) -> None:
    """Horizontal bars per panel (mean ± std over seeds, seeds as dots),
    plus the section's panel."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(results['variants'])
    labels = [bench.variants_by_name[n].label for n in names]
    extra = section is not None and section.draw is not None
    ncols = len(bench.panels) + extra
    fig, axes = plt.subplots(
        1, ncols, squeeze=False,
        figsize=(3.8 * ncols + 3, max(4.8, 0.45 * len(names) + 2.2)))
    axes = axes[0]
    ys = np.arange(len(names))
    for i, (ax, panel) in enumerate(zip(axes, bench.panels)):
        values = [[v for v in (panel.value(r) for r in results['variants'][n]
                               if not r.get('diverged'))
                   if v is not None] for n in names]
        ax.barh(ys, [np.mean(v) if v else np.nan for v in values],
                xerr=[np.std(v) if v else np.nan for v in values],
                color='tab:blue', alpha=0.7)
        for y, v in zip(ys, values):
            ax.plot(v, [y] * len(v), 'k.', ms=4)
        if panel.xlim is not None:
            ax.set_xlim(*panel.xlim)
        ax.set_title(panel.title)
        ax.grid(axis='x', alpha=0.3)
        ax.set_yticks(ys)
        ax.set_yticklabels(labels if i == 0 else [])
        ax.invert_yaxis()
    if extra:
        section.draw(axes[-1])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_part(path: str) -> str:
    """A hand-written part of a report (``.intro.md``, ``.notes.md``) and a
    blank line, or '' when there is none."""
    if not osp.isfile(path):
        return ''
    with open(path) as f:
        return f.read().strip() + '\n\n'


def write_report(bench: Benchmark, results: Dict, report: str, command: str,
                 section: Optional[Section] = None) -> str:
    """Write ``<report>.md`` and ``<report>.png``; return the table.

    Hand-written parts: ``docs/benchmarks/<name>.intro.md`` (the task and
    the columns) before the table, ``<report>.notes.md`` (what the numbers
    show) after it; the "Environment" block closes the report.
    """
    os.makedirs(osp.dirname(report) or '.', exist_ok=True)
    plot_results(bench, results, report + '.png', section)
    table = results_table(bench, results)
    runs = distinct_runs(results)
    stale = stale_note(runs)
    diverged = diverged_note(runs)
    intro = read_part(osp.join(REPO_ROOT, 'docs', 'benchmarks',
                           f'{bench.name}.intro.md'))
    note = alpha_note(bench, results)
    hours = total_run_seconds(results) / 3600
    text = (f'# {bench.title}\n\n'
            f'`{command}` — {len(results["seeds"])} seed(s), '
            f'{results["epochs"]} epochs, {torch.get_num_threads()} CPU '
            f'thread(s), {hours:.2f} h of runs in all (the wall column is '
            'per run, on a shared machine).\n\n' + intro +
            (note + '\n\n' if note else '') + table + '\n\n' +
            paired_note(bench) + '\n\n' +
            (stale + '\n\n' if stale else '') +
            (diverged + '\n\n' if diverged else '') +
            (section.markdown.strip() + '\n\n' if section else '') +
            f'![{bench.name}]({osp.basename(report)}.png)\n\n' +
            read_part(report + '.notes.md') + environment_section(runs))
    with open(report + '.md', 'w') as f:
        f.write(text.rstrip() + '\n')
    return table
