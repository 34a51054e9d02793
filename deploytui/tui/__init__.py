"""The terminal face: a Textual app over `deploytui.services` (layout, bindings, dispatch; no
orchestration)."""
