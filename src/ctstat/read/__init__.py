"""Bytes to Submission: the guard, contained workers and the readers (no pandas, no pandera)."""
