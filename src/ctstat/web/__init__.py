"""The submission portal: the Starlette app, its intake and tokens."""
