"""Where sessions live: the storage protocol and its backends."""
