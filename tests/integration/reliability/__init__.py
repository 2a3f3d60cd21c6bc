"""Helpers of tests/integration/test_reliability.py."""
