"""The services both faces (cli/, tui/) run through: no textual, no argparse."""
