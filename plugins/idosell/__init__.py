"""idosell plugin (placeholder until its issue lands)."""
