-- The benchmark's HTTP load, one operation per run:
--   wrk -s bench/wrk.lua http://127.0.0.1:PORT -- OPERATION [ARGUMENT]
-- OPERATION  get | update_wallet: a random id from the file $BENCH_IDS (one id a line)
--            list: GET ARGUMENT (a path with its query)
--            create: POST $BENCH_BODY with __PHONE__ replaced by ARGUMENT (+ and 5 digits),
--                    the thread's number and a counter: unique in the run
-- $BENCH_TOKEN is sent as the bearer token, $BENCH_BODY is the JSON body of POSTs.
-- done() prints `BENCH_RESULT {…}`: wrk's figures, and non-2xx answers counted by response().

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

local operation, argument, ids, body, counter
local headers = {}
non2xx = 0

function init(args)
  operation, argument = args[1], args[2]
  headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
  body = os.getenv("BENCH_BODY")
  if body then
    headers["Content-Type"] = "application/json"
  end
  counter = 0
  math.randomseed(os.time() + 7919 * thread_number)
  if operation == "get" or operation == "update_wallet" then
    ids = {}
    for line in io.lines(os.getenv("BENCH_IDS")) do
      if line ~= "" then
        ids[#ids + 1] = line
      end
    end
  end
end

function request()
  if operation == "get" then
    return wrk.format("GET", "/api/patients/" .. ids[math.random(#ids)] .. "/", headers)
  elseif operation == "update_wallet" then
    local path = "/api/patients/" .. ids[math.random(#ids)] .. "/update_wallet/"
    return wrk.format("POST", path, headers, body)
  elseif operation == "create" then
    counter = counter + 1
    local phone = string.format("%s%02d%07d", argument, thread_number, counter)
    return wrk.format("POST", "/api/patients/", headers, (body:gsub("__PHONE__", phone)))
  else
    return wrk.format("GET", argument, headers)
  end
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, '
      .. '"non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    failed, e.connect, e.read, e.write, e.timeout, e.status
  ))
end
