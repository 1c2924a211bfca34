# PuzzleMix + provenance gradient guidance (Eq. 9 with a soft mask M) on the
# synthetic WSOL benchmark; the guidance settings of synth_wsol_cutmix_pg.py.
_base_ = ['./synth_wsol_puzzlemix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.3,  # synth_wsol_cutmix_pg.py's; not re-tuned for PuzzleMix
        mode='auto',
        mask_mode='provenance',
        target='logit',
        warmup_iters=25,
    ))
