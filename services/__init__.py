"""lowkey's processes: the JSON API, the feed service and the arq worker."""
