"""The contests service: the weekly works PK (entries, votes, closing, ranking, prizes)."""
