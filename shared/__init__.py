"""Code every lowkey service uses: settings, models, database access, scoring."""
