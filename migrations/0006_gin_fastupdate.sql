-- PUT's tail (issue 7). A GIN index with fastupdate (the default) queues new entries in a pending
-- list and merges it into the index when it passes gin_pending_list_limit (4 MB): about every
-- 1.5 s under a steady write load, one insert then spends ~100 ms merging, inside the write lock,
-- and every write in flight waits behind it (PUT's p99 was 85 ms at 32 connections for a p50 of
-- 5.5 ms). Without the pending list each insert updates the index itself: a little more per
-- write, no spikes, and searches no longer scan an unsorted list. Skills are written rarely and
-- keep the default.
ALTER INDEX memory_search SET (fastupdate = off);
ALTER INDEX memory_tags SET (fastupdate = off);
-- Entries already pending stay pending until merged: merge them now.
SELECT gin_clean_pending_list('memory_search'::regclass), gin_clean_pending_list('memory_tags'::regclass);
