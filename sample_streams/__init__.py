"""Sample camera footage recipes and the local RTSP server used by demo, tests and benchmarks."""
