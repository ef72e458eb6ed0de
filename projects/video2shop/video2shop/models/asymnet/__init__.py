"""AsymNet (Cheng et al., CVPR 2017): IFN, VFN, single similarity networks and the fusion tree."""
