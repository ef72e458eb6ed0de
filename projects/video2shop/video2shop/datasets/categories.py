"""The 14 clothing categories of the AsymNet paper's Table 1 (the default category list)."""

PAPER_CATEGORIES: tuple[str, ...] = (
    "Outwear",
    "Dress",
    "Top",
    "Mini skirt",
    "Hat",
    "Sunglass",
    "Bag",
    "Skirt",
    "Suit",
    "Shoes",
    "Shorts",
    "Pants",
    "Breeches",
    "High shoes",
)
