"""optima plugin (placeholder until its issue lands)."""
