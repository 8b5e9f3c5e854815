SELECT id FROM batches WHERE unsettled = 1
