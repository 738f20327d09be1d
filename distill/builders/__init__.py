"""Dataset builders that run the teacher (above the cache and the encoder): the photo pool."""
