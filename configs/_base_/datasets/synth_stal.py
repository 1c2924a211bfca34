# Built-in synthetic skeleton STAL benchmark (provmm/synthetic/skeleton_task.py):
# UCF101-24-like videos of 2-3 COCO stick figures, an actor doing one of 8
# actions on a segment and a bystander whose motion pattern co-occurs with
# the class in 90 % of train videos (none in val/test). Generated under
# `data_root` on first use (seconds) and read back through the UCF101-24
# layout (pose pickle + UCF101v2-GT-style ground truth), so only the
# dataset type and the sizes differ from ucf101_24_skeleton.py.
_base_ = ['./ucf101_24_skeleton.py']

dataset_type = 'SyntheticSkeletonSTALDataset'
data_root = 'data/synth_stal'
synth_generator = dict(seed=0, num_per_class=dict(train=40, val=10,
                                                  test=20))

data_preprocessor = dict(num_classes=8)

# 16 frames per clip (videos are 40-64 frames) keep a run on 2 cores short.
train_pipeline = [
    dict(type='SampleClip', clip_len=16),
    dict(type='NormalizeKeypoints'),
    dict(type='PackSkeletonInputs'),
]
test_pipeline = {{_base_.test_pipeline}}

# max_persons=3 keeps every generated person (actor, bystander, idler), so
# the bystander's co-occurring pattern is always in the training bag.
train_dataloader = dict(
    batch_size=30,
    num_workers=0,
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 split='train', generator=synth_generator, max_persons=3,
                 pipeline=train_pipeline),
)
# 'val' (its own GT file, the val videos as test videos) selects alpha and
# the best epoch; test is only tested.
val_dataloader = dict(
    _delete_=True,  # the base (UCF101-24) has no val split
    batch_size=1,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 generator=synth_generator, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = [
    dict(type='FrameAP', gt_file=data_root + '/synth_stal_GT_val.pkl',
         iou=0.5, protocol='act'),
    dict(type='VideoAP', gt_file=data_root + '/synth_stal_GT_val.pkl',
         iou=0.5, protocol='act'),
    dict(type='Accuracy', topk=(1, )),
]
val_cfg = dict(_delete_=True)
test_dataloader = dict(
    num_workers=0,
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 split='test', generator=synth_generator,
                 pipeline=test_pipeline),
)
test_evaluator = [
    dict(type='FrameAP', gt_file=data_root + '/synth_stal_GT.pkl',
         iou=0.5, protocol='act'),
    dict(type='VideoAP', gt_file=data_root + '/synth_stal_GT.pkl',
         iou=0.5, protocol='act'),
    dict(type='Accuracy', topk=(1, )),
]
