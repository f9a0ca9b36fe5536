"""Alembic env.py for the packaged migrations; the logic lives in `cti.db.migrate.run_env`."""

from cti.db.migrate import run_env

run_env()
