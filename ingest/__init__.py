"""Ingest stage: RTSP connections, demux, segment recording, frame decoding, object storage."""
