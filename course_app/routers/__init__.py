"""Routers, one per topic of the course."""
