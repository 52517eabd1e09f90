/* Deadlines for slow clients. libmicrohttpd ends a connection only after --conn-timeout of
 * silence, so a client sending a byte a second holds its slot for ever, and enough of them (from
 * many addresses, or all through one proxy) hold every slot. Like Apache's mod_reqtimeout and
 * nginx's client_header_timeout: the head must be in within --header-timeout of its first byte
 * (of accept, for a connection's first request), and the body, after --body-timeout of grace,
 * must average --body-min-rate (so an import of any size is fine at that pace; a total deadline
 * would cut a large one). A request being answered is never cut: a handler, a parked long-poll or
 * event stream, a big answer read slowly. Nor is a kept-alive connection waiting for its next
 * request: that is the idle timeout's business.
 *
 * http.c reports the phases from libmicrohttpd's threads (atomics, no lock); the registry of
 * connections is locked only on open and close, and by this thread's pass once a second. It
 * cuts with shutdown(): libmicrohttpd, in its own thread, reads the end of the stream and closes
 * as when a client leaves. That is safe because libmicrohttpd reports a connection closed
 * (cm_conn_close, under the registry lock) before it closes its fd, so the fd we shut down is
 * never one reused by another connection. The client gets no 408: a slow client is typically not
 * reading, a plain close is the same for TLS (we cannot write into libmicrohttpd's TLS stream
 * from here), and nginx closes silently on its header timeout too. */
#include "clawmesh/reaper.h"
#include "clawmesh/feed.h"
#include "clawmesh/config.h"
#include "clawmesh/err.h"
#include "clawmesh/log.h"

#include <linux/tcp.h> /* tcpi_bytes_received, which glibc's netinet/tcp.h lacks */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

enum phase {
	PHASE_HEAD,    /* since accept, or since the first byte after the previous answer */
	PHASE_BODY,    /* since the head was complete */
	PHASE_ANSWER,  /* no deadline */
	PHASE_IDLE,    /* kept alive between requests: no deadline until a byte comes */
};

struct cm_conn {
	struct cm_conn *prev, *next; /* registry, under lock */
	int fd;
	int phase;                   /* enum phase; atomic */
	long long since_ms;          /* atomic */
	unsigned long long body;     /* bytes of this request's body so far; atomic */
	unsigned answers;            /* times it went idle; atomic */
	/* The reaper's own: TCP bytes received when it first saw the connection idle after its
	 * answers-th answer (a byte more starts the next request's head), and whether it has cut it. */
	unsigned long long idle_bytes;
	unsigned idle_answers;
	bool idle_seen, reaped;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* On CLOCK_MONOTONIC (cm_reaper_start): a wall clock stepped back (NTP at boot) must not stop the
 * passes for as long as the step. */
static pthread_cond_t wake;
static bool wake_ready;
static struct cm_conn *conns;
static const struct cm_config *config;
static pthread_t thread;
static bool running, stopping;
static unsigned long long reaped[CM_REAP_REASONS];

static void set_phase(struct cm_conn *c, enum phase p)
{
	if (!c)
		return;
	__atomic_store_n(&c->since_ms, cm_feed_now_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&c->phase, (int)p, __ATOMIC_RELEASE);
}

bool cm_reap_due(const struct cm_config *cfg, bool body, long long elapsed_ms, unsigned long long body_bytes)
{
	if (!body)
		return cfg->header_timeout && elapsed_ms > (long long)cfg->header_timeout * 1000;
	if (!cfg->body_timeout || !cfg->body_min_rate)
		return false;
	/* The deadline moves a second later for every body_min_rate bytes in (mod_reqtimeout's rule). */
	double allowed_ms = (double)cfg->body_timeout * 1000 + (double)body_bytes * 1000 / (double)cfg->body_min_rate;
	return (double)elapsed_ms > allowed_ms;
}

struct cm_conn *cm_conn_open(int fd)
{
	struct cm_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->fd = fd;
	c->phase = PHASE_HEAD;
	c->since_ms = cm_feed_now_ms();
	pthread_mutex_lock(&lock);
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	pthread_mutex_unlock(&lock);
	return c;
}

void cm_conn_close(struct cm_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&lock);
	free(c);
}

void cm_conn_request_line(struct cm_conn *c)
{
	/* Idle until now (its first bytes came between two passes of the reaper): the head's clock
	 * starts here. A connection's first request counts from accept, already running. */
	int idle = PHASE_IDLE;
	if (c && __atomic_compare_exchange_n(&c->phase, &idle, PHASE_HEAD, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		__atomic_store_n(&c->since_ms, cm_feed_now_ms(), __ATOMIC_RELAXED);
}

void cm_conn_body_begin(struct cm_conn *c)
{
	if (c)
		__atomic_store_n(&c->body, 0, __ATOMIC_RELAXED);
	set_phase(c, PHASE_BODY);
}

void cm_conn_body_bytes(struct cm_conn *c, size_t n)
{
	if (c)
		__atomic_add_fetch(&c->body, n, __ATOMIC_RELAXED);
}

void cm_conn_answering(struct cm_conn *c)
{
	set_phase(c, PHASE_ANSWER);
}

void cm_conn_idle(struct cm_conn *c)
{
	if (c)
		__atomic_add_fetch(&c->answers, 1, __ATOMIC_RELAXED);
	set_phase(c, PHASE_IDLE);
}

unsigned long long cm_reaper_reaped(enum cm_reap_reason r)
{
	return r < CM_REAP_REASONS ? __atomic_load_n(&reaped[r], __ATOMIC_RELAXED) : 0;
}

static bool tcp_bytes_received(int fd, unsigned long long *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || len < offsetof(struct tcp_info, tcpi_bytes_received) + 8)
		return false;
	*out = ti.tcpi_bytes_received;
	return true;
}

/* Under lock. An idle connection that received a byte since the reaper first saw it idle has
 * begun its next request: the head's clock starts now (a second late at most). */
static void watch_idle(struct cm_conn *c, long long now)
{
	unsigned long long got;
	unsigned answers = __atomic_load_n(&c->answers, __ATOMIC_RELAXED);
	if (!config->header_timeout || !tcp_bytes_received(c->fd, &got))
		return;
	/* Seen idle after another answer than last time: whole requests came and went between two
	 * passes, so the bytes counted then say nothing now. */
	if (!c->idle_seen || c->idle_answers != answers) {
		c->idle_seen = true;
		c->idle_answers = answers;
		c->idle_bytes = got;
		return;
	}
	int idle = PHASE_IDLE;
	if (got != c->idle_bytes &&
	    __atomic_compare_exchange_n(&c->phase, &idle, PHASE_HEAD, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		__atomic_store_n(&c->since_ms, now, __ATOMIC_RELAXED);
}

/* One pass over the registry, under lock: cut what is past its deadline, counted in cut. */
static void pass(unsigned long long cut[CM_REAP_REASONS])
{
	long long now = cm_feed_now_ms();
	pthread_mutex_lock(&lock);
	for (struct cm_conn *c = conns; c; c = c->next) {
		int phase = __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE);
		if (phase != PHASE_IDLE)
			c->idle_seen = false;
		if (c->reaped || phase == PHASE_ANSWER)
			continue;
		if (phase == PHASE_IDLE) {
			watch_idle(c, now);
			continue;
		}
		long long elapsed = now - __atomic_load_n(&c->since_ms, __ATOMIC_RELAXED);
		bool body = phase == PHASE_BODY;
		if (!cm_reap_due(config, body, elapsed, __atomic_load_n(&c->body, __ATOMIC_RELAXED)))
			continue;
		/* libmicrohttpd sees the stream end in its own thread and closes as for a client gone. */
		shutdown(c->fd, SHUT_RDWR);
		c->reaped = true;
		cut[body ? CM_REAP_BODY : CM_REAP_HEAD]++;
	}
	pthread_mutex_unlock(&lock);
}

static void *reaper_run(void *arg)
{
	(void)arg;
	/* At most one log line a minute, however many are cut: an attack must not flood the log. */
	unsigned long long unlogged[CM_REAP_REASONS] = {0};
	long long logged_at = 0;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&wake, &lock, &until);
		if (stopping)
			break;
		pthread_mutex_unlock(&lock);
		unsigned long long cut[CM_REAP_REASONS] = {0};
		pass(cut);
		for (int r = 0; r < CM_REAP_REASONS; r++) {
			__atomic_add_fetch(&reaped[r], cut[r], __ATOMIC_RELAXED);
			unlogged[r] += cut[r];
		}
		long long now = cm_feed_now_ms();
		if ((unlogged[CM_REAP_HEAD] || unlogged[CM_REAP_BODY]) && (!logged_at || now - logged_at >= 60000)) {
			cm_log_warn("http: closed %llu connections whose request head took over %u s, and %llu whose body "
				    "came slower than %zu bytes/s (slow clients; next report in a minute at the earliest)",
				    unlogged[CM_REAP_HEAD], config->header_timeout, unlogged[CM_REAP_BODY],
				    config->body_min_rate);
			unlogged[CM_REAP_HEAD] = unlogged[CM_REAP_BODY] = 0;
			logged_at = now;
		}
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int cm_reaper_start(const struct cm_config *cfg)
{
	config = cfg;
	if (running || (!cfg->header_timeout && !(cfg->body_timeout && cfg->body_min_rate)))
		return 0;
	if (!wake_ready) {
		pthread_condattr_t a;
		if (pthread_condattr_init(&a) || pthread_condattr_setclock(&a, CLOCK_MONOTONIC) ||
		    pthread_cond_init(&wake, &a))
			return -CM_EINTERNAL;
		pthread_condattr_destroy(&a);
		wake_ready = true;
	}
	stopping = false;
	if (pthread_create(&thread, NULL, reaper_run, NULL))
		return -CM_EINTERNAL;
	running = true;
	return 0;
}

void cm_reaper_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = false;
}
