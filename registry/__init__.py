"""Facts: AI systems, model versions, metric specs and points, data sources, tokens, ingestion."""
