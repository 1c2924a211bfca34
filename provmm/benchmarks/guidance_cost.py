"""Cost of provenance gradient guidance: step time and peak memory.

Compares full training steps (data preprocessor with CutMix, forward, loss,
backward, SGD update through ``model.train_step``) of

- ``plain``: mmpretrain's ``ImageClassifier`` with ``ClsDataPreprocessor`` and
  ``CutMix`` (the standard step, nothing of provmm in it),
- ``soft``: CutMix + alpha * L_PG, Eq. 9 (two input gradients),
- ``hard``: CutMix + alpha * L_PG, Eq. 10 (one input gradient),
- optionally ``soft-pytorch`` / ``hard-pytorch``: the same with PyTorch's own
  double backward (``cheap_double_backward=False``),
- any guided variant with options of ``ProvenanceGradientLoss`` after
  commas, e.g. ``soft,every_n_iters=4``, ``soft,subset_ratio=0.25`` or
  ``hard,bn_statistics=detached`` (:func:`parse_variant`). A variant with
  ``every_n_iters=k`` runs ``k`` consecutive steps per round (MessageHub
  ``iter`` 0 .. k-1, one guided) and reports their mean: the amortised step.

With ``amp=True`` (CUDA only) every variant runs under mmengine's
``AmpOptimWrapper`` (``torch.autocast`` float16 and a loss scaler; the
provenance loss keeps its reductions in FP32) and the steps whose logged
values are not finite are counted.

Time: after warm-up, every round runs one step of each variant (the order
rotates from round to round), so load from other processes hits all variants
alike; the ratio to ``plain`` is taken within each round and its median is
reported, next to the median wall-clock and CPU time (``process_time``, which
load does not inflate; it counts every thread of the process). With
``steady_allocator`` glibc keeps freed memory (no trimming, no ``mmap`` below
32 MiB): page faults then no longer vary from step to step, which otherwise
moves the ratios by about +-0.1 between runs.

Memory, each variant in a fresh process: the peak resident memory of the
whole process (``VmHWM``) and what training adds to it (peak during the
steps minus the resident memory after building the model: gradients,
optimizer state, activations, the double-backprop graph). glibc is told to
return freed blocks at once (``MALLOC_MMAP_THRESHOLD_``) so that the resident
memory follows the live tensors. ``parameters + added`` is the CPU analogue
of ``torch.cuda.max_memory_allocated`` (what the "guided peak / plain peak"
target compares); on CUDA that function is used.
"""
import ast
import copy
import ctypes
import multiprocessing
import os
import statistics
import time
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import MessageHub
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.structures import DataSample

from provmm.registry import MODELS

VARIANTS = ('plain', 'soft', 'hard')
PYTORCH_VARIANTS = ('soft-pytorch', 'hard-pytorch')
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
# glibc: blocks >= 64 KiB are mmap-ed and unmapped when freed (no caching).
EXACT_RSS_ENV = {'MALLOC_MMAP_THRESHOLD_': '65536',
                 'MALLOC_TRIM_THRESHOLD_': '0'}


def parse_variant(variant: str) -> Tuple[str, bool, dict]:
    """The mode, whether the cheap double backward is used, and options of
    ``ProvenanceGradientLoss`` (values as Python literals, else str):
    ``'soft-pytorch,every_n_iters=4'`` -> ``('soft', False,
    {'every_n_iters': 4})``."""
    name, *options = variant.split(',')
    mode, _, kernels = name.partition('-')
    if mode not in ('soft', 'hard') or kernels not in ('', 'pytorch'):
        raise ValueError(f'unknown variant {variant!r}; expected one of '
                         f'{VARIANTS + PYTORCH_VARIANTS}, optionally followed '
                         'by ",key=value" options of ProvenanceGradientLoss')
    loss_options = {}
    for option in options:
        key, sep, value = option.partition('=')
        if not sep:
            raise ValueError(f'variant {variant!r}: option {option!r} is not '
                             'key=value')
        try:
            loss_options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            loss_options[key] = value
    return mode, kernels != 'pytorch', loss_options


def benchmark_variants(modes: Sequence[str] = ('soft', 'hard'),
                       compare_pytorch: bool = False,
                       **loss_options) -> Tuple[str, ...]:
    """``plain``, full guidance in each mode (and with PyTorch's double
    backward), then each mode with the ``loss_options`` that are not
    ``None``: ``benchmark_variants(('soft', ), every_n_iters=4)`` is
    ``('plain', 'soft', 'soft,every_n_iters=4')``."""
    variants = ('plain', ) + tuple(modes)
    if compare_pytorch:
        variants += tuple(f'{mode}-pytorch' for mode in modes)
    options = ''.join(f',{key}={value}'
                      for key, value in loss_options.items()
                      if value is not None)
    if options:
        variants += tuple(mode + options for mode in modes)
    return variants


def steps_per_round(variant: str) -> int:
    """Consecutive steps of one round: ``every_n_iters`` of the variant."""
    if variant == 'plain':
        return 1
    return parse_variant(variant)[2].get('every_n_iters', 1)


def build_benchmark_model(backbone: dict, variant: str, num_classes: int,
                          in_channels: int, target: str = 'logit'):
    """The model of one variant (see the module docstring)."""
    neck = MODELS.build(dict(type='GlobalAveragePooling'))
    head = dict(type='LinearClsHead', num_classes=num_classes,
                in_channels=in_channels,
                loss=dict(type='CrossEntropyLoss', use_soft=True))
    if variant == 'plain':
        from mmpretrain.models import ImageClassifier
        return ImageClassifier(
            backbone=MODELS.build(copy.deepcopy(backbone)), neck=neck,
            head=MODELS.build(head),
            data_preprocessor=dict(
                type='ClsDataPreprocessor', num_classes=num_classes,
                mean=MEAN, std=STD,
                batch_augments=dict(
                    augments=[dict(type='CutMix', alpha=1.0)])))
    mode, cheap, loss_options = parse_variant(variant)
    return MODELS.build(
        dict(type='ProvenanceImageClassifier',
             backbone=copy.deepcopy(backbone), neck=neck, head=head,
             provenance_loss=dict(type='ProvenanceGradientLoss',
                                  loss_weight=0.05, mode=mode,
                                  target=target, **loss_options),
             cheap_double_backward=cheap,
             data_preprocessor=dict(
                 type='ProvenanceMixBatchAugment', num_classes=num_classes,
                 mean=MEAN, std=STD,
                 augments=[dict(type='ProvenanceCutMix', alpha=1.0)],
                 probs=[1.0])))


def random_batch(batch_size: int, size: int, num_classes: int,
                 seed: int = 0) -> dict:
    """uint8 images and labels in the dataloader's (pseudo-collate) format."""
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), generator=generator,
                            dtype=torch.uint8) for _ in range(batch_size)]
    labels = torch.randint(0, num_classes, (batch_size, ), generator=generator)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return dict(inputs=inputs, data_samples=samples)


def benchmark_guidance(backbone: dict,
                       in_channels: int,
                       size: int = 64,
                       batch_size: int = 16,
                       num_classes: int = 200,
                       rounds: int = 20,
                       warmup: int = 3,
                       device: str = 'cpu',
                       target: str = 'logit',
                       variants: Sequence[str] = VARIANTS,
                       memory: bool = True,
                       steady_allocator: bool = False,
                       amp: bool = False
                       ) -> Dict[str, Dict[str, float]]:
    """Step time and peak memory of each variant (``variants[0]`` is the
    reference of the ratios; ``plain`` by default).

    Returns:
        dict: ``{variant: {'wall': s, 'cpu': s, 'wall_ratio': x,
        'cpu_ratio': x, 'nonfinite': steps, 'process_peak': bytes,
        'added': bytes, 'training_peak': bytes}}``; times are medians over
        the rounds (per step: a round of ``every_n_iters`` steps is divided
        by their number), ratios medians of the per-round ratios; memory
        keys are absent with ``memory=False``; ``nonfinite`` counts the
        timed steps with a non-finite logged value.
    """
    check_device(device, amp)
    if steady_allocator:
        keep_freed_memory()
    models, wrappers = {}, {}
    wrapper_type = AmpOptimWrapper if amp else OptimWrapper
    for variant in variants:
        torch.manual_seed(0)
        models[variant] = build_benchmark_model(
            backbone, variant, num_classes, in_channels,
            target).to(device).train()
        wrappers[variant] = wrapper_type(optimizer=torch.optim.SGD(
            models[variant].parameters(), lr=1e-3, momentum=0.9))
    message_hub = MessageHub.get_instance('provmm_guidance_benchmark')
    times = {variant: [] for variant in variants}
    nonfinite = dict.fromkeys(variants, 0)
    for step in range(warmup + rounds):
        data = random_batch(batch_size, size, num_classes, seed=step)
        shift = step % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            wall = cpu = 0.0
            count = steps_per_round(variant)
            for cur_iter in range(count):
                message_hub.update_info('iter', cur_iter)
                log_vars, elapsed = timed_train_step(
                    models[variant], wrappers[variant], copy.deepcopy(data),
                    device)
                wall, cpu = wall + elapsed[0], cpu + elapsed[1]
                if step >= warmup and not all(
                        torch.isfinite(value).all()
                        for value in log_vars.values()):
                    nonfinite[variant] += 1
            if step >= warmup:
                times[variant].append((wall / count, cpu / count))
    message_hub.update_info('iter', 0)
    results = median_times(times)
    for variant in variants:
        results[variant]['nonfinite'] = nonfinite[variant]
    for variant in variants:
        if memory:
            results[variant].update(
                _peak_memory(models[variant], wrappers[variant], backbone,
                             in_channels, variant, size, batch_size,
                             num_classes, target, device))
    return results


def format_results(results: Dict[str, Dict[str, float]],
                   title: Optional[str] = None) -> str:
    """A markdown table with ratios to the first variant."""
    reference = next(iter(results.values()))
    lines: List[str] = [title] if title else []
    lines += ['| variant | wall (s) | x plain (per round) | CPU (s) | '
              'x plain (per round) |',
              '|---|---|---|---|---|']
    for variant, result in results.items():
        lines.append(f"| {variant} | {result['wall']:.3f} | "
                     f"{result['wall_ratio']:.2f} | {result['cpu']:.3f} | "
                     f"{result['cpu_ratio']:.2f} |")
    if any(result.get('nonfinite') for result in results.values()):
        lines += ['', 'non-finite steps: ' + ', '.join(
            f"{variant} {result['nonfinite']}"
            for variant, result in results.items())]
    if 'added' not in reference:
        return '\n'.join(lines)
    lines += ['', '| variant | training peak = params + added (MiB) | '
              'x plain | added by training (MiB) | x plain | '
              'whole-process peak (MiB) | x plain |',
              '|---|---|---|---|---|---|---|']
    for variant, result in results.items():
        cells = [f'{result[key] / 2**20:.1f} | '
                 f'{result[key] / reference[key]:.2f}'
                 for key in ('training_peak', 'added', 'process_peak')]
        lines.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def keep_freed_memory() -> None:
    """glibc: serve blocks below 32 MiB from the heap and never trim it."""
    libc = ctypes.CDLL('libc.so.6')
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    for option, value in ((m_mmap_threshold, 32 * 2**20),
                          (m_trim_threshold, 2**31 - 1),
                          (m_top_pad, 256 * 2**20)):
        if libc.mallopt(option, value) != 1:
            raise RuntimeError(f'mallopt({option}, {value}) failed')


def median_times(times: Dict[str, List[Tuple[float, float]]]
                 ) -> Dict[str, Dict[str, float]]:
    """``{variant: [(wall, cpu) per round]}`` -> medians and the medians of
    the per-round ratios to the first variant (``wall``, ``cpu``,
    ``wall_ratio``, ``cpu_ratio``)."""
    reference = next(iter(times.values()))
    results = {}
    for variant, rounds in times.items():
        walls = [wall for wall, _ in rounds]
        cpus = [cpu for _, cpu in rounds]
        results[variant] = dict(
            wall=statistics.median(walls), cpu=statistics.median(cpus),
            wall_ratio=statistics.median(
                wall / ref[0] for wall, ref in zip(walls, reference)),
            cpu_ratio=statistics.median(
                cpu / ref[1] for cpu, ref in zip(cpus, reference)))
    return results


def timed_step(model, optim_wrapper, data, device) -> Tuple[float, float]:
    """Wall and CPU seconds of one ``train_step``."""
    return timed_train_step(model, optim_wrapper, data, device)[1]


def timed_train_step(model, optim_wrapper, data, device
                     ) -> Tuple[Dict[str, torch.Tensor], Tuple[float, float]]:
    """The logged values and ``(wall, CPU)`` seconds of one
    ``train_step``."""
    _synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    log_vars = model.train_step(data, optim_wrapper)
    _synchronize(device)
    return log_vars, (time.perf_counter() - wall, time.process_time() - cpu)


def check_device(device: str, amp: bool = False) -> None:
    """Refuse a CUDA run without a GPU, and AMP off CUDA."""
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'device {device!r} asked for, but torch sees no '
                           'CUDA GPU on this machine; use device cpu')
    if amp and not device.startswith('cuda'):
        raise RuntimeError('amp=True times torch.autocast for CUDA and needs '
                           f'a CUDA device, got device {device!r}')


def _peak_memory(model, optim_wrapper, backbone, in_channels, variant, size,
                 batch_size, num_classes, target, device) -> Dict[str, int]:
    if device.startswith('cuda'):
        data = random_batch(batch_size, size, num_classes, seed=0)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        model.train_step(data, optim_wrapper)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return dict(process_peak=peak, added=peak, training_peak=peak)
    # A fresh process per variant: a process's peak covers all it has run.
    with environment_variables(EXACT_RSS_ENV), multiprocessing.get_context(
            'spawn').Pool(1) as pool:
        return pool.apply(cpu_training_memory,
                          (backbone, in_channels, variant, size, batch_size,
                           num_classes, target))


def cpu_training_memory(backbone: dict, in_channels: int, variant: str,
                        size: int, batch_size: int, num_classes: int,
                        target: str = 'logit',
                        steps: int = 3) -> Dict[str, int]:
    """Peak resident memory of CPU training (bytes), measured on Linux in a
    fresh process: ``process_peak`` (``VmHWM``), ``added`` (peak during
    ``steps`` steps minus the resident memory after building the model; the
    peak is reset through ``/proc/self/clear_refs``) and ``training_peak``
    (parameter and buffer bytes + ``added``)."""
    torch.manual_seed(0)
    model = build_benchmark_model(backbone, variant, num_classes, in_channels,
                                  target).train()
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    batches = [random_batch(batch_size, size, num_classes, seed=step)
               for step in range(steps)]
    return steps_peak_memory(model, optim_wrapper, batches)


def steps_peak_memory(model, optim_wrapper, batches) -> Dict[str, int]:
    """``process_peak``, ``added`` and ``training_peak`` (bytes, see
    :func:`cpu_training_memory`) of ``train_step`` on each of ``batches``;
    on Linux, the resident memory of this process."""
    process_peak = proc_status_bytes('VmHWM')
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write('5')  # reset the peak RSS (VmHWM) to the current RSS
    baseline = proc_status_bytes('VmRSS')
    for data in batches:
        model.train_step(data, optim_wrapper)
    peak = proc_status_bytes('VmHWM')
    static = sum(t.numel() * t.element_size()
                 for t in (*model.parameters(), *model.buffers()))
    # The kernel syncs each thread's RSS counter lazily (up to 64 pages), so
    # steps that add nothing can read a few pages below the baseline.
    added = max(0, peak - baseline)
    return dict(process_peak=max(process_peak, peak), added=added,
                training_peak=static + added)


@contextmanager
def environment_variables(values: Dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


def proc_status_bytes(key: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{key} not found in /proc/self/status')


def _synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
