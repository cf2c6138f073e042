"""Checking rewards and data: the reward audit, task-set quality, `domains validate`, the pytest plugin."""
