# SKP: a point network over every (person, frame) skeleton, a linear head
# and multiple-instance pooling over the video's skeletons (max over the
# per-skeleton features in training; per-skeleton class scores at test).
# embed_dims=256 is the paper's width.
model = dict(
    type='SkeletonPointRecognizer',
    backbone=dict(type='SkeletonPointNet', num_joints=17, embed_dims=256,
                  num_blocks=2),
    num_classes=24,
    mil_pooling='feature',
    loss_cls=dict(type='CrossEntropyLoss', use_soft=True),
)
