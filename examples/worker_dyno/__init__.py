"""The worker-dyno example: see app.py."""
