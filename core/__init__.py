"""Core of tradecredit: host, engine, orchestrator, state. Never imports a plugin."""
