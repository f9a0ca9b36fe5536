"""Users, sessions, API tokens and who may see what (the pure rules live in policy.py)."""
