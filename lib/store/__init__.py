"""The task store (SQLite), versioned migrations."""
