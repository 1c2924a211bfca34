# SKP + Skeleton BatchMix on the synthetic skeleton STAL benchmark.
_base_ = ['./synth_stal_skp.py']

model = dict(batch_mix=dict(type='SkeletonBatchMix', prob=1.0))
