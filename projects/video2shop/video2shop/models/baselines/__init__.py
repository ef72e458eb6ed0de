"""Baselines of the paper: FV / VLAD representations (Fig. 3) and cosine metric learning (Table 1)."""
