-- wrk script for bench/run.sh.
--
-- The request comes from the environment (unset: wrk's plain GET of the URL path):
--   BENCH_METHOD        e.g. POST
--   BENCH_BODY          request body (a url-encoded form for POST /login)
--   BENCH_CONTENT_TYPE  its Content-Type
-- At the end it prints one machine-readable line that run.sh reads:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N status_errors=N socket_errors=N
--         connect_errors=N read_errors=N write_errors=N timeouts=N

local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local content_type = os.getenv("BENCH_CONTENT_TYPE")

if method and method ~= "" then
  wrk.method = method
end
if body and body ~= "" then
  wrk.body = body
end
if content_type and content_type ~= "" then
  wrk.headers["Content-Type"] = content_type
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d" ..
    " connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout,
    e.connect, e.read, e.write, e.timeout))
end
