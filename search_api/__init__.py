"""Search API: FastAPI application serving search, tracks, cameras and clips."""
