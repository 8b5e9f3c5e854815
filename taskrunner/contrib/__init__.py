"""Integrations with web frameworks. Each imports its framework, so nothing here is imported
by `import taskrunner`: the core works without any of them installed."""
