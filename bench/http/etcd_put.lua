-- wrk script of bench/http_vs_peers' durable-POST row, peer side: every
-- request puts a ~1 KB value under the key of a random user of USERS
-- through etcd's JSON gateway (POST /v3/kv/put, key and value in base64),
-- the value changing with every request.
--
-- wrk ... -s etcd_put.lua URL -- USERS VALUE_BYTES

local thread_count = 0

function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = {}
    for k = 1, 4 do
      local index = math.floor(n / 2 ^ (6 * (4 - k))) % 64
      chars[k] = alphabet:sub(index + 1, index + 1)
    end
    if not b then
      chars[3] = "="
    end
    if not c then
      chars[4] = "="
    end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

local users, keys, filler, counter

function init(args)
  users = tonumber(args[1]) or 1000
  local value_bytes = tonumber(args[2]) or 1024
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  counter = (thread_id or 0) * 1000000000
  keys = {}
  for u = 0, users - 1 do
    keys[u] = base64("u" .. u)
  end
  -- The value is a 12-digit counter and filler up to value_bytes; both are
  -- multiples of 3 bytes, so the counter's base64 can be spliced in front
  -- of the filler's without re-encoding the whole value.
  local filler_bytes = math.max(3, value_bytes - 12)
  filler_bytes = filler_bytes - filler_bytes % 3
  filler = base64(string.rep("x", filler_bytes))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local key = keys[math.random(0, users - 1)]
  local value = base64(string.format("%012d", counter % 1000000000000)) .. filler
  return wrk.format(nil, "/v3/kv/put", nil, '{"key": "' .. key .. '", "value": "' .. value .. '"}')
end
