"""Model manifest, converters and the build step that produces cached ONNX files."""
