"""The JSON API for organisers, users and admins, and the admin console."""
