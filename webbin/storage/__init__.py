"""Storage: the tables, the reads and deletes the pages and API share, retention, and the
schema migrations.

The lowest layer of webbin: it may import ``webbin.config`` and nothing else of webbin.
It never publishes live notifications itself; callers that change data tell the broker.
"""
