"""The typed API tool pool the slow path plans over (built in a later issue)."""
