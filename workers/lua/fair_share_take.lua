-- Let a worker start a job of a hospital unless that hospital already holds its share of the workers
-- of this kind (workers/fair_share.py): at most the live workers less one; while another hospital is
-- active (started a job of this kind within the last ARGV[6] seconds), at most half of them; at least one.
-- KEYS[1]  the busy workers of this kind: sorted set "<hospital>|<worker>" -> until (epoch seconds)
-- KEYS[2]  the live workers of this kind: sorted set worker -> last seen (epoch seconds)
-- KEYS[3]  the active hospitals of this kind: sorted set hospital -> last started a job (epoch seconds)
-- ARGV[1]  now   ARGV[2] the hospital   ARGV[3] the worker   ARGV[4] until when the job may run
-- ARGV[5]  how long a worker counts as live after it was last seen (seconds)
-- ARGV[6]  how long a hospital counts as active after it last started a job (seconds)
-- Returns  1 if the worker may start the job (it is counted busy for the hospital), 0 if not.
-- Atomic: two workers that both counted one slot free would both take it.
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
redis.call('ZADD', KEYS[2], now, ARGV[3])  -- the worker asking is alive
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[6]))
local prefix = ARGV[2] .. '|'
local held, live = 0, redis.call('ZCARD', KEYS[2])
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then held = held + 1 end
  local hospital, worker = string.match(member, '^(.-)|(.*)$')
  -- a worker deep in a long job has not been seen for a while: busy, it is live all the same
  if not redis.call('ZSCORE', KEYS[2], worker) then live = live + 1 end
  redis.call('ZADD', KEYS[3], now, hospital)  -- and its hospital active
end
local others = redis.call('ZCARD', KEYS[3])
if redis.call('ZSCORE', KEYS[3], ARGV[2]) then others = others - 1 end
local share = live - 1
if others > 0 then share = math.floor(live / 2) end
if held >= math.max(1, share) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], prefix .. ARGV[3])
redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return 1
