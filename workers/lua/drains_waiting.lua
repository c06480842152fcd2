-- How many drain jobs of one family wait to start: this hospital's, and the deployment's
-- (workers/batches.py, QueuedDrains).
-- KEYS[1]     this hospital's queued drains (<prefix>livedesk:outbox-drains: job id -> enqueued at)
-- KEYS[2..]   the other hospitals' of the same family (none for a deployment of one)
-- ARGV[1]     the oldest enqueue time still counted (older entries are of lost jobs)
-- Returns     {this hospital's, every hospital's}.
-- Atomic: the counts of one moment, in one command whatever the number of hospitals (a turn reads
-- it in the round trip it makes anyway). Reads only.
local own = redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf')
local all = own
for k = 2, #KEYS do
  all = all + redis.call('ZCOUNT', KEYS[k], ARGV[1], '+inf')
end
return {own, all}
