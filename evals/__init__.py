"""Benchmarks and evaluation scripts (ProactiveBench-, PIRA- and ProactiveMobile-style)."""
