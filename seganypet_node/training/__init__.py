"""Training the compact network on phantoms (interactive, SAM-style clicks)."""
