"""The app's stylesheets (Textual CSS), installed as the package data of ``tuitune.styles``."""
