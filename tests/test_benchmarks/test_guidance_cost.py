"""The guidance benchmark runs every variant and reports per-round ratios
to the standard mmpretrain step (a smoke test on a tiny model, not timed)."""
from mmpretrain.models import ImageClassifier

from provmm.models.classifiers import ProvenanceImageClassifier
from provmm.benchmarks.guidance_cost import (PYTORCH_VARIANTS, VARIANTS,
                                             benchmark_guidance,
                                             build_benchmark_model,
                                             cpu_training_memory,
                                             format_results)

TINY = dict(type='ResNet_CIFAR', depth=18, base_channels=4, stem_channels=4,
            num_stages=1, out_indices=(0, ), strides=(1, ), dilations=(1, ))


def test_plain_variant_is_mmpretrain_image_classifier():
    plain = build_benchmark_model(TINY, 'plain', 3, 4)
    guided = build_benchmark_model(TINY, 'hard-pytorch', 3, 4)
    assert type(plain) is ImageClassifier
    assert isinstance(guided, ProvenanceImageClassifier)
    assert not guided.cheap_double_backward
    assert guided.provenance_loss.mode == 'hard'


def test_every_variant_is_timed_against_the_first():
    variants = VARIANTS + PYTORCH_VARIANTS
    results = benchmark_guidance(TINY, 4, size=8, batch_size=2,
                                 num_classes=3, rounds=2, warmup=0,
                                 variants=variants, memory=False)
    assert list(results) == list(variants)
    assert results['plain']['wall_ratio'] == results['plain'][
        'cpu_ratio'] == 1
    assert all(r['wall'] > 0 and r['cpu'] > 0 for r in results.values())
    table = format_results(results)
    assert all(f'| {variant} |' in table for variant in variants)


def test_cpu_training_memory_reports_consistent_peaks():
    # In a process that has run other work the steps may add nothing new.
    memory = cpu_training_memory(TINY, 4, 'soft', 8, 2, 3, steps=1)
    model = build_benchmark_model(TINY, 'soft', 3, 4)
    params = sum(t.numel() * t.element_size()
                 for t in (*model.parameters(), *model.buffers()))
    assert memory['added'] >= 0
    assert memory['training_peak'] == params + memory['added']
    assert memory['process_peak'] >= memory['added']
