# Baseline: SAT + CutMix on CUB WSOL (Table 1 "+ CutMix"), mixing
# probability 0.79 (Table 8, DeiT-S).
_base_ = ['./wsol_cub_deit_s_sat.py']

# Merged into the dataset's data_preprocessor (mean, std, num_classes).
data_preprocessor = dict(
    type='ProvenanceMixBatchAugment',
    augments=[dict(type='ProvenanceCutMix', alpha=1.0)],
    probs=[0.79],  # the remaining 0.21: the batch is not mixed
)
