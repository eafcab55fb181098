"""Agents: one per file, named for what they do; thin plumbing around ``learning``."""
