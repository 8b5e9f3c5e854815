"""What every adapter shares: the protocol with the orchestrator, the probe the jobs report
to, the worker process, and the workloads, written once against the `Library` interface.

Standard library only: it is imported by each library's own virtualenv python.
"""
