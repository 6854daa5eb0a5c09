"""Session fixture for a real swift server started on 127.0.0.1 (filled in by its owner)."""
