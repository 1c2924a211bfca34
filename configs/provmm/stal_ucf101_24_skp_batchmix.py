# SKP + Skeleton BatchMix on the features (Table 8: mixing probability 1.0).
_base_ = ['./stal_ucf101_24_skp.py']

model = dict(batch_mix=dict(type='SkeletonBatchMix', prob=1.0))
