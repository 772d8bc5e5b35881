"""Submission x catalogue to Report: per-file checks and the pandera schemas over the batch."""
