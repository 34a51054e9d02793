"""Check kinds, one module each. A module defines `Kind`, a `CheckKind` subclass, and imports its
client library inside `run`."""
