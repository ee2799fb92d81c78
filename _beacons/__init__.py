"""Beacons of saltext.cloudassist: ``cloudassist``; Salt's loader skips files starting with
``_``."""
