# Baseline: VGG16 CAM + CutMix on CUB WSOL (Table 1 "CutMix").
_base_ = [
    '../_base_/models/vgg16_cam.py',
    '../_base_/datasets/cub_wsol.py',
    '../_base_/schedules/wsol_sgd_linear.py',
    '../_base_/default_runtime.py',
]

# Merged into the dataset's data_preprocessor (mean, std, num_classes).
data_preprocessor = dict(
    type='ProvenanceMixBatchAugment',
    augments=[dict(type='ProvenanceCutMix', alpha=1.0)],
    probs=[1.0],
)
