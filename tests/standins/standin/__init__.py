"""Shared code of the nomad and consul stand-in agents (test tools)."""
