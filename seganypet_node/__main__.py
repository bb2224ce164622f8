"""Run the node with ``python -m seganypet_node``."""

from seganypet_node.cli import main

raise SystemExit(main())
