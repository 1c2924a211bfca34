# Control (paper Table 6): penalise the input gradient of the own class over
# the whole input of every edited image (no provenance).
_base_ = ['./synth_spurious_edits_pg.py']

model = dict(provenance_loss=dict(mask_mode='unmasked'))
