"""Checks of the machine tinydeploy runs on (`tinydeploy doctor`)."""
