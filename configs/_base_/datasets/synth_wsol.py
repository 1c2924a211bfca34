# Built-in synthetic WSOL benchmark (provmm/synthetic): 8 shape
# classes, 64 px, on cluttered backgrounds whose domain matches the class in
# `background_bias` of the train/val images and is balanced in test. Generated
# under `data_root` on first use (seconds) and read back through the
# wsolevaluation metadata like CUB.
dataset_type = 'SyntheticWSOLDataset'
data_root = 'data/synth_wsol'
synth_generator = dict(task='target', seed=0, background_bias=0.9)

data_preprocessor = dict(
    num_classes=8,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# Test images keep their 64x64 size; the metric maps CAMs to it.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs',
         meta_keys=('sample_idx', 'img_path', 'img_id', 'ori_shape',
                    'img_shape', 'gt_bboxes')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 generator=synth_generator, pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 generator=synth_generator, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# Score maps are evaluated at the native 64x64 (eval_size=None) rather than
# the reference's 224x224 resize. Per-epoch validation uses the 0.01
# threshold grid (the wsolevaluation CLI default) for speed; the test uses
# the paper's 0.001.
val_evaluator = dict(type='WSOLMetric', cam_curve_interval=0.01,
                     iou_thresholds=(30, 50, 70), eval_size=None,
                     largest_contour_v1=False)
test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 generator=synth_generator, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = dict(type='WSOLMetric', cam_curve_interval=0.001,
                      iou_thresholds=(30, 50, 70), eval_size=None)
