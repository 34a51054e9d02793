"""One module per CLI command; each exposes `run(args: argparse.Namespace) -> int`."""
