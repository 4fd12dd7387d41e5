//! The automation dashboard: its flows land with its issue; the CLI and TUI say so until then.
