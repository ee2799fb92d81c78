"""Runners of saltext.cloudassist (run on the master); Salt's loader skips files starting
with ``_``."""
