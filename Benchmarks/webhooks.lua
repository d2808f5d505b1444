-- wrk script: each thread posts the requests of its own corpus file (CORPUS.<thread>, written by
-- `cio-relay send --write-requests`) in order, so that every request is a distinct event; at the
-- end of the file it starts over (the repeats are answered "duplicate"). Every record has the same
-- length, given on the file's first line, so init only opens the file: see RequestCorpus
-- (Sources/LoadGenerator) for why that matters.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local path = os.getenv("CORPUS") .. "." .. id
  corpus = assert(io.open(path, "rb"))
  size = tonumber(corpus:read("*l"))
  first = corpus:seek()
end

function request()
  local record = corpus:read(size)
  if not record or #record < size then
    corpus:seek("set", first)
    record = corpus:read(size)
  end
  return record
end
