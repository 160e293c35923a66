"""vdispatch: the composition root (CLI, settings, node assembly, demo)."""
