"""The core every layer uses: settings, errors, and the typed results (Answer, Citation)."""
