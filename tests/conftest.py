"""Shared pytest configuration: real-server fixtures live in tests/servers/."""

pytest_plugins = ["tests.servers.swift", "tests.servers.postgres", "tests.servers.rtsp"]
