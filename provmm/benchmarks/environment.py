"""Where a benchmark run was made: git commit, CPU, thread count and library
versions, stored with each run and written into each report.

The same seed and commit can give other numbers on another CPU or with
another thread count (float reductions are split and summed in another
order), so a table that mixes environments says so.
"""
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from provmm.benchmarks.cached_runs import markdown_table
from provmm.benchmarks.paths import REPO_ROOT

LIBRARIES = ('torch', 'numpy', 'mmengine', 'mmpretrain')
# What two runs must share to be comparable bit for bit; the date is not.
ENVIRONMENT_KEYS = ('commit', 'dirty', 'cpu', 'cpu_capability', 'threads',
                    'python') + LIBRARIES


def _git(*args: str) -> Optional[str]:
    try:
        # --no-optional-locks: reading the status must not take the index
        # lock of a checkout that others are editing.
        out = subprocess.run(
            ['git', '--no-optional-locks', '-C', REPO_ROOT, *args],
            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model() -> str:
    """The ``model name`` of ``/proc/cpuinfo`` (Linux), else
    :func:`platform.processor`."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown'


def _version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> Dict:
    """This process's environment: ``commit`` and ``dirty`` (uncommitted
    changes; both None outside a git checkout), ``cpu``, ``cpu_count``,
    ``cpu_capability`` (the vector instructions torch's kernels use),
    ``threads`` (:func:`torch.get_num_threads`), ``OMP_NUM_THREADS``, the
    :data:`LIBRARIES` versions, ``python``, ``platform`` and ``date``
    (UTC)."""
    commit = _git('rev-parse', 'HEAD')
    status = _git('status', '--porcelain') if commit else None
    env = dict(commit=commit, dirty=None if status is None else bool(status),
               cpu=cpu_model(), cpu_count=os.cpu_count(),
               cpu_capability=torch.backends.cpu.get_cpu_capability(),
               threads=torch.get_num_threads(),
               OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS'))
    env.update({name: _version(name) for name in LIBRARIES})
    env.update(python=platform.python_version(), platform=sys.platform,
               date=datetime.datetime.now(datetime.timezone.utc).strftime(
                   '%Y-%m-%d %H:%M UTC'))
    return env


def set_num_threads(threads: int) -> None:
    """Use ``threads`` CPU threads: torch's intra-op pool here and, through
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, in child processes (which
    read them when they start)."""
    if threads < 1:
        raise ValueError(f'threads must be >= 1, got {threads}')
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(
        threads)
    torch.set_num_threads(threads)


def environment_signature(env: Optional[Dict]) -> Tuple:
    """The :data:`ENVIRONMENT_KEYS` of ``env`` (``()``: not recorded)."""
    if not env:
        return ()
    return tuple(env.get(k) for k in ENVIRONMENT_KEYS)


def _commit(env: Dict) -> str:
    if env.get('commit') is None:
        return 'unknown'
    return env['commit'][:10] + (' (dirty)' if env.get('dirty') else '')


def environment_lines(env: Dict) -> List[str]:
    """Markdown list items of one environment."""
    versions = ', '.join(f'{name} {env.get(name)}' for name in LIBRARIES)
    return [f'- commit: {_commit(env)}',
            f'- CPU: {env.get("cpu")} ({env.get("cpu_count")} cores '
            f'visible, {env.get("cpu_capability")}), {env.get("threads")} '
            'torch thread(s) '
            f'(OMP_NUM_THREADS={env.get("OMP_NUM_THREADS")})',
            f'- {versions}, python {env.get("python")}',
            f'- date: {env.get("date")}']


def runs_environments(runs: Sequence[Dict]) -> List[Tuple[Optional[Dict],
                                                          List[Dict]]]:
    """The runs grouped by :func:`environment_signature` of their
    ``environment`` (None: not recorded), in order of first appearance."""
    groups: Dict[Tuple, Tuple[Optional[Dict], List[Dict]]] = {}
    for run in runs:
        env = run.get('environment')
        groups.setdefault(environment_signature(env), (env, []))[1].append(
            run)
    return list(groups.values())


def environments_table(groups) -> str:
    """Markdown: one row per environment of :func:`runs_environments`."""
    header = ['commit', 'CPU', 'threads', 'torch', 'numpy', 'mmengine',
              'mmpretrain', 'python', 'runs', 'variants']
    rows = []
    for env, runs in groups:
        variants = ', '.join(dict.fromkeys(r['variant'] for r in runs))
        if env is None:
            rows.append(['not recorded (older run)'] + ['–'] * 7 +
                        [str(len(runs)), variants])
            continue
        rows.append([_commit(env),
                     f'{env.get("cpu")} ({env.get("cpu_capability")})',
                     str(env.get('threads'))] +
                    [str(env.get(k)) for k in LIBRARIES] +
                    [str(env.get('python')), str(len(runs)), variants])
    return markdown_table(header, rows)


def environment_section(runs: Sequence[Dict],
                        env: Optional[Dict] = None) -> str:
    """The report's "Environment" block: where the report was written and,
    when its runs were not all made in one environment, each of them."""
    env = env or environment()
    text = ('## Environment\n\nReport written in:\n\n' +
            '\n'.join(environment_lines(env)) + '\n\n')
    groups = runs_environments(runs)
    if len(groups) == 1:
        run_env = groups[0][0]
        if run_env is None:
            return text + (f'Where its {len(runs)} runs were made was not '
                           'recorded (they were cached before runs recorded '
                           'it).\n')
        if environment_signature(run_env) == environment_signature(env):
            return text + (f'All {len(runs)} runs were made in this '
                           'environment.\n')
        return text + (f'All {len(runs)} runs were made in one environment, '
                       'not this one:\n\n' +
                       '\n'.join(environment_lines(run_env)) + '\n')
    return text + (
        f'**The {len(runs)} runs of this report come from {len(groups)} '
        'environments** (another commit, CPU, thread count or library '
        'version can change the numbers of the same seed):\n\n' +
        environments_table(groups) + '\n')
