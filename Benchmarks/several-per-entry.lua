-- A sketch, measured by Benchmarks/redis-cost.sh and not used by cio-relay: a Redis layout with
-- several events per stream entry and their dedup markers gathered in one hash (per day, say,
-- expiring a TTL after its day) instead of one key each. For the events of one call: the markers
-- read with one HMGET, the new events (duplicates within the call included) appended as one
-- entry, their markers set with one HSET to "entry id/position". Atomic like today's script.
-- KEYS[1] the stream, KEYS[2] the hash; ARGV[1] the hash's expiry (Unix seconds), ARGV[2] the
-- field/value arguments per event, then per event its id and those arguments.
local per = tonumber(ARGV[2])
local count = (#ARGV - 2) / (per + 1)
local ids = {}
for i = 1, count do ids[i] = ARGV[3 + (i - 1) * (per + 1)] end
local seen = redis.call('HMGET', KEYS[2], unpack(ids))
local fields, positions, fresh, n = {}, {}, {}, 0
for i = 1, count do
  if not seen[i] and not fresh[ids[i]] then
    fresh[ids[i]] = true
    n = n + 1
    positions[i] = n
    local at = 3 + (i - 1) * (per + 1)
    for j = 1, per do fields[#fields + 1] = ARGV[at + j] end
  end
end
local verdicts = {}
for i = 1, count do verdicts[i] = false end
if n == 0 then return verdicts end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
local markers = {}
for i = 1, count do
  if positions[i] then
    verdicts[i] = id .. '/' .. positions[i]
    markers[#markers + 1] = ids[i]
    markers[#markers + 1] = verdicts[i]
  end
end
redis.call('HSET', KEYS[2], unpack(markers))
redis.call('EXPIREAT', KEYS[2], ARGV[1])
return verdicts
