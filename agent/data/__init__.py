"""Data files shipped with festina (the bundled demo event stream)."""
