/* The change-feed fan-out measurement for bench/run.sh: park N long-polls on clawmeshd, read its
 * memory and CPU while they wait, then make one write and time how long it takes to reach all
 * of them. C rather than a script: a thousand sockets in one epoll set, timed to the microsecond,
 * with nothing but libc (the whole run stays on what every Debian 12 has).
 *   fanout PORT SERVER_PID SINCE N KEY     (BENCH_TOKEN: a token that reads and writes mesh;
 *                                           BENCH_ADMIN: an admin token, to read /metrics)
 * Prints one line of name=value pairs; exit 1 when any poll answered wrong or too early. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_POLLS 10000
#define REPLY_MAX 16384
#define PARK_TIMEOUT_MS 30000
#define ANSWER_TIMEOUT_MS 20000
#define IDLE_MS 3000

struct poll_conn {
	int fd;
	size_t len;
	char buf[REPLY_MAX];
	double done_ms; /* since the write started; < 0 while unanswered */
};

static unsigned short port;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "fanout: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(1);
}

static int connect_server(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		s += w;
		n -= (size_t)w;
	}
}

/* A whole HTTP response in buf: its headers and Content-Length bytes of body. */
static bool response_complete(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return false;
	const char *cl = memmem(buf, (size_t)(end - buf), "\r\nContent-Length:", 17);
	if (!cl)
		cl = memmem(buf, (size_t)(end - buf), "\r\ncontent-length:", 17);
	if (!cl)
		return true; /* no body announced: the headers are the answer */
	size_t body = strtoul(cl + 17, NULL, 10);
	return len >= (size_t)(end + 4 - buf) + body;
}

/* One request on a fresh connection, closed after; the whole response into out. */
static size_t fetch(const char *req, char *out, size_t cap)
{
	int fd = connect_server();
	send_all(fd, req, strlen(req));
	size_t len = 0;
	while (len < cap - 1) {
		ssize_t r = read(fd, out + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (response_complete(out, len))
			break;
	}
	out[len] = '\0';
	close(fd);
	return len;
}

static long parked_now(const char *admin)
{
	static char buf[1 << 20];
	char req[256];
	snprintf(req, sizeof req,
		 "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
		 admin);
	fetch(req, buf, sizeof buf);
	const char *p = strstr(buf, "\nclawmesh_feed_parked ");
	return p ? strtol(p + 22, NULL, 10) : -1;
}

static long proc_status_kib(int pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	long v = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/* utime + stime of the whole process, in clock ticks. */
static long long cpu_ticks(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		die("stat");
	unsigned long long ut = 0, st = 0;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		die("stat fields");
	return (long long)(ut + st);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: fanout PORT SERVER_PID SINCE N KEY (env BENCH_TOKEN, BENCH_ADMIN)\n");
		return 2;
	}
	port = (unsigned short)atoi(argv[1]);
	int pid = atoi(argv[2]);
	long long since = atoll(argv[3]);
	int n = atoi(argv[4]);
	const char *key = argv[5];
	const char *token = getenv("BENCH_TOKEN"), *admin = getenv("BENCH_ADMIN");
	if (!token || !admin || n < 1 || n > MAX_POLLS) {
		fprintf(stderr, "fanout: BENCH_TOKEN, BENCH_ADMIN and 1 <= N <= %d are needed\n", MAX_POLLS);
		return 2;
	}

	long rss_before = proc_status_kib(pid, "VmRSS");
	struct poll_conn *c = calloc((size_t)n, sizeof *c);
	if (!c)
		die("calloc");
	char req[512];
	int rl = snprintf(req, sizeof req,
			  "GET /v1/changes?since=%lld&wait=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  "Authorization: Bearer %s\r\n\r\n",
			  since, token);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	double t_park = now_ms();
	for (int i = 0; i < n; i++) {
		c[i].fd = connect_server();
		c[i].done_ms = -1;
		send_all(c[i].fd, req, (size_t)rl);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0)
			die("epoll_ctl");
	}
	long parked = 0;
	while ((parked = parked_now(admin)) < n) {
		if (now_ms() - t_park > PARK_TIMEOUT_MS) {
			fprintf(stderr, "fanout: only %ld of %d long-polls parked after %d ms\n", parked, n,
				PARK_TIMEOUT_MS);
			return 1;
		}
		usleep(20000);
	}
	double park_ms = now_ms() - t_park;

	/* Idle: nothing may answer, and the server should spend (almost) no CPU. */
	long rss_parked = proc_status_kib(pid, "VmRSS");
	long long ticks0 = cpu_ticks(pid);
	struct epoll_event evs[256];
	double idle_end = now_ms() + IDLE_MS;
	for (double left; (left = idle_end - now_ms()) > 0;) {
		int k = epoll_wait(ep, evs, 256, (int)left + 1);
		if (k > 0) {
			fprintf(stderr, "fanout: a long-poll answered before any write\n");
			return 1;
		}
	}
	long long idle_ticks = cpu_ticks(pid) - ticks0;

	/* One write; the clock runs from just before its request is sent. */
	static char body[512], put[2048];
	int bl = snprintf(body, sizeof body, "{\"value\":{\"fanout\":%lld,\"text\":\"one write for %d parked long-polls\"}}",
			  (long long)time(NULL), n);
	int pl = snprintf(put, sizeof put,
			  "PUT /v1/memory/mesh/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
			  "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			  key, token, bl, body);
	int wfd = connect_server();
	struct epoll_event wev = {.events = EPOLLIN, .data.u32 = (uint32_t)n};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &wev) < 0)
		die("epoll_ctl");
	static char wbuf[REPLY_MAX];
	size_t wlen = 0;
	double write_ms = -1;
	double t0 = now_ms();
	send_all(wfd, put, (size_t)pl);
	int answered = 0, bad = 0;
	while (answered < n || write_ms < 0) {
		double left = t0 + ANSWER_TIMEOUT_MS - now_ms();
		if (left <= 0)
			break;
		int k = epoll_wait(ep, evs, 256, (int)left + 1);
		double t = now_ms() - t0;
		for (int e = 0; e < k; e++) {
			uint32_t i = evs[e].data.u32;
			if (i == (uint32_t)n) {
				ssize_t r = read(wfd, wbuf + wlen, sizeof wbuf - 1 - wlen);
				if (r > 0)
					wlen += (size_t)r;
				if (r <= 0 || response_complete(wbuf, wlen)) {
					wbuf[wlen] = '\0';
					write_ms = t;
					epoll_ctl(ep, EPOLL_CTL_DEL, wfd, NULL);
					if (strncmp(wbuf, "HTTP/1.1 200", 12) && strncmp(wbuf, "HTTP/1.1 201", 12)) {
						fprintf(stderr, "fanout: the write answered: %.80s\n", wbuf);
						bad++;
					}
				}
				continue;
			}
			struct poll_conn *p = &c[i];
			ssize_t r = read(p->fd, p->buf + p->len, sizeof p->buf - 1 - p->len);
			if (r > 0)
				p->len += (size_t)r;
			if (r <= 0 || response_complete(p->buf, p->len) || p->len == sizeof p->buf - 1) {
				p->buf[p->len] = '\0';
				p->done_ms = t;
				answered++;
				epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
				if (strncmp(p->buf, "HTTP/1.1 200", 12) || !strstr(p->buf, key))
					bad++;
			}
		}
	}
	double *lat = malloc(sizeof(double) * (size_t)n);
	if (!lat)
		die("malloc");
	int m = 0;
	for (int i = 0; i < n; i++)
		if (c[i].done_ms >= 0)
			lat[m++] = c[i].done_ms;
	qsort(lat, (size_t)m, sizeof *lat, cmp_double);
	printf("polls=%d parked=%ld park_ms=%.0f rss_before_kib=%ld rss_parked_kib=%ld idle_ticks=%lld "
	       "idle_s=%.1f clk_tck=%ld write_ms=%.2f first_ms=%.2f p50_ms=%.2f all_ms=%.2f answered=%d bad=%d\n",
	       n, parked, park_ms, rss_before, rss_parked, idle_ticks, IDLE_MS / 1000.0, sysconf(_SC_CLK_TCK),
	       write_ms, m ? lat[0] : -1, m ? lat[m / 2] : -1, m == n ? lat[m - 1] : -1, answered, bad);
	for (int i = 0; i < n; i++)
		close(c[i].fd);
	close(wfd);
	free(lat);
	free(c);
	return answered == n && bad == 0 && write_ms >= 0 ? 0 : 1;
}
