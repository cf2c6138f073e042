"""Readers for other systems' run and task files."""
