"""Session fixture for a real postgres server started on 127.0.0.1 (filled in by its owner)."""
