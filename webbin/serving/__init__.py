"""Serving: running webbin under gunicorn's gevent worker: the server application and its
settings, the worker that answers size limits in JSON, and the redacting access log.

The top layer under the CLI: it may import anything in webbin.
"""
