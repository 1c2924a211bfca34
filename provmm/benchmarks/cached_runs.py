"""What the built-in benchmarks share: one folder and one cached JSON result
per run, metric keys without their prefix, and mean ± std table cells."""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np


def run_dir(out_dir: str, variant: str, alpha: Optional[float],
            seed: int) -> str:
    """``<out_dir>/runs/<variant>/<alpha_A | no_alpha>/seed_<seed>``."""
    tag = f'alpha_{alpha:g}' if alpha is not None else 'no_alpha'
    return osp.join(out_dir, 'runs', variant, tag, f'seed_{seed}')


def load_cached_result(work_dir: str, epochs: int) -> Optional[dict]:
    """The run's ``result.json`` if it was trained for ``epochs``, else
    None (a run of another length is trained again)."""
    result_file = osp.join(work_dir, 'result.json')
    if not osp.isfile(result_file):
        return None
    with open(result_file) as f:
        cached = json.load(f)
    return cached if cached.get('epochs') == epochs else None


def save_result(work_dir: str, result: dict) -> None:
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2)


def strip_prefix(metrics: dict) -> dict:
    """``{'wsol/top1': 1.0}`` -> ``{'top1': 1.0}``."""
    return {k.split('/')[-1]: float(v) for k, v in metrics.items()}


def mean_std(values: Sequence[Optional[float]], scale: float = 1.0,
             digits: int = 1) -> str:
    """``'mean ± std'`` of the values that are not None, times ``scale``;
    ``'–'`` when there are none."""
    values = np.asarray([v for v in values if v is not None], float) * scale
    if len(values) == 0:
        return '–'
    return f'{values.mean():.{digits}f} ± {values.std():.{digits}f}'


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)
