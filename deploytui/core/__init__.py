"""The pure core: checklist, config, session state, events, record, redaction.

Nothing under this package imports textual or a network client.
"""
