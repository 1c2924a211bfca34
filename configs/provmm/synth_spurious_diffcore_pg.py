# DiffCoRe-Mix as the provenance source: no edits are
# added; instead each edited real train image is mixed with its edit (its
# generated counterpart) pixel-wise or patch-wise (8 px cells) by a fair coin,
# and hard-label guidance (Eq. 10) penalises the own-class gradient on the
# generated patches. The counterpart is pixel-aligned with the original, so
# it follows the image's flip (follow_flip=True).
_base_ = ['./synth_spurious_edits_pg.py']

# Merged into the dataset's data_preprocessor (mean, std, num_classes).
data_preprocessor = dict(
    type='DiffCoReMixPreprocessor',
    diffcore_mix=dict(type='DiffCoReMix', patch_size=8, keep_ratio=0.5))
# ProvenanceMixBatchAugment packs one-hot soft labels (gt_score).
model = dict(head=dict(loss=dict(use_soft=True)))

train_dataloader = dict(
    dataset=dict(
        edits_as_counterparts=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadProvenanceMask'),
            dict(type='ProvenanceRandomFlip', prob=0.5,
                 direction='horizontal'),
            dict(type='LoadGeneratedCounterpart', follow_flip=True),
            dict(type='PackProvenanceInputs', algorithm_keys=('gen_img', )),
        ]))
