-- wrk script for bench/exchange.sh: POSTs one fixed request, read from a
-- file of header lines, a blank line and the body; with a second file,
-- its first line is the department's credential, sent as
-- "Authorization: Bearer <token>".  At the end it prints one line,
--
--   RESULT requests=N seconds=S rps=R p50_us=A p99_us=B status_errors=E
--          socket_errors=F
--
-- which the shell script parses (wrk's own summary goes to stdout too).
--
--   wrk -t1 -c1 -d5s -s bench/lib/exchange.lua URL -- REQUEST [TOKEN]

local req

local function read_file(path)
    local f, err = io.open(path, "rb")
    if f == nil then
        error("cannot open " .. path .. ": " .. tostring(err))
    end
    local text = f:read("*a")
    f:close()
    return text
end

function init(args)
    if args[1] == nil then
        error("usage: wrk ... -s exchange.lua URL -- REQUEST [TOKEN]")
    end
    local text = read_file(args[1])
    local head, body = text:match("^(.-)\n\n(.*)$")
    if head == nil then
        -- no header lines at all: the file starts with the blank line
        head, body = "", text:match("^\n(.*)$")
    end
    if body == nil then
        error(args[1] .. ": header lines, a blank line, then the body")
    end
    local headers = {}
    for line in head:gmatch("[^\n]+") do
        local name, value = line:match("^([^:]+):%s*(.-)%s*$")
        if name == nil then
            error(args[1] .. ": bad header line " .. line)
        end
        headers[name] = value
    end
    if args[2] ~= nil then
        local token = read_file(args[2]):match("^%s*(%S+)")
        if token == nil then
            error(args[2] .. ": no token")
        end
        headers["Authorization"] = "Bearer " .. token
    end
    req = wrk.format("POST", nil, headers, body)
end

function request()
    return req
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1000000
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d "
        .. "status_errors=%d socket_errors=%d\n",
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50), latency:percentile(99), e.status,
        e.connect + e.read + e.write + e.timeout))
end
