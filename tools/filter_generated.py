"""Hard-cosine filtration of generated images (DiffCoRe-Mix, Eq. 5).

Keeps a generated image iff the cosine similarity of its embedding to that of
its real source exceeds tau_y, the mean cosine similarity of pairs of real
images of its class. Examples::

    # embeddings from a registered backbone (e.g. a CLIP ViT) and its weights
    python tools/filter_generated.py --manifest data/generated.csv \\
        --config my_clip_vit.py --checkpoint clip_vit.pth --out data/kept.csv

    # precomputed embeddings (NPZ with paths (N,) and embeddings (N, D))
    python tools/filter_generated.py --manifest data/generated.csv \\
        --embeddings data/emb.npz --out data/kept.csv

See ``provmm/data_prep/filter_generated.py`` for the formats. No output
(--out, --report, --save-embeddings) may replace an input.
"""
import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--manifest', required=True,
                        help='CSV with columns original,generated,label, '
                        'paths relative to its folder; a row with an empty '
                        'generated lists a real image for tau only')
    parser.add_argument('--out', required=True, help='kept list CSV')
    parser.add_argument('--report', default=None,
                        help='JSON report (default: <out>_report.json)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--embeddings', help='NPZ with arrays paths (N,), '
                        "relative to the manifest's folder, and embeddings "
                        '(N, D)')
    source.add_argument('--config', help='model config whose model and '
                        'test pipeline embed the images')
    parser.add_argument('--checkpoint', default=None,
                        help='weights for --config (without them the '
                        'embeddings come from untrained weights)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--save-embeddings', default=None,
                        help='write the computed embeddings to this NPZ, '
                        'reusable with --embeddings')
    parser.add_argument('--fallback-tau', type=float, default=None,
                        help='threshold for classes with a single real '
                        'image (default: such classes are an error)')
    args = parser.parse_args(argv)
    if args.save_embeddings and args.embeddings:
        parser.error('--save-embeddings needs --config: --embeddings are '
                     'already saved')
    return args


def main(argv=None):
    args = parse_args(argv)
    from provmm.data_prep.filter_generated import (filter_generated,
                                                  table_embedder)
    from provmm.data_prep.image_embeddings import (ImageEmbedder,
                                                  load_embedding_table,
                                                  save_embedding_table)
    root = osp.dirname(osp.abspath(args.manifest))
    inputs = [(path, option) for option, path in (
        ('--embeddings', args.embeddings), ('--config', args.config),
        ('--checkpoint', args.checkpoint)) if path]
    outputs = [(args.save_embeddings, '--save-embeddings')] if (
        args.save_embeddings) else []
    try:
        if args.embeddings:
            embed = table_embedder(
                load_embedding_table(args.embeddings, root), args.embeddings)
            source = osp.abspath(args.embeddings)
        else:
            if args.checkpoint is None:
                print('warning: no --checkpoint, embedding with untrained '
                      'weights', file=sys.stderr)
            embedder = ImageEmbedder(args.config, args.checkpoint,
                                     args.device)
            computed = {}

            def embed(paths):
                todo = [p for p in paths if p not in computed]
                computed.update(zip(todo, embedder(todo, args.batch_size)))
                return [computed[p] for p in paths]

            source = f'{osp.abspath(args.config)} + {args.checkpoint}'
        report = filter_generated(args.manifest, args.out, embed,
                                  report=args.report,
                                  fallback_tau=args.fallback_tau,
                                  embeddings_source=source,
                                  other_inputs=inputs, other_outputs=outputs)
        if args.save_embeddings and not args.embeddings:
            save_embedding_table(args.save_embeddings, list(computed),
                                 list(computed.values()), root)
    except (OSError, ValueError) as e:
        sys.exit(f'error: {e}')
    print(json.dumps({k: report[k] for k in ('num_pairs', 'kept', 'dropped')}))
    print(f'kept list: {report["kept_list"]}\nreport: {report["report"]}')
    if args.save_embeddings:
        print(f'embeddings: {osp.abspath(args.save_embeddings)}')


if __name__ == '__main__':
    main()
