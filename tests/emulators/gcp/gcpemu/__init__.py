"""An emulator of Compute Engine, Cloud DNS and Google OAuth for tests (see ../README.md)."""
