"""Persistence: SQLAlchemy models, engine and the operations on series, jobs and transfers."""
