-- wrk script: each thread posts its own slice of the signed corpus (CORPUS env var), in order,
-- so that every request is a distinct event. Lines: "<timestamp> <signature> <body>".
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("CORPUS")
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  requests = {}
  local n = 0
  for line in io.lines(path) do
    if n % nthreads == id then
      local ts, sig, body = line:match("^(%d+) (%x+) (.*)$")
      requests[#requests + 1] = wrk.format("POST", "/webhooks/customerio", {
        ["Content-Type"] = "application/json",
        ["X-CIO-Timestamp"] = ts,
        ["X-CIO-Signature"] = sig,
      }, body)
    end
    n = n + 1
  end
  index = 0
  wrapped = 0
end

function request()
  index = index + 1
  if index > #requests then
    index = 1
    wrapped = wrapped + 1
  end
  return requests[index]
end
