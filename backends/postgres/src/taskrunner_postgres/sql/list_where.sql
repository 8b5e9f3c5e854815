j.id < $3::uuid AND j.id >= $4::uuid
       AND ($2::text IS NULL OR j.task = $2::text)
       AND ($5::float8 IS NULL OR j.enqueued_at >= to_timestamp($5::float8))
       AND ($6::float8 IS NULL OR j.enqueued_at < to_timestamp($6::float8))
       AND {unexpired}
