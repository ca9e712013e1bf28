"""The app's widgets: one widget per module."""
