"""Quality report of a set of provenance masks from image edits.

Input: one record per pair, a dict with ``line`` (manifest line),
``edited``, and either ``degenerate`` (the reason no mask was made) or
``mask``, ``area_fraction`` (target pixels / all pixels) and ``iou`` (against
the pair's ``gt_mask``, ``None`` without one).
"""
import json
from typing import Dict, List, Optional, Sequence

import numpy as np

AREA_BINS = np.linspace(0., 1., 21)  # 5 % wide
PERCENTILES = (5, 25, 50, 75, 95)


def _distribution(values: Sequence[float]) -> Optional[Dict]:
    if len(values) == 0:
        return None
    values = np.asarray(values, dtype=np.float64)
    stats = dict(mean=values.mean(), std=values.std(), min=values.min(),
                 max=values.max())
    stats.update({f'p{q}': np.percentile(values, q) for q in PERCENTILES})
    counts, _ = np.histogram(values, bins=AREA_BINS)
    stats = {k: round(float(v), 4) for k, v in stats.items()}
    stats['histogram'] = dict(bin_edges=[round(float(e), 2)
                                         for e in AREA_BINS],
                              counts=counts.tolist())
    return stats


def summarize_masks(records: Sequence[Dict],
                    settings: Optional[Dict] = None) -> Dict:
    """Report dict: counts, area-fraction and IoU distributions, the
    degenerate pairs, the settings and the per-pair records."""
    made = [r for r in records if not r.get('degenerate')]
    degenerate = [dict(line=r['line'], edited=r['edited'],
                       reason=r['degenerate'])
                  for r in records if r.get('degenerate')]
    ious = [r['iou'] for r in made if r.get('iou') is not None]
    return dict(
        num_pairs=len(records),
        num_masks=len(made),
        num_degenerate=len(degenerate),
        settings=dict(settings or {}),
        area_fraction=_distribution([r['area_fraction'] for r in made]),
        iou=_distribution(ious),
        num_pairs_with_gt=len(ious),
        degenerate=degenerate,
        pairs=[dict(r) for r in records],
    )


def format_mask_report(summary: Dict, max_listed: int = 20) -> str:
    """Human-readable lines of :func:`summarize_masks`' report."""
    lines = [f'provenance masks: {summary["num_masks"]} of '
             f'{summary["num_pairs"]} pairs, {summary["num_degenerate"]} '
             'degenerate']

    def describe(name: str, stats: Optional[Dict]) -> None:
        if stats is None:
            return
        lines.append(
            f'{name}: mean {stats["mean"]:.3f} std {stats["std"]:.3f} '
            f'min {stats["min"]:.3f} p5 {stats["p5"]:.3f} '
            f'median {stats["p50"]:.3f} p95 {stats["p95"]:.3f} '
            f'max {stats["max"]:.3f}')

    describe('target area fraction', summary['area_fraction'])
    if summary['iou'] is not None:
        describe(f'IoU vs gt_mask ({summary["num_pairs_with_gt"]} pairs)',
                 summary['iou'])
    for item in summary['degenerate'][:max_listed]:
        lines.append(f'  degenerate (line {item["line"]}) {item["edited"]}: '
                     f'{item["reason"]}')
    if summary['num_degenerate'] > max_listed:
        lines.append(f'  ... {summary["num_degenerate"] - max_listed} more '
                     'degenerate pairs in the JSON report')
    return '\n'.join(lines)


def save_mask_report(summary: Dict, json_path: str,
                     histogram_path: str) -> None:
    """Write the report as JSON and a PNG histogram (area, and IoU when
    there is ground truth)."""
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    # Figure without pyplot: Agg rendering, no global backend state
    from matplotlib.figure import Figure
    panels: List = [('target area fraction', summary['area_fraction'])]
    if summary['iou'] is not None:
        panels.append(('IoU vs gt_mask', summary['iou']))
    fig = Figure(figsize=(5 * len(panels), 3.5))
    for k, (title, stats) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        if stats is not None:
            edges = stats['histogram']['bin_edges']
            ax.stairs(stats['histogram']['counts'], edges, fill=True)
            ax.axvline(stats['mean'], color='k', linestyle='--',
                       label=f'mean {stats["mean"]:.3f}')
            ax.legend()
        ax.set_xlim(0, 1)
        ax.set_xlabel(title)
        ax.set_ylabel('pairs')
    fig.suptitle(f'{summary["num_masks"]} masks, '
                 f'{summary["num_degenerate"]} degenerate pairs')
    fig.tight_layout()
    fig.savefig(histogram_path, dpi=100)
