-- wrk script: 4 KiB PUTs of new files into one folder, for a concurrency sweep of a running
-- server (docs/benchmarks.md):
--   FOLDER=<folder id> TOKEN=<bearer token> wrk -t2 -c8 -d5s -s scripts/bench-put.lua http://127.0.0.1:8080/
local body = string.rep("x", 4096)
local folder = os.getenv("FOLDER")
local auth = { ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "") }
local counter = 0

function init(args)
  -- Each thread names its files apart from the others'.
  math.randomseed(tonumber(tostring({}):sub(8), 16) or os.time())
end

function request()
  counter = counter + 1
  local name = "f" .. counter .. "_" .. math.random(1e9)
  return wrk.format("PUT", "/api/v1/nodes/" .. folder .. "/files/" .. name, auth, body)
end
