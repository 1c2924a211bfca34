"""Step time and peak memory of plain CutMix vs. guided (soft, hard) steps.

Example (the CPU target: ResNet-18, 64 px, batch 16)::

    OMP_NUM_THREADS=1 python tools/benchmark_guidance.py --depth 18 --size 64 \
        --batch-size 16 --compare-pytorch

Amortised guidance (``plain``, full ``soft`` and ``soft`` every 4th step)::

    OMP_NUM_THREADS=1 python tools/benchmark_guidance.py --mode soft \
        --every-n-iters 4 --no-memory

See :mod:`provmm.benchmarks.guidance_cost` for what is measured.
"""
import argparse
import ast

import torch


from provmm.benchmarks.guidance_cost import (benchmark_guidance,
                                             benchmark_variants, check_device,
                                             format_results)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backbone', default='ResNet',
                        help='registered backbone type (default: ResNet)')
    parser.add_argument('--depth', type=int, default=18,
                        help='ResNet depth (default: 18)')
    parser.add_argument('--backbone-cfg', default=None,
                        help='python dict literal overriding the backbone, '
                        'e.g. "{\'type\': \'VGG16CAM\'}"')
    parser.add_argument('--in-channels', type=int, default=None,
                        help='head input channels (default: 512 for '
                        'ResNet-18/34, 2048 for deeper)')
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--num-classes', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=20,
                        help='timed rounds (one step of every variant each)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--compare-pytorch', action='store_true',
                        help='also time guided steps with PyTorch\'s own '
                        'double backward (cheap_double_backward=False)')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak-memory measurement')
    parser.add_argument('--steady-allocator', action='store_true',
                        help='glibc keeps freed memory while timing (steadier '
                        'ratios; see provmm.benchmarks.guidance_cost)')
    parser.add_argument('--target', default='logit',
                        choices=['logit', 'log_softmax', 'margin'])
    parser.add_argument('--device', default='cuda'
                        if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--mode', choices=['soft', 'hard'], default=None,
                        help='time only this guided mode (default: both)')
    parser.add_argument('--every-n-iters', type=int, default=None,
                        help='add the variant guided every n-th step '
                        '(amortised over n steps)')
    parser.add_argument('--subset-ratio', type=float, default=None,
                        help='add the variant that penalises this share of '
                        'the samples')
    parser.add_argument('--bn-statistics', choices=['batch', 'detached'],
                        default=None, help='add the variant with these '
                        'BatchNorm statistics in the guided forward')
    parser.add_argument('--amp', action='store_true',
                        help='torch.autocast float16 with a loss scaler '
                        '(CUDA only); counts non-finite steps')
    parser.add_argument('--variants', nargs='+', default=None,
                        help='explicit variants, e.g. plain soft '
                        '"soft,every_n_iters=4" (overrides the options above)')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.backbone_cfg:
        backbone = ast.literal_eval(args.backbone_cfg)
    else:
        backbone = dict(type=args.backbone, depth=args.depth)
    in_channels = args.in_channels or (512 if args.depth < 50 else 2048)
    try:
        check_device(args.device, args.amp)
    except RuntimeError as error:
        raise SystemExit(f'benchmark_guidance: {error}')
    results = benchmark_guidance(
        backbone, in_channels, size=args.size, batch_size=args.batch_size,
        num_classes=args.num_classes, rounds=args.rounds, warmup=args.warmup,
        device=args.device, target=args.target,
        variants=args.variants or benchmark_variants(
            (args.mode, ) if args.mode else ('soft', 'hard'),
            args.compare_pytorch, every_n_iters=args.every_n_iters,
            subset_ratio=args.subset_ratio,
            bn_statistics=args.bn_statistics),
        memory=not args.no_memory,
        steady_allocator=args.steady_allocator, amp=args.amp)
    title = (f'{backbone}, {args.size} px, batch {args.batch_size}, '
             f'{args.device}, {torch.get_num_threads()} threads, '
             + ('AMP float16, ' if args.amp else '') +
             f'target={args.target}, {args.rounds} interleaved rounds '
             f'(medians; ratios are medians of per-round ratios)'
             + (', steady allocator' if args.steady_allocator else ''))
    print(format_results(results, title))


if __name__ == '__main__':
    main()
