# SAT + CutMix + provenance gradient guidance (Eq. 9) on the synthetic WSOL
# benchmark; alpha as synth_wsol_cutmix_pg.py.
_base_ = ['./synth_wsol_sat_cutmix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.3,
        mode='auto',
        mask_mode='provenance',
        target='logit',
        warmup_iters=25,
    ))
