# Baseline: SAT + CutMix on the synthetic WSOL benchmark, mixing
# probability 0.79 as Table 8 gives for DeiT-S.
_base_ = ['./synth_wsol_sat.py']

# Merged into the dataset's data_preprocessor (mean, std, num_classes).
data_preprocessor = dict(
    type='ProvenanceMixBatchAugment',
    augments=[dict(type='ProvenanceCutMix', alpha=1.0)],
    probs=[0.79],  # the remaining 0.21: the batch is not mixed
)
model = dict(head=dict(loss=dict(use_soft=True)))
