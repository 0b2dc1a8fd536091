"""The Textual dashboard (`festina tui`)."""
