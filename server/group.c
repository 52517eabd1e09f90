/* The committer of grouped memory writes (see group.h). One mutex guards the queue, each op's
 * stage and its request pointer. A request is suspended under it before its op is queued, and
 * resumed under it only once its op is done, so a resume can never come before its suspend; the
 * op outlives its request when the request goes first (its last reference frees it). */
#include "clawmesh/group.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/http.h"
#include "clawmesh/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Writes waiting at most: past it a write is answered 503 at once rather than queued. (Each
 * connection has at most one request in flight, so --max-connections bounds it too.) */
#define QUEUE_MAX 1024
/* A group's ops text at most (values are up to --max-value each); one op always goes. */
#define GROUP_BYTES_MAX (8u * 1024 * 1024)
#define DRAIN_MS 5000

enum stage { QUEUED, RUNNING, DONE };

struct op {
	struct op *next;
	struct cm_request *req; /* NULL once the request has gone (its op is then freed by the committer) */
	enum stage stage;
	char *json; /* the op as cm_memory_write_group takes it */
	size_t len;
	int err;
	struct cm_store_result result;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t answered = PTHREAD_COND_INITIALIZER;
static struct op *head, *tail; /* queued, in arrival order */
static unsigned nqueued;
static unsigned attached; /* ops whose request has not gone yet */
static bool running, closing;
static unsigned group_max;
static size_t max_value;
static pthread_t thread;
static unsigned long long ngroups, nwrites; /* under the lock */

static void op_free(struct op *o)
{
	if (!o)
		return;
	free(o->json);
	cm_store_result_clear(&o->result);
	free(o);
}

/* Under the lock. */
static void unlink_queued(struct op *o)
{
	struct op **p = &head, *prev = NULL;
	while (*p && *p != o)
		prev = *p, p = &(*p)->next;
	if (!*p)
		return;
	*p = o->next;
	if (tail == o)
		tail = prev;
	nqueued--;
}

/* The request has gone (its state_free): whatever stage its op is at. */
static void forget(void *state)
{
	struct op *o = state;
	bool free_now = true;
	pthread_mutex_lock(&lock);
	if (o->stage == QUEUED)
		unlink_queued(o); /* never written: nobody is told anything */
	else if (o->stage == RUNNING)
		free_now = false, o->req = NULL; /* the committer frees it when the group is done */
	if (--attached == 0)
		pthread_cond_broadcast(&answered);
	pthread_mutex_unlock(&lock);
	if (free_now)
		op_free(o);
}

int cm_group_submit(struct cm_request *req, const struct cm_memory_write *w)
{
	pthread_mutex_lock(&lock);
	bool on = running && !closing;
	pthread_mutex_unlock(&lock);
	if (!on || w->not_before)
		return 0;
	struct op *o = calloc(1, sizeof *o);
	if (!o)
		return -CM_EINTERNAL;
	o->result.version = -1;
	o->json = cm_store_memory_op_json(w);
	if (!o->json) {
		op_free(o);
		return -CM_EINTERNAL;
	}
	o->len = strlen(o->json);
	pthread_mutex_lock(&lock);
	int r = 1;
	if (!running || closing)
		r = 0;
	else if (nqueued >= QUEUE_MAX)
		r = -CM_EUNAVAIL;
	if (r == 1) {
		o->req = req;
		req->state = o;
		req->state_free = forget;
		req->keep_admission = true;
		cm_req_suspend(req);
		if (tail)
			tail->next = o;
		else
			head = o;
		tail = o;
		nqueued++;
		attached++;
		pthread_cond_signal(&work);
	}
	pthread_mutex_unlock(&lock);
	if (r != 1) {
		if (r < 0)
			cm_log_warn("group: %u writes queued already; answering 503", QUEUE_MAX);
		op_free(o);
	}
	return r;
}

bool cm_group_outcome(struct cm_request *req, int *err, struct cm_store_result *out)
{
	if (req->state_free != forget || !req->state)
		return false;
	struct op *o = req->state;
	pthread_mutex_lock(&lock);
	bool done = o->stage == DONE;
	pthread_mutex_unlock(&lock);
	if (!done) {
		*err = -CM_EINTERNAL; /* resumed by something else than its outcome: never expected */
		return true;
	}
	*err = o->err;
	*out = o->result;
	o->result.entry = NULL;
	cm_store_result_clear(&o->result);
	return true;
}

/* One group: one statement, one commit (the store tells the cache of every write done). */
static void run(struct op **ops, size_t n, size_t bytes)
{
	struct cm_store_result res[CM_GROUP_COMMIT_MAX];
	int err[CM_GROUP_COMMIT_MAX];
	char *text = malloc(bytes + 1);
	int e = text ? 0 : -CM_EINTERNAL;
	if (text) {
		size_t at = 0;
		text[at++] = '[';
		for (size_t i = 0; i < n; i++) {
			if (i)
				text[at++] = ',';
			memcpy(text + at, ops[i]->json, ops[i]->len);
			at += ops[i]->len;
		}
		text[at++] = ']';
		text[at] = '\0';
	}
	for (size_t i = 0; i < n; i++)
		res[i] = (struct cm_store_result){.version = -1};
	if (e == 0)
		e = cm_store_memory_write_group(text, max_value, n, res, err);
	free(text);
	for (size_t i = 0; i < n; i++) {
		struct op *o = ops[i];
		o->err = e < 0 ? e : err[i];
		o->result = res[i];
	}
	cm_db_end_request();
}

static void *committer(void *arg)
{
	(void)arg;
	struct op *ops[CM_GROUP_COMMIT_MAX];
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!head && !closing)
			pthread_cond_wait(&work, &lock);
		if (!head) {
			pthread_mutex_unlock(&lock);
			break; /* closing, and everything queued has been answered */
		}
		size_t n = 0, bytes = 2;
		while (head && n < group_max && (n == 0 || bytes + head->len + 1 <= GROUP_BYTES_MAX)) {
			struct op *o = head;
			head = o->next;
			if (!head)
				tail = NULL;
			o->next = NULL;
			o->stage = RUNNING;
			nqueued--;
			bytes += o->len + 1;
			ops[n++] = o;
		}
		pthread_mutex_unlock(&lock);
		run(ops, n, bytes);
		pthread_mutex_lock(&lock);
		ngroups++;
		nwrites += n;
		for (size_t i = 0; i < n; i++) {
			ops[i]->stage = DONE;
			if (ops[i]->req)
				cm_req_resume(ops[i]->req);
			else
				op_free(ops[i]);
		}
		pthread_mutex_unlock(&lock);
	}
	cm_db_thread_release();
	return NULL;
}

void cm_group_stats(struct cm_group_stats *out)
{
	pthread_mutex_lock(&lock);
	*out = (struct cm_group_stats){ngroups, nwrites, nqueued};
	pthread_mutex_unlock(&lock);
}

int cm_group_start(const struct cm_config *cfg)
{
	if (!cfg->group_commit)
		return 0;
	pthread_mutex_lock(&lock);
	group_max = cfg->group_commit > CM_GROUP_COMMIT_MAX ? CM_GROUP_COMMIT_MAX : cfg->group_commit;
	max_value = cfg->max_value;
	closing = false;
	running = true;
	pthread_mutex_unlock(&lock);
	if (pthread_create(&thread, NULL, committer, NULL)) {
		cm_log_error("group: cannot start the committer thread");
		pthread_mutex_lock(&lock);
		running = false;
		pthread_mutex_unlock(&lock);
		return -CM_EINTERNAL;
	}
	return 0;
}

void cm_group_stop(void)
{
	pthread_mutex_lock(&lock);
	bool was = running && !closing;
	closing = true;
	pthread_cond_signal(&work);
	pthread_mutex_unlock(&lock);
	if (!was)
		return;
	/* The committer answers everything queued before it ends: committed, or 503. */
	pthread_join(thread, NULL);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DRAIN_MS / 1000;
	pthread_mutex_lock(&lock);
	while (attached && pthread_cond_timedwait(&answered, &lock, &until) == 0)
		;
	if (attached)
		cm_log_warn("group: %u resumed writes not answered in %d ms", attached, DRAIN_MS);
	running = false;
	pthread_mutex_unlock(&lock);
}
