SELECT coalesce(max(seq), 0) FROM cancel_log
