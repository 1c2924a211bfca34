# Baseline: CAM + CutMix on the synthetic WSOL benchmark.
_base_ = ['./synth_wsol_cam.py']

# Merged into the dataset's data_preprocessor (mean, std, num_classes).
data_preprocessor = dict(
    type='ProvenanceMixBatchAugment',
    augments=[dict(type='ProvenanceCutMix', alpha=1.0)],
    probs=[1.0],
)
model = dict(head=dict(loss=dict(use_soft=True)))
