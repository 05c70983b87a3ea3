-- wrk script for bench/jwt.sh: sends "Authorization: Bearer <token>" with
-- tokens read from the file named after "--" (one per line), cycling through
-- them; each thread starts at its own offset so threads do not move in step.
--
--   wrk -t2 -c50 -d5s -s bench/lib/token.lua URL -- tokens.txt

local counter = 0

function setup(thread)
    thread:set("thread_id", counter)
    counter = counter + 1
end

local tokens = {}
local n = 0
local i = 0

function init(args)
    local path = args[1]
    if path == nil then
        error("usage: wrk ... -s token.lua URL -- TOKEN_FILE")
    end
    for line in io.lines(path) do
        if #line > 0 then
            n = n + 1
            tokens[n] = "Bearer " .. line
        end
    end
    if n == 0 then
        error("no tokens in " .. path)
    end
    i = ((thread_id or 0) * 4999) % n
end

function request()
    i = i % n + 1
    return wrk.format(nil, nil, { ["Authorization"] = tokens[i] })
end
