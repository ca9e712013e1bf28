"""Projects on disk: project.toml, the SQLite database, the writer lock."""
