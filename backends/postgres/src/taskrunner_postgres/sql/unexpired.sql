(j.expires_at IS NULL OR j.expires_at > now())
