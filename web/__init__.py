"""The HTTP service: JSON API routers, the chat page, and the app factory."""
