"""Detect stage: detector backends, appearance embedding, OCR, tracking, track finalisation."""
