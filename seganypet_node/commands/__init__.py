"""Handlers of ``seganypet-node`` subcommands, grouped by what they act on."""
