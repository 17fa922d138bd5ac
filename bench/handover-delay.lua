-- handover-delay.lua: wrk script for bench/handover's rate-limited rows (--load below 100).
-- Before each request wrk calls delay() and waits that many milliseconds (a whole number: wrk's timer takes whole
-- ms). For a mean delay D of HANDOVER_DELAY_MS (fractional, default 0), it returns floor(D) + 1 with probability
-- frac(D) and floor(D) otherwise, so the mean over many requests is D. The latency wrk reports starts when the
-- request is written, after the delay (wrk's own rule), so it is the server's time, not the wait.
-- Usage: HANDOVER_DELAY_MS=1.6 wrk -t2 -c32 -d10s --latency -s bench/handover-delay.lua http://127.0.0.1:18181/
-- (with Connection: close wrk connects first and waits the delay on the new connection before writing.)

local mean = tonumber(os.getenv("HANDOVER_DELAY_MS") or "") or 0
if mean < 0 then mean = 0 end
local whole = math.floor(mean)
local fraction = mean - whole

-- Each wrk thread runs this file in a Lua state of its own; setup() (in the main state) numbers them, so their
-- random sequences differ.
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + (thread_number or 0))
end

function delay()
    if math.random() < fraction then
        return whole + 1
    end
    return whole
end
