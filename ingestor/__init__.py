"""ingestor: a deduplicating news-feed ingestion service.

Feeds are polled, every story normalized, and copies and rewrites of one story folded into one
event that keeps every variant. Read ``ingestor.pipeline`` first: its docstring is the whole flow.
"""

__version__ = "0.1.0"
