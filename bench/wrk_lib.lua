-- Shared by the kho benchmark's wrk scripts (loaded with dofile): numbers the threads and prints
-- one machine-readable "BENCH {json}" line at the end of a run for bench/report.py.

local threads = {}

-- Each thread gets tid (0, 1, ...) so that scripts can make per-thread unique paths and bodies.
function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

-- Reads a list file (one entry a line) into a table; a run without entries is an error.
function bench_read_lines(path)
    local lines = {}
    for line in io.lines(path) do
        if line ~= "" then
            table.insert(lines, line)
        end
    end
    assert(#lines > 0, "no entries in " .. path)
    return lines
end

function done(summary, latency, requests)
    local e = summary.errors
    -- Scripts that define response() count statuses per thread in the global table statuses.
    local codes = {}
    for _, t in ipairs(threads) do
        local s = t:get("statuses")
        if s then
            for code, n in pairs(s) do
                codes[code] = (codes[code] or 0) + n
            end
        end
    end
    local parts = {}
    for code, n in pairs(codes) do
        table.insert(parts, string.format('"%d":%d', code, n))
    end
    io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"bytes_in":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},"statuses":{%s}}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max, table.concat(parts, ",")))
end
