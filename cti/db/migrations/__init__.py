"""Alembic migration scripts, shipped inside the package so an installed cti can migrate."""
