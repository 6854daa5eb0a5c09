"""Application shell: settings, CLI entry point and process wiring (no stage logic)."""
