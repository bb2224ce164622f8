"""Maintenance: does the node's state (spool, result folders, database) agree, and repairs."""
