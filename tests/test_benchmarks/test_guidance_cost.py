"""The guidance benchmark runs every variant and reports per-round ratios
to the standard mmpretrain step (a smoke test on a tiny model, not timed)."""
import pytest
import torch
from mmpretrain.models import ImageClassifier

from provmm.models.classifiers import ProvenanceImageClassifier
from provmm.benchmarks.guidance_cost import (PYTORCH_VARIANTS, VARIANTS,
                                             benchmark_guidance,
                                             benchmark_variants,
                                             build_benchmark_model,
                                             check_device,
                                             cpu_training_memory,
                                             format_results, parse_variant)

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


def test_variant_options_reach_the_provenance_loss():
    model = build_benchmark_model(
        TINY, 'soft,every_n_iters=4,bn_statistics=detached', 3, 4)
    loss = model.provenance_loss
    assert (loss.mode, loss.every_n_iters, loss.bn_statistics) == (
        'soft', 4, 'detached')
    model = build_benchmark_model(TINY, 'hard-pytorch,subset_ratio=0.5', 3,
                                  4)
    assert not model.cheap_double_backward
    assert model.provenance_loss.subset_ratio == 0.5
    assert parse_variant('soft') == ('soft', True, {})
    with pytest.raises(ValueError) as error:
        parse_variant('soft,every_n_iters')
    assert str(error.value) == ("variant 'soft,every_n_iters': option "
                                "'every_n_iters' is not key=value")


def test_benchmark_variants_add_the_amortised_modes():
    assert benchmark_variants() == VARIANTS
    assert benchmark_variants(('hard', ), True) == ('plain', 'hard',
                                                    'hard-pytorch')
    assert benchmark_variants(('soft', ), every_n_iters=4,
                              subset_ratio=None,
                              bn_statistics='detached') == (
        'plain', 'soft', 'soft,every_n_iters=4,bn_statistics=detached')


def test_every_n_iters_variant_times_n_steps_per_round(monkeypatch):
    import provmm.benchmarks.guidance_cost as guidance_cost
    calls = []
    original = guidance_cost.timed_train_step

    def recording(model, optim_wrapper, data, device):
        loss = getattr(model, 'provenance_loss', None)
        calls.append((type(model).__name__,
                      loss is not None and loss.guides_this_iteration()))
        return original(model, optim_wrapper, data, device)

    monkeypatch.setattr(guidance_cost, 'timed_train_step', recording)
    results = benchmark_guidance(TINY, 4, size=8, batch_size=2,
                                 num_classes=3, rounds=2, warmup=0,
                                 variants=('plain', 'soft,every_n_iters=3'),
                                 memory=False)
    guided = [flag for name, flag in calls
              if name == 'ProvenanceImageClassifier']
    assert guided == [True, False, False] * 2
    assert len(calls) == 2 * (1 + 3)
    assert all(result['nonfinite'] == 0 for result in results.values())


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only '
                    'machine')
def test_cuda_and_amp_are_refused_clearly_without_a_gpu():
    with pytest.raises(RuntimeError) as error:
        check_device('cuda')
    assert str(error.value) == ("device 'cuda' asked for, but torch sees no "
                                'CUDA GPU on this machine; use device cpu')
    with pytest.raises(RuntimeError) as error:
        benchmark_guidance(TINY, 4, device='cpu', amp=True)
    assert str(error.value) == ('amp=True times torch.autocast for CUDA and '
                                "needs a CUDA device, got device 'cpu'")
