"""The tradecredit test kit is opt-in: this line gives the tests its fixtures and nothing else changes."""

pytest_plugins = ["tradecredit.testing"]
