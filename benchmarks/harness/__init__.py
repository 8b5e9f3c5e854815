"""The orchestrator: library-agnostic, standard library only. It prepares each peer's
virtualenv, resets each library's Redis db or Postgres database, runs the adapter scripts
round after round, and prints the table."""
