-- Shared by bench/run.sh's wrk scripts: the token, a random seed per thread, the words and keys
-- of bench/load.sql, base64 for etcd, and a done() that prints one line run.sh parses.
-- Each script starts with dofile(os.getenv("BENCH_DIR") .. "/lib.lua").
local syl = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "fu",
	"ga", "hi", "jo", "be", "vu", "zo", "ce", "wa", "ny", "xi"}

entries = 100000

-- Word w (0..1999), as bench_word() in bench/load.sql.
function word(w)
	return syl[1 + w % 20] .. syl[1 + math.floor(w / 20) % 20] .. syl[1 + math.floor(w / 400)]
end

-- 26 random words: the text of one value, about 180 bytes.
function text()
	local t = {}
	for i = 1, 26 do
		t[i] = word(math.random(0, 1999))
	end
	return table.concat(t, " ")
end

function key(i)
	return string.format("k%06d", i)
end

function random_key()
	return key(math.random(1, entries))
end

headers = {["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")}

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function base64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local q = {}
		for j = 3, 0, -1 do
			local v = math.floor(n / 64 ^ j) % 64
			q[#q + 1] = b64chars:sub(v + 1, v + 1)
		end
		if not b then q[3] = "=" end
		if not c then q[4] = "=" end
		out[#out + 1] = table.concat(q)
	end
	return table.concat(out)
end

-- Threads are numbered in setup() (main state) and seeded apart in init() (their own state).
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

function init(args)
	math.randomseed(os.time() * 100 + (tid or 0))
	if prepare then prepare() end
end

function done(summary, latency, requests)
	local e = summary.errors
	-- busy_s: the latencies added up. A connection waits for one answer at a time, so this can
	-- never honestly exceed connections x duration (run.sh checks it).
	io.write(string.format("RESULT rps=%.1f p50_us=%.0f p99_us=%.0f requests=%d status_errors=%d socket_errors=%d busy_s=%.2f duration_s=%.2f\n",
		summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
		summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
		summary.requests * latency.mean / 1e6, summary.duration / 1e6))
end
