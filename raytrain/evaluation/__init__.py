"""Scoring a trained model on a split: task metrics, latency, and classical baselines beside it."""
