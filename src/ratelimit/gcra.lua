-- GCRA over one request's buckets, atomically, on Redis's own clock (so node clocks do not
-- matter). Redis >= 5 (scripts replicate by effects, so TIME before a write is allowed).
--
-- KEYS[i]  a bucket; its value is the theoretical arrival time (TAT) in microseconds.
-- ARGV[2i-1]  the bucket's emission interval in microseconds (time to earn back 1 request).
-- ARGV[2i]    the bucket's burst.
--
-- Buckets are charged in order; the first refusal stops (later buckets are not charged).
-- Returns 4 integers per decided bucket: allowed (1 or 0), remaining,
-- retry_after_us (0 when allowed), reset_us (until the bucket is full again).
-- A key expires when its bucket is full again, so idle state costs no memory.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local out = {}
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[2 * i - 1])
  local tau = t * (tonumber(ARGV[2 * i]) - 1)
  local tat = tonumber(redis.call('GET', key) or now) or now
  if tat < now then
    tat = now
  end
  local allow_at = tat - tau
  if now < allow_at then
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = allow_at - now
    out[#out + 1] = tat - now
    return out
  end
  local new_tat = tat + t
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
  out[#out + 1] = 1
  out[#out + 1] = math.floor((tau + t - (new_tat - now)) / t)
  out[#out + 1] = 0
  out[#out + 1] = new_tat - now
end
return out
