"""Evaluation: generation backends, grading, metrics."""
