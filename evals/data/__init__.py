"""Data shipped with the evaluations (the generated PIRA-style set)."""
