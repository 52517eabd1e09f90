-- List by key prefix, limit 50: "k0123" matches 100 keys (k012300..k012399), so every page is full.
dofile(os.getenv("BENCH_DIR") .. "/lib.lua")

request = function()
	return wrk.format("GET", string.format("/v1/memory?scope=mesh&prefix=k%04d&limit=50", math.random(0, 999)),
		headers)
end
