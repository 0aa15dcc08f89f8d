"""eshop plugin (placeholder until its issue lands)."""
