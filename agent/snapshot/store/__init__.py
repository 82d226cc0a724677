"""Object stores behind one small interface: S3-compatible, a local directory, memory."""
