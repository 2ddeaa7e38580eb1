"""Health math, pure: lag, time lag, Burrow-style status, partition skew.

Functions over samples with the clock passed in; no Kafka client is imported here
(`tests/test_architecture.py` enforces it)."""
