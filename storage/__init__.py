"""Object storage below every stage: the store protocol, local and S3 implementations."""
