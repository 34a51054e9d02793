"""What the screen shows, computed without widgets: pure and unit-tested (the filter language, the
bookkeeping of runs in progress). Screens keep layout, bindings and dispatch."""
