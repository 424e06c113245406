"""Hand-checked ground truth for the shared real clips (see README.md)."""
