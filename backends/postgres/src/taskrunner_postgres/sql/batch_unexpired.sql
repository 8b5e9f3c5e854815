(b.expires_at IS NULL OR b.expires_at > now())
