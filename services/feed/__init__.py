"""The feed service: personal iCalendar subscription feeds."""
