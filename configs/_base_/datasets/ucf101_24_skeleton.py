# UCF101-24 2D skeletons (PYSKL/mmaction2 HRNet pose pickle) read against the
# corrected UCF101-24 ground truth, split 1, for weakly supervised STAL
# (docs/datasets/ucf101_24_skeletons.md). Files go under `data_root`; a
# missing one stops the dataset build (tools/train.py builds the datasets
# before the Runner, so no work dir is left) with the expected layout.
dataset_type = 'SkeletonSTALDataset'
data_root = 'data/ucf101_24/'
ann_file = 'ucf101_24_hrnet.pkl'
gt_file = 'UCF101v2-GT.pkl'

data_preprocessor = dict(type='SkeletonDataPreprocessor', num_classes=24)

# Training sees the video label only: each frame keeps its 2 best-scoring
# persons (the dataset's max_persons), a clip of 48 frames spread over the
# whole video.
train_pipeline = [
    dict(type='SampleClip', clip_len=48),
    dict(type='NormalizeKeypoints'),
    dict(type='PackSkeletonInputs'),
]
# Test: every person of every frame gets a box and class scores.
test_pipeline = [
    dict(type='SampleClip', test_mode=True),
    dict(type='NormalizeKeypoints'),
    dict(type='PackSkeletonInputs'),
]

train_dataloader = dict(
    batch_size=30,  # Table 8
    num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, ann_file=ann_file,
                 gt_file=gt_file, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
# UCF101-24 has no validation split: the paper trains for a fixed schedule.
val_dataloader = None
val_evaluator = None
val_cfg = None
# Test videos differ in length and number of persons: one video per batch.
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, ann_file=ann_file,
                 gt_file=gt_file, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# The ACT protocol at IoU 0.5: frame-AP and video-AP (tubes linked from the
# per-person frame detections) against the ground truth pickle; the
# `Skeleton*` adapters feed them the recognizer's per-instance scores.
test_evaluator = [
    dict(type='FrameAP', gt_file=data_root + gt_file, iou=0.5,
         protocol='act'),
    dict(type='VideoAP', gt_file=data_root + gt_file, iou=0.5,
         protocol='act'),
    dict(type='Accuracy', topk=(1, )),
]
