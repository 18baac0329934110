"""Shared API machinery of the sandbox: what both the API server emulator and the components (API clients) use."""
