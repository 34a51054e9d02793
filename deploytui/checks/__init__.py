"""Check kinds: the protocol (`base`), the registry of kinds (`registry`), one expectation language
(`expect`), and one module per kind (`kinds/`)."""
