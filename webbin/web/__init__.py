"""Web: what people and programs see: the dashboard pages and htmx fragments, the JSON API
and its OpenAPI document, and what they share (serialisers, body views, curl, errors, CSRF,
security headers).

May import every layer below it; only ``serving`` and ``cli`` sit above.
"""
