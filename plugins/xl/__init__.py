"""xl plugin (placeholder until its issue lands)."""
