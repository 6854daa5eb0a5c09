"""Evidence export (issue #17): case bundles of redacted clips, best shots, metadata and the
case's audit extract, with a SHA-256 manifest signed by Ed25519 and a chain-of-custody record."""
