"""`tipline` subcommands that are more than a few lines (the CLI's own layer: above the app)."""
