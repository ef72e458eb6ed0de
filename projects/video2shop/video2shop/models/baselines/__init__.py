"""Table 1's baselines: cosine metric learning (CS / RC, InfoNCE) and the frozen-feature AL and FT."""
