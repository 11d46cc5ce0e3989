/*
 * rma_bw.c - raw libfabric RMA write bandwidth baseline for mxl-fabrics.
 *
 * One binary, two roles:
 *   target    registers `slots` grain regions (FI_REMOTE_WRITE), publishes its
 *             address and the per-slot keys/addresses through an exchange file,
 *             then busy-polls its CQ and checks the remote CQ data of every
 *             completion against the expected immediate sequence.
 *   initiator registers its own `slots` source regions (FI_WRITE), reads the
 *             exchange file, and posts fi_writemsg of whole regions with
 *             FI_DELIVERY_COMPLETE | FI_REMOTE_CQ_DATA, keeping at most
 *             `window` writes in flight.
 *
 * Endpoint setup mirrors upstream MXL Fabrics (tcp: FI_EP_MSG with passive
 * endpoint/EQ/accept; shm: FI_EP_RDM with an FI_AV_TABLE address vector).
 *
 * Build: cc -O2 -o rma_bw rma_bw.c $(pkg-config --cflags --libs libfabric)
 * Licence: Apache-2.0 (same as the repository).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#define HEADER_BYTES 8192u
#define SLICE_END 1080u
#define MAX_ADDR 256
#define EXCHANGE_MAGIC "rma_bw-exchange-v1"
/* Paced mode: the scheduled send time (CLOCK_REALTIME ns) travels at this header offset. */
#define STAMP_OFFSET 16u

/* -P: payload pages after the header carry the grain's sequence number at their start. */
#define STAMP_PAGE 4096u

static void stamp_pages(uint8_t *buf, size_t region_bytes, uint64_t seq)
{
	for (size_t off = HEADER_BYTES; off + sizeof seq <= region_bytes; off += STAMP_PAGE)
		memcpy(buf + off, &seq, sizeof seq);
}

/*
 * Pages of slot seq % slots that hold neither grain `seq` nor a later grain of the same
 * slot (the initiator may already be writing one while the target checks): stale, torn
 * or misplaced.
 */
static unsigned long bad_pages(const uint8_t *buf, size_t region_bytes, uint64_t seq, unsigned slots)
{
	unsigned long bad = 0;
	for (size_t off = HEADER_BYTES; off + sizeof seq <= region_bytes; off += STAMP_PAGE) {
		uint64_t v;
		memcpy(&v, buf + off, sizeof v);
		bad += v < seq || v % slots != seq % slots;
	}
	return bad;
}

enum role { ROLE_NONE, ROLE_TARGET, ROLE_INITIATOR };
enum prov { PROV_NONE, PROV_TCP, PROV_SHM };

struct opts {
	enum role role;
	enum prov prov;
	const char *node;
	const char *service;
	size_t grain_bytes;
	unsigned slots;
	unsigned long count;
	unsigned window;
	const char *xfile;
	double timeout;
	bool quiet;
	bool manual_progress;
	bool verify;
	bool pages; /* -P: stamp / check every 4 KiB page, the per-grain work of the mxl-fabrics bench */
	double rate;   /* paced: grains per second (0 = unpaced) */
	bool blocking; /* wait in the CQ (fi_cq_sread) and sleep between grains instead of spinning */
	unsigned long warmup; /* paced target: the first this many arrivals are left out of the latency figures */
};

struct slot_mem {
	uint8_t *buf;
	struct fid_mr *mr;
	void *desc;
	uint64_t key;
};

struct ctx {
	struct opts o;
	size_t region_bytes;
	struct fi_info *hints;
	struct fi_info *info;     /* result of fi_getinfo (list head) */
	struct fi_info *ep_info;  /* info used for the endpoint (connreq info on tcp target) */
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_pep *pep;
	struct fid_eq *eq;
	struct fid_ep *ep;
	struct fid_cq *cq;
	struct fid_av *av;
	fi_addr_t peer;
	bool virt_addr;
	bool mr_local;
	bool connected;
	struct slot_mem *slot;
	/* remote side as seen by the initiator */
	uint64_t *rkey;
	uint64_t *raddr;
	uint8_t addr[MAX_ADDR];
	size_t addrlen;
	double deadline;
	/* paced mode */
	double *lat_ms;   /* target: arrival - scheduled send time, per grain */
	unsigned long lat_n;
	bool sread_ok;    /* the CQ supports fi_cq_sread */
	struct rusage ru0;
	double cpu_wall0;
};

static struct opts *g_opts;

/* ------------------------------------------------------------------ utils */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* CPU of this process (user + sys) as % of one core since cpu_start(). */
static void cpu_start(struct ctx *c)
{
	getrusage(RUSAGE_SELF, &c->ru0);
	c->cpu_wall0 = now();
}

static double cpu_pct(struct ctx *c)
{
	struct rusage r;
	double wall = now() - c->cpu_wall0;
	getrusage(RUSAGE_SELF, &r);
	double used = (double)(r.ru_utime.tv_sec - c->ru0.ru_utime.tv_sec) +
		      (double)(r.ru_stime.tv_sec - c->ru0.ru_stime.tv_sec) +
		      (double)(r.ru_utime.tv_usec - c->ru0.ru_utime.tv_usec) * 1e-6 +
		      (double)(r.ru_stime.tv_usec - c->ru0.ru_stime.tv_usec) * 1e-6;
	return wall > 0 ? 100.0 * used / wall : 0.0;
}

/* One completion, waiting in the CQ up to timeout_ms when blocking (and supported). */
static ssize_t cq_read_one(struct ctx *c, struct fi_cq_data_entry *e, int timeout_ms)
{
	if (c->o.blocking && c->sread_ok) {
		ssize_t rd = fi_cq_sread(c->cq, e, 1, NULL, timeout_ms);
		if (rd == -FI_ENOSYS || rd == -FI_ENODATA) {
			c->sread_ok = false; /* no wait object: sleep-poll instead */
		} else {
			return rd;
		}
	}
	ssize_t rd = fi_cq_read(c->cq, e, 1);
	if (rd == -FI_EAGAIN && c->o.blocking && timeout_ms > 0)
		usleep(50);
	return rd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct_of(const double *sorted, unsigned long n, double p)
{
	if (n == 0)
		return 0;
	double r = p / 100.0 * (double)n;
	unsigned long i = (unsigned long)r;
	if ((double)i < r)
		i++;
	if (i == 0)
		i = 1;
	if (i > n)
		i = n;
	return sorted[i - 1];
}

static const char *role_name(enum role r)
{
	return r == ROLE_TARGET ? "target" : "initiator";
}

static void info_msg(const char *fmt, ...)
{
	va_list ap;
	if (g_opts && g_opts->quiet)
		return;
	fprintf(stderr, "rma_bw[%s]: ", g_opts ? role_name(g_opts->role) : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void err_msg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rma_bw[%s] error: ", g_opts ? role_name(g_opts->role) : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define FI_CHECK(call)                                                          \
	do {                                                                    \
		int fi_check_rc_ = (int)(call);                                 \
		if (fi_check_rc_) {                                             \
			err_msg("%s failed: %d (%s)", #call, fi_check_rc_,      \
				fi_strerror(-fi_check_rc_));                    \
			return -1;                                              \
		}                                                               \
	} while (0)

static bool timed_out(struct ctx *c, const char *what)
{
	if (now() > c->deadline) {
		err_msg("timeout (%.0f s) while %s", c->o.timeout, what);
		return true;
	}
	return false;
}

/* Last-resort guard against a hang inside a blocking libfabric call. */
static void on_alarm(int sig)
{
	static const char msg[] = "rma_bw: watchdog expired, aborting\n";
	(void)sig;
	ssize_t r = write(2, msg, sizeof msg - 1);
	(void)r;
	_exit(3);
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ (uint64_t)now();
	return v;
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int from_hex(const char *s, uint8_t *out, size_t max, size_t *n)
{
	size_t len = strlen(s);
	if (len % 2 || len / 2 > max)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*n = len / 2;
	return 0;
}

static const char *progress_name(enum fi_progress p)
{
	return p == FI_PROGRESS_AUTO ? "auto" : p == FI_PROGRESS_MANUAL ? "manual" : "unspec";
}

/* ------------------------------------------------------------- options */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rma_bw -r target|initiator -p tcp|shm -x exchange-file [options]\n"
		"  -n node       tcp: local IP to bind (default 127.0.0.1)\n"
		"                shm: endpoint name (target default rmabw-target-<pid>,\n"
		"                initiator default: provider-chosen)\n"
		"  -s service    tcp: target port (default 0 = ephemeral); shm: optional suffix\n"
		"  -g bytes      grain payload bytes (default 5529600); region = 8192 + grain\n"
		"  -k slots      grain slots on each side (default 10)\n"
		"  -c count      grains to write (default 200)\n"
		"  -w window     max writes in flight at the initiator (default 4)\n"
		"  -x file       out-of-band exchange file (target writes, initiator reads)\n"
		"  -t seconds    abort after this long (default 30)\n"
		"  -m            request FI_PROGRESS_MANUAL (data and control); default: leave\n"
		"                progress unset, as upstream MXL does\n"
		"  -V            verify data (diagnostic, both roles): the initiator stamps the\n"
		"                sequence number at header offset 8, the target checks it and\n"
		"                the region's last byte on every completion (slows the target)\n"
		"  -P            pages (both roles): the initiator writes the grain's sequence\n"
		"                number at the start of every 4 KiB page of the payload before\n"
		"                posting it, the target checks every page at each completion: the\n"
		"                per-grain work mxl-fabrics' bench source and readers do (unpaced)\n"
		"  -R rate       paced: post grain i at start + i / rate seconds (grains/s); the\n"
		"                target reports arrival - scheduled time (p50/p90/p99/max)\n"
		"  -B            blocking: wait in the CQ (fi_cq_sread) and sleep until the next\n"
		"                grain instead of spinning (like upstream's demo); default busy\n"
		"  -W grains     paced target: leave the first this many arrivals out of the\n"
		"                latency figures and report their late ones as warmupLate\n"
		"  -q            quiet: only the JSON result line (and errors)\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int ch;
	char *end;
	memset(o, 0, sizeof *o);
	o->grain_bytes = 5529600;
	o->slots = 10;
	o->count = 200;
	o->window = 4;
	o->timeout = 30;
	while ((ch = getopt(argc, argv, "r:p:n:s:g:k:c:w:x:t:R:W:BmVPqh")) != -1) {
		switch (ch) {
		case 'r':
			if (!strcmp(optarg, "target"))
				o->role = ROLE_TARGET;
			else if (!strcmp(optarg, "initiator"))
				o->role = ROLE_INITIATOR;
			else
				return -1;
			break;
		case 'p':
			if (!strcmp(optarg, "tcp"))
				o->prov = PROV_TCP;
			else if (!strcmp(optarg, "shm"))
				o->prov = PROV_SHM;
			else
				return -1;
			break;
		case 'n': o->node = optarg; break;
		case 's': o->service = optarg; break;
		case 'g':
			o->grain_bytes = strtoull(optarg, &end, 0);
			if (*end) return -1;
			break;
		case 'k':
			o->slots = (unsigned)strtoul(optarg, &end, 0);
			if (*end) return -1;
			break;
		case 'c':
			o->count = strtoul(optarg, &end, 0);
			if (*end) return -1;
			break;
		case 'w':
			o->window = (unsigned)strtoul(optarg, &end, 0);
			if (*end) return -1;
			break;
		case 'x': o->xfile = optarg; break;
		case 't':
			o->timeout = strtod(optarg, &end);
			if (*end) return -1;
			break;
		case 'q': o->quiet = true; break;
		case 'R':
			o->rate = strtod(optarg, &end);
			if (*end || o->rate < 0) return -1;
			break;
		case 'B': o->blocking = true; break;
		case 'W':
			o->warmup = strtoul(optarg, &end, 10);
			if (*end || optarg[0] == '-') return -1;
			break;
		case 'm': o->manual_progress = true; break;
		case 'V': o->verify = true; break;
		case 'P': o->pages = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc || o->role == ROLE_NONE || o->prov == PROV_NONE || !o->xfile)
		return -1;
	if (o->slots == 0 || o->slots > 65536 || o->count == 0 || o->window == 0 ||
	    o->timeout <= 0 || o->grain_bytes == 0)
		return -1;
	if (o->window > o->slots) {
		fprintf(stderr, "rma_bw: window (%u) must not exceed slots (%u)\n",
			o->window, o->slots);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------- fabric setup */

static int get_info(struct ctx *c)
{
	char node_buf[64];
	const char *node = c->o.node;
	const char *service = c->o.service;
	uint64_t flags = FI_SOURCE;
	int rc;

	c->hints = fi_allocinfo();
	if (!c->hints) {
		err_msg("fi_allocinfo failed");
		return -1;
	}
	c->hints->fabric_attr->prov_name = strdup(c->o.prov == PROV_TCP ? "tcp" : "shm");
	c->hints->ep_attr->type = c->o.prov == PROV_TCP ? FI_EP_MSG : FI_EP_RDM;
	c->hints->domain_attr->mr_mode =
		FI_MR_VIRT_ADDR | FI_MR_LOCAL | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	if (c->o.manual_progress) {
		c->hints->domain_attr->data_progress = FI_PROGRESS_MANUAL;
		c->hints->domain_attr->control_progress = FI_PROGRESS_MANUAL;
	}
	c->hints->caps = c->o.role == ROLE_TARGET ? (FI_RMA | FI_REMOTE_WRITE)
						   : (FI_RMA | FI_WRITE);

	if (c->o.prov == PROV_TCP) {
		if (!node)
			node = "127.0.0.1";
		if (c->o.role == ROLE_INITIATOR)
			service = NULL; /* local bind: any port */
		else if (!service)
			service = "0";
		c->hints->addr_format = strchr(node, ':') ? FI_SOCKADDR_IN6 : FI_SOCKADDR_IN;
	} else {
		if (!node && c->o.role == ROLE_TARGET) {
			snprintf(node_buf, sizeof node_buf, "rmabw-target-%d", (int)getpid());
			node = node_buf;
		}
		if (!node) {
			service = NULL;
			flags = 0;
		}
	}

	rc = fi_getinfo(FI_VERSION(1, 17), node, service, flags, c->hints, &c->info);
	if (rc) {
		err_msg("fi_getinfo(%s, node=%s, service=%s) failed: %d (%s)",
			c->o.prov == PROV_TCP ? "tcp" : "shm", node ? node : "(null)",
			service ? service : "(null)", rc, fi_strerror(-rc));
		return -1;
	}
	/* Upstream uses the first entry, unfiltered. */
	c->ep_info = c->info;
	c->virt_addr = (c->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) != 0;
	c->mr_local = (c->info->domain_attr->mr_mode & FI_MR_LOCAL) != 0;
	if (c->o.role == ROLE_TARGET && !(c->info->caps & FI_REMOTE_WRITE)) {
		err_msg("provider does not grant FI_REMOTE_WRITE");
		return -1;
	}
	if (c->o.role == ROLE_INITIATOR && !(c->info->caps & FI_WRITE)) {
		err_msg("provider does not grant FI_WRITE");
		return -1;
	}
	info_msg("provider %s fabric %s domain %s ep_type %d mr_mode 0x%x "
		 "cq_data_size %zu data_progress %s op_flags 0x%" PRIx64,
		 c->info->fabric_attr->prov_name, c->info->fabric_attr->name,
		 c->info->domain_attr->name, (int)c->info->ep_attr->type,
		 (unsigned)c->info->domain_attr->mr_mode,
		 c->info->domain_attr->cq_data_size,
		 progress_name(c->info->domain_attr->data_progress),
		 (uint64_t)c->info->tx_attr->op_flags);
	if (c->info->domain_attr->cq_data_size < 4) {
		err_msg("provider cq_data_size %zu < 4", c->info->domain_attr->cq_data_size);
		return -1;
	}
	return 0;
}

static int open_fabric_domain(struct ctx *c)
{
	FI_CHECK(fi_fabric(c->info->fabric_attr, &c->fabric, NULL));
	FI_CHECK(fi_domain(c->fabric, c->info, &c->domain, NULL));
	return 0;
}

static int open_cq(struct ctx *c)
{
	struct fi_cq_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = 64;
	attr.format = FI_CQ_FORMAT_DATA;
	attr.wait_obj = FI_WAIT_UNSPEC;
	FI_CHECK(fi_cq_open(c->domain, &attr, &c->cq, NULL));
	return 0;
}

static int open_eq(struct ctx *c)
{
	struct fi_eq_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = 8;
	attr.wait_obj = FI_WAIT_UNSPEC;
	FI_CHECK(fi_eq_open(c->fabric, &attr, &c->eq, NULL));
	return 0;
}

static int register_slots(struct ctx *c)
{
	uint64_t access = c->o.role == ROLE_TARGET ? FI_REMOTE_WRITE : FI_WRITE;
	size_t key_size = c->info->domain_attr->mr_key_size;
	long page = sysconf(_SC_PAGESIZE);

	c->slot = calloc(c->o.slots, sizeof *c->slot);
	if (!c->slot) {
		err_msg("out of memory");
		return -1;
	}
	for (unsigned i = 0; i < c->o.slots; i++) {
		struct slot_mem *s = &c->slot[i];
		struct iovec iov;
		struct fi_mr_attr attr;
		void *p = NULL;
		int rc;

		if (posix_memalign(&p, (size_t)page, c->region_bytes)) {
			err_msg("posix_memalign(%zu) failed", c->region_bytes);
			return -1;
		}
		s->buf = p;
		/* Touch every page before timing; give the source a recognisable pattern. */
		memset(s->buf, c->o.role == ROLE_TARGET ? 0 : (int)(0xA0 + i % 16), c->region_bytes);

		iov.iov_base = s->buf;
		iov.iov_len = c->region_bytes;
		memset(&attr, 0, sizeof attr);
		attr.mr_iov = &iov;
		attr.iov_count = 1;
		attr.access = access;
		attr.offset = 0;
		attr.requested_key = random_u64();
		if (key_size > 0 && key_size < 8)
			attr.requested_key &= (UINT64_C(1) << (8 * key_size)) - 1;
		attr.iface = FI_HMEM_SYSTEM;
		rc = fi_mr_regattr(c->domain, &attr, 0, &s->mr);
		if (rc) {
			err_msg("fi_mr_regattr(slot %u) failed: %d (%s)", i, rc, fi_strerror(-rc));
			return -1;
		}
		s->key = fi_mr_key(s->mr);
		if (s->key == FI_KEY_NOTAVAIL) {
			err_msg("fi_mr_key not available (slot %u)", i);
			return -1;
		}
		s->desc = c->mr_local ? fi_mr_desc(s->mr) : NULL;
	}
	return 0;
}

/* Wait for one CM event on the EQ; returns the event or -1. */
static int eq_wait(struct ctx *c, uint32_t want, struct fi_eq_cm_entry *entry, const char *what)
{
	for (;;) {
		uint32_t event = 0;
		ssize_t rd = fi_eq_sread(c->eq, &event, entry, sizeof *entry, 100, 0);
		if (rd == -FI_EAGAIN || rd == -FI_ETIMEDOUT) {
			if (timed_out(c, what))
				return -1;
			continue;
		}
		if (rd == -FI_EAVAIL) {
			struct fi_eq_err_entry ee;
			memset(&ee, 0, sizeof ee);
			fi_eq_readerr(c->eq, &ee, 0);
			err_msg("EQ error while %s: %d (%s)", what, ee.err, fi_strerror(ee.err));
			return -1;
		}
		if (rd < 0) {
			err_msg("fi_eq_sread while %s: %zd (%s)", what, rd, fi_strerror((int)-rd));
			return -1;
		}
		if (event != want) {
			err_msg("unexpected EQ event %u while %s", event, what);
			return -1;
		}
		return 0;
	}
}

/* --------------------------------------------------------- exchange file */

static int write_exchange(struct ctx *c)
{
	char tmp[4096];
	char hex[2 * MAX_ADDR + 1];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp.%d", c->o.xfile, (int)getpid());
	f = fopen(tmp, "w");
	if (!f) {
		err_msg("cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	to_hex(c->addr, c->addrlen, hex);
	fprintf(f, "%s\n", EXCHANGE_MAGIC);
	fprintf(f, "provider %s\n", c->o.prov == PROV_TCP ? "tcp" : "shm");
	fprintf(f, "addr_format %u\n", (unsigned)c->info->addr_format);
	fprintf(f, "addr %s\n", hex);
	fprintf(f, "region_bytes %zu\n", c->region_bytes);
	fprintf(f, "slots %u\n", c->o.slots);
	for (unsigned i = 0; i < c->o.slots; i++)
		fprintf(f, "slot %u %" PRIu64 " %" PRIu64 "\n", i, c->slot[i].key,
			c->virt_addr ? (uint64_t)(uintptr_t)c->slot[i].buf : UINT64_C(0));
	fprintf(f, "end\n");
	if (fflush(f) || fsync(fileno(f)) || fclose(f)) {
		err_msg("writing %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (rename(tmp, c->o.xfile)) {
		err_msg("rename %s -> %s: %s", tmp, c->o.xfile, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int read_exchange(struct ctx *c)
{
	FILE *f = NULL;
	char line[1024];
	unsigned slots = 0, seen = 0;
	size_t region = 0;
	bool magic = false, end = false;

	while (!f) {
		f = fopen(c->o.xfile, "r");
		if (!f) {
			if (errno != ENOENT) {
				err_msg("cannot open %s: %s", c->o.xfile, strerror(errno));
				return -1;
			}
			if (timed_out(c, "waiting for the exchange file"))
				return -1;
			usleep(10000);
		}
	}
	while (fgets(line, sizeof line, f)) {
		char key[32], val[2 * MAX_ADDR + 8];
		unsigned idx;
		uint64_t k, a;
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, EXCHANGE_MAGIC)) {
			magic = true;
		} else if (!strcmp(line, "end")) {
			end = true;
		} else if (sscanf(line, "slot %u %" SCNu64 " %" SCNu64, &idx, &k, &a) == 3) {
			if (!c->rkey || idx >= slots) {
				err_msg("exchange: bad slot line '%s'", line);
				goto fail;
			}
			c->rkey[idx] = k;
			c->raddr[idx] = a;
			seen++;
		} else if (sscanf(line, "%31s %520s", key, val) == 2) {
			if (!strcmp(key, "addr")) {
				if (from_hex(val, c->addr, sizeof c->addr, &c->addrlen)) {
					err_msg("exchange: bad addr");
					goto fail;
				}
			} else if (!strcmp(key, "region_bytes")) {
				region = strtoull(val, NULL, 10);
			} else if (!strcmp(key, "slots")) {
				slots = (unsigned)strtoul(val, NULL, 10);
				if (slots == 0 || slots > 65536) {
					err_msg("exchange: bad slot count");
					goto fail;
				}
				c->rkey = calloc(slots, sizeof *c->rkey);
				c->raddr = calloc(slots, sizeof *c->raddr);
				if (!c->rkey || !c->raddr) {
					err_msg("out of memory");
					goto fail;
				}
			} else if (!strcmp(key, "provider")) {
				if (strcmp(val, c->o.prov == PROV_TCP ? "tcp" : "shm")) {
					err_msg("exchange: target provider is %s", val);
					goto fail;
				}
			}
		}
	}
	fclose(f);
	if (!magic || !end || seen != slots || !c->addrlen) {
		err_msg("exchange file %s incomplete or malformed", c->o.xfile);
		return -1;
	}
	if (slots != c->o.slots || region != c->region_bytes) {
		err_msg("target has %u slots of %zu B, initiator %u slots of %zu B",
			slots, region, c->o.slots, c->region_bytes);
		return -1;
	}
	return 0;
fail:
	fclose(f);
	return -1;
}

/* --------------------------------------------------------------- target */

static int target_setup(struct ctx *c)
{
	struct fi_eq_cm_entry entry;

	if (get_info(c) || open_fabric_domain(c) || register_slots(c) || open_cq(c))
		return -1;

	if (c->o.prov == PROV_TCP) {
		uint8_t zero = 0;
		c->addrlen = sizeof c->addr;
		if (open_eq(c))
			return -1;
		FI_CHECK(fi_passive_ep(c->fabric, c->info, &c->pep, NULL));
		FI_CHECK(fi_pep_bind(c->pep, &c->eq->fid, 0));
		FI_CHECK(fi_listen(c->pep));
		FI_CHECK(fi_getname(&c->pep->fid, c->addr, &c->addrlen));
		if (write_exchange(c))
			return -1;
		info_msg("listening, exchange file %s", c->o.xfile);

		memset(&entry, 0, sizeof entry);
		if (eq_wait(c, FI_CONNREQ, &entry, "waiting for a connection request"))
			return -1;
		c->ep_info = entry.info;
		FI_CHECK(fi_endpoint(c->domain, c->ep_info, &c->ep, NULL));
		/* Upstream binds FI_RECV only; libfabric 1.17's tcp provider also
		 * needs a transmit CQ to answer delivery-complete writes. */
		FI_CHECK(fi_ep_bind(c->ep, &c->cq->fid, FI_RECV | FI_TRANSMIT));
		FI_CHECK(fi_ep_bind(c->ep, &c->eq->fid, 0));
		FI_CHECK(fi_accept(c->ep, &zero, 1));
		memset(&entry, 0, sizeof entry);
		if (eq_wait(c, FI_CONNECTED, &entry, "accepting the connection"))
			return -1;
		c->connected = true;
		/* Upstream closes the listener once a peer is accepted. */
		FI_CHECK(fi_close(&c->pep->fid));
		c->pep = NULL;
		info_msg("connected");
	} else {
		struct fi_av_attr av_attr;
		memset(&av_attr, 0, sizeof av_attr);
		av_attr.type = FI_AV_TABLE;
		av_attr.count = 4;
		FI_CHECK(fi_endpoint(c->domain, c->info, &c->ep, NULL));
		FI_CHECK(fi_av_open(c->domain, &av_attr, &c->av, NULL));
		FI_CHECK(fi_ep_bind(c->ep, &c->cq->fid, FI_RECV | FI_TRANSMIT));
		FI_CHECK(fi_ep_bind(c->ep, &c->av->fid, 0));
		FI_CHECK(fi_enable(c->ep));
		c->addrlen = sizeof c->addr;
		FI_CHECK(fi_getname(&c->ep->fid, c->addr, &c->addrlen));
		if (write_exchange(c))
			return -1;
		info_msg("ready, exchange file %s", c->o.xfile);
	}
	return 0;
}

static bool done_file_exists(struct ctx *c)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof path, "%s.done", c->o.xfile);
	return stat(path, &st) == 0;
}

static int target_run(struct ctx *c, double *t_first, double *t_last, unsigned long *errors,
		      unsigned long *received)
{
	unsigned long seq = 0;
	*errors = 0;
	*t_first = *t_last = 0;

	while (seq < c->o.count) {
		struct fi_cq_data_entry e;
		ssize_t rd = cq_read_one(c, &e, 100);
		if (rd == 1) {
			double t = now();
			if (seq == 0)
				cpu_start(c);
			if (c->o.rate > 0 && (e.flags & FI_REMOTE_CQ_DATA)) {
				uint64_t sched;
				memcpy(&sched, c->slot[(e.data & 0xffff) % c->o.slots].buf + STAMP_OFFSET, sizeof sched);
				c->lat_ms[c->lat_n++] = (double)((int64_t)(realtime_ns() - sched)) / 1e6;
			}
			uint64_t expect = (uint64_t)(seq % c->o.slots) | ((uint64_t)SLICE_END << 16);
			if (seq == 0)
				*t_first = t;
			*t_last = t;
			if (!(e.flags & FI_REMOTE_CQ_DATA)) {
				if (*errors < 10)
					err_msg("completion %lu without FI_REMOTE_CQ_DATA (flags 0x%" PRIx64 ")",
						seq, (uint64_t)e.flags);
				(*errors)++;
			} else if (e.data != expect) {
				if (*errors < 10)
					err_msg("completion %lu: immediate 0x%" PRIx64 ", expected 0x%" PRIx64,
						seq, (uint64_t)e.data, expect);
				(*errors)++;
			} else if (c->o.pages && bad_pages(c->slot[seq % c->o.slots].buf, c->region_bytes, seq, c->o.slots) != 0) {
				if (*errors < 10)
					err_msg("completion %lu: pages of slot %lu do not hold grain %lu", seq,
						(unsigned long)(seq % c->o.slots), seq);
				(*errors)++;
			} else if (c->o.verify) {
				unsigned sl = (unsigned)(seq % c->o.slots);
				const uint8_t *b = c->slot[sl].buf;
				uint64_t idx;
				memcpy(&idx, b + 8, sizeof idx);
				/* The slot holds this grain or a later one for the same slot. */
				if (idx < seq || idx % c->o.slots != sl ||
				    b[c->region_bytes - 1] != (uint8_t)(0xA0 + sl % 16)) {
					if (*errors < 10)
						err_msg("completion %lu: slot %u holds index %" PRIu64
							", last byte 0x%02x", seq, sl, idx,
							b[c->region_bytes - 1]);
					(*errors)++;
				}
			}
			seq++;
			continue;
		}
		if (rd == -FI_EAGAIN) {
			/* Check the clock only now and then: this is the hot loop. */
			static unsigned spin;
			if ((++spin & (c->o.blocking ? 15 : 1023)) == 0 && timed_out(c, "waiting for completions"))
				break;
			continue;
		}
		if (rd == -FI_EAVAIL) {
			struct fi_cq_err_entry ee;
			memset(&ee, 0, sizeof ee);
			fi_cq_readerr(c->cq, &ee, 0);
			err_msg("CQ error entry: %d (%s) prov_errno %d", ee.err, fi_strerror(ee.err),
				ee.prov_errno);
			(*errors)++;
			seq++;
			continue;
		}
		err_msg("fi_cq_read: %zd (%s)", rd, fi_strerror((int)-rd));
		(*errors)++;
		break;
	}
	*received = seq;
	return seq == c->o.count ? 0 : -1;
}

/* After the last completion keep progressing until the initiator says it is done
 * (its delivery-complete acknowledgements depend on our progress). */
static void target_linger(struct ctx *c)
{
	double until = now() + 10.0;
	if (until > c->deadline + 5.0)
		until = c->deadline + 5.0;
	while (now() < until) {
		struct fi_cq_data_entry e;
		ssize_t rd = fi_cq_read(c->cq, &e, 1);
		if (rd == -FI_EAVAIL) {
			struct fi_cq_err_entry ee;
			memset(&ee, 0, sizeof ee);
			fi_cq_readerr(c->cq, &ee, 0);
		}
		if (c->eq) {
			struct fi_eq_cm_entry ce;
			uint32_t ev;
			ssize_t r = fi_eq_read(c->eq, &ev, &ce, sizeof ce, 0);
			if (r > 0 && ev == FI_SHUTDOWN) {
				c->connected = false;
				return;
			}
			if (r == -FI_EAVAIL) {
				struct fi_eq_err_entry ee;
				memset(&ee, 0, sizeof ee);
				fi_eq_readerr(c->eq, &ee, 0);
				return;
			}
		}
		if (done_file_exists(c))
			return;
		usleep(1000);
	}
	info_msg("initiator did not signal completion; closing anyway");
}

/* ------------------------------------------------------------ initiator */

static int initiator_setup(struct ctx *c)
{
	if (get_info(c) || open_fabric_domain(c) || register_slots(c) || open_cq(c))
		return -1;
	if (read_exchange(c))
		return -1;

	FI_CHECK(fi_endpoint(c->domain, c->info, &c->ep, NULL));
	if (c->o.prov == PROV_TCP) {
		struct fi_eq_cm_entry entry;
		if (open_eq(c))
			return -1;
		FI_CHECK(fi_ep_bind(c->ep, &c->eq->fid, 0));
		/* Upstream binds FI_TRANSMIT only; libfabric 1.17's tcp provider
		 * dereferences the receive CQ on the write path, so bind both. */
		FI_CHECK(fi_ep_bind(c->ep, &c->cq->fid, FI_TRANSMIT | FI_RECV));
		FI_CHECK(fi_enable(c->ep));
		FI_CHECK(fi_connect(c->ep, c->addr, NULL, 0));
		memset(&entry, 0, sizeof entry);
		if (eq_wait(c, FI_CONNECTED, &entry, "connecting"))
			return -1;
		c->connected = true;
		c->peer = FI_ADDR_UNSPEC;
		info_msg("connected");
	} else {
		struct fi_av_attr av_attr;
		int n;
		memset(&av_attr, 0, sizeof av_attr);
		av_attr.type = FI_AV_TABLE;
		av_attr.count = 4;
		FI_CHECK(fi_av_open(c->domain, &av_attr, &c->av, NULL));
		FI_CHECK(fi_ep_bind(c->ep, &c->cq->fid, FI_TRANSMIT | FI_RECV));
		FI_CHECK(fi_ep_bind(c->ep, &c->av->fid, 0));
		FI_CHECK(fi_enable(c->ep));
		n = fi_av_insert(c->av, c->addr, 1, &c->peer, 0, NULL);
		if (n != 1) {
			err_msg("fi_av_insert returned %d", n);
			return -1;
		}
	}
	return 0;
}

/* Reap initiator completions; returns the number reaped or -1 on error. */
static long initiator_reap(struct ctx *c)
{
	struct fi_cq_data_entry e[8];
	ssize_t rd = fi_cq_read(c->cq, e, 8);
	if (rd > 0)
		return (long)rd;
	if (rd == -FI_EAGAIN)
		return 0;
	if (rd == -FI_EAVAIL) {
		struct fi_cq_err_entry ee;
		memset(&ee, 0, sizeof ee);
		fi_cq_readerr(c->cq, &ee, 0);
		err_msg("write completed with error: %d (%s) prov_errno %d", ee.err,
			fi_strerror(ee.err), ee.prov_errno);
		return -1;
	}
	err_msg("fi_cq_read: %zd (%s)", rd, fi_strerror((int)-rd));
	return -1;
}

/*
 * One reap of the initiator CQ with its bookkeeping: stamps the first and last
 * completion times, counts completions into *done, and checks the deadline every 1024
 * empty reaps. Returns -1 on a CQ error or timeout, else 0.
 */
static int reap_and_stamp(struct ctx *c, unsigned long *done, unsigned *spin,
			  double *t_first, double *t_last, const char *what)
{
	long r = initiator_reap(c);
	if (r < 0)
		return -1;
	if (r > 0) {
		double t = now();
		if (*done == 0)
			*t_first = t;
		*t_last = t;
		*done += (unsigned long)r;
	} else if ((++*spin & 1023) == 0 && timed_out(c, what)) {
		return -1;
	}
	return 0;
}

static int initiator_run(struct ctx *c, double *t_start, double *t_first, double *t_last,
			 unsigned long *completed)
{
	unsigned long posted = 0, done = 0;
	unsigned spin = 0;
	uint64_t period = c->o.rate > 0 ? (uint64_t)(1e9 / c->o.rate) : 0;
	/* Start on a period boundary a little ahead, so the first grain is not late by set-up. */
	uint64_t start = period ? (realtime_ns() / period + 2) * period : 0;
	*t_start = now();
	*t_first = *t_last = 0;
	cpu_start(c);

	while (done < c->o.count) {
		if (period && posted < c->o.count) {
			uint64_t sched = start + posted * period;
			uint64_t t = realtime_ns();
			if (t < sched) {
				if (!c->o.blocking) {
					/* busy: spin on the CQ until the grain is due */
				} else if (posted > done && c->sread_ok) {
					struct fi_cq_data_entry e;
					int ms = (int)((sched - t) / 1000000ull);
					ssize_t rd = fi_cq_sread(c->cq, &e, 1, NULL, ms > 0 ? ms : 1);
					if (rd == 1) {
						done++;
						*t_last = now();
						if (done == 1)
							*t_first = *t_last;
					} else if (rd == -FI_ENOSYS) {
						c->sread_ok = false;
					} else if (rd != -FI_EAGAIN && rd < 0 && rd != -FI_EAVAIL) {
						err_msg("fi_cq_sread: %zd (%s)", rd, fi_strerror((int)-rd));
						*completed = done;
						return -1;
					} else if (rd == -FI_EAVAIL && reap_and_stamp(c, &done, &spin, t_first, t_last, "paced wait") < 0) {
						*completed = done;
						return -1;
					}
					continue;
				} else if (posted > done) {
					usleep(50); /* no wait object: sleep-poll */
				} else {
					sleep_until_ns(sched);
					continue;
				}
				if (reap_and_stamp(c, &done, &spin, t_first, t_last, "waiting for the next grain") < 0) {
					*completed = done;
					return -1;
				}
				continue;
			}
		}
		/* Post while the window allows (paced: only the grain that is due). */
		while (posted < c->o.count && posted - done < c->o.window &&
		       (!period || realtime_ns() >= start + posted * period)) {
			unsigned s = (unsigned)(posted % c->o.slots);
			struct iovec iov = { c->slot[s].buf, c->region_bytes };
			void *desc = c->slot[s].desc;
			struct fi_rma_iov rma = { c->raddr[s], c->region_bytes, c->rkey[s] };
			struct fi_msg_rma msg;
			ssize_t rc;

			memset(&msg, 0, sizeof msg);
			msg.msg_iov = &iov;
			msg.desc = &desc;
			msg.iov_count = 1;
			msg.addr = c->peer;
			msg.rma_iov = &rma;
			msg.rma_iov_count = 1;
			msg.context = c; /* token: never dereferenced */
			msg.data = (uint64_t)s | ((uint64_t)SLICE_END << 16);
			if (c->o.verify) {
				uint64_t idx = posted;
				memcpy(c->slot[s].buf + 8, &idx, sizeof idx);
			}
			if (c->o.pages)
				stamp_pages(c->slot[s].buf, c->region_bytes, posted);
			if (period) {
				uint64_t sched = start + posted * period;
				memcpy(c->slot[s].buf + STAMP_OFFSET, &sched, sizeof sched);
			}
			rc = fi_writemsg(c->ep, &msg, FI_DELIVERY_COMPLETE | FI_REMOTE_CQ_DATA);
			if (rc == 0) {
				posted++;
				continue;
			}
			if (rc != -FI_EAGAIN) {
				err_msg("fi_writemsg(seq %lu): %zd (%s)", posted, rc,
					fi_strerror((int)-rc));
				*completed = done;
				return -1;
			}
			/* -FI_EAGAIN: progress the CQ, then retry. */
			if (reap_and_stamp(c, &done, &spin, t_first, t_last, "posting writes") < 0) {
				*completed = done;
				return -1;
			}
		}
		if (reap_and_stamp(c, &done, &spin, t_first, t_last, "waiting for write completions") < 0) {
			*completed = done;
			return -1;
		}
	}
	*completed = done;
	return 0;
}

static void signal_done(struct ctx *c)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof path, "%s.done", c->o.xfile);
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

/* ------------------------------------------------------------- teardown */

static void close_fid(struct fid *f, const char *what)
{
	int rc;
	if (!f)
		return;
	rc = fi_close(f);
	if (rc)
		err_msg("fi_close(%s): %d (%s)", what, rc, fi_strerror(-rc));
}

static void teardown(struct ctx *c)
{
	if (c->ep && c->connected && c->o.prov == PROV_TCP)
		fi_shutdown(c->ep, 0);
	close_fid(c->ep ? &c->ep->fid : NULL, "ep");
	close_fid(c->pep ? &c->pep->fid : NULL, "pep");
	close_fid(c->cq ? &c->cq->fid : NULL, "cq");
	close_fid(c->eq ? &c->eq->fid : NULL, "eq");
	close_fid(c->av ? &c->av->fid : NULL, "av");
	if (c->slot) {
		for (unsigned i = 0; i < c->o.slots; i++) {
			close_fid(c->slot[i].mr ? &c->slot[i].mr->fid : NULL, "mr");
			free(c->slot[i].buf);
		}
		free(c->slot);
	}
	close_fid(c->domain ? &c->domain->fid : NULL, "domain");
	close_fid(c->fabric ? &c->fabric->fid : NULL, "fabric");
	if (c->ep_info && c->ep_info != c->info)
		fi_freeinfo(c->ep_info);
	if (c->info)
		fi_freeinfo(c->info);
	if (c->hints)
		fi_freeinfo(c->hints);
	free(c->rkey);
	free(c->raddr);
	free(c->lat_ms);
}

static long peak_rss_bytes(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return r.ru_maxrss * 1024L;
}

static void print_result(struct ctx *c, unsigned long grains, double seconds, unsigned long gaps,
			 unsigned long errors)
{
	double gps = seconds > 0 ? (double)gaps / seconds : 0.0;
	printf("{\"role\":\"%s\",\"provider\":\"%s\",\"endpoint\":\"%s\",\"grains\":%lu,"
	       "\"grainBytes\":%zu,\"writeBytes\":%zu,\"bytes\":%llu,\"slots\":%u,\"window\":%u,"
	       "\"progress\":\"%s\",\"seconds\":%.6f,\"grainsPerSec\":%.1f,\"gbytesPerSec\":%.3f,"
	       "\"errors\":%lu,\"paced\":%s,\"rate\":%.3f,\"mode\":\"%s\",\"cpuPct\":%.2f,"
	       "\"peakRssBytes\":%ld",
	       role_name(c->o.role), c->o.prov == PROV_TCP ? "tcp" : "shm",
	       c->o.prov == PROV_TCP ? "msg" : "rdm", grains, c->o.grain_bytes, c->region_bytes,
	       (unsigned long long)grains * (unsigned long long)c->region_bytes, c->o.slots,
	       c->o.window, c->info ? progress_name(c->info->domain_attr->data_progress) : "unspec",
	       seconds, gps, gps * (double)c->region_bytes / 1e9, errors, c->o.rate > 0 ? "true" : "false",
	       c->o.rate, c->o.blocking ? "blocking" : "busy", c->cpu_wall0 > 0 ? cpu_pct(c) : 0.0,
	       peak_rss_bytes());
	if (c->lat_ms) {
		/* lat_ms is in arrival order: the warm-up is its head. */
		unsigned long w = c->o.warmup < c->lat_n ? c->o.warmup : c->lat_n;
		unsigned long late = 0, warm_late = 0;
		double period_ms = 1000.0 / c->o.rate;
		for (unsigned long i = 0; i < c->lat_n; i++) {
			if (c->lat_ms[i] > period_ms) {
				if (i < w)
					warm_late++;
				else
					late++;
			}
		}
		double *lat = c->lat_ms + w;
		unsigned long n = c->lat_n - w;
		qsort(lat, n, sizeof *lat, cmp_double);
		printf(",\"late\":%lu,\"warmupLate\":%lu,\"latencyMs\":{\"count\":%lu,\"p50\":%.4f,"
		       "\"p90\":%.4f,\"p99\":%.4f,\"max\":%.4f}",
		       late, warm_late, n, pct_of(lat, n, 50), pct_of(lat, n, 90), pct_of(lat, n, 99),
		       n ? lat[n - 1] : 0.0);
	}
	printf("}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct ctx c;
	int status = 0;

	memset(&c, 0, sizeof c);
	if (parse_opts(argc, argv, &c.o)) {
		usage(stderr);
		return 2;
	}
	g_opts = &c.o;
	c.region_bytes = HEADER_BYTES + c.o.grain_bytes;
	c.deadline = now() + c.o.timeout;
	c.sread_ok = true;
	if (c.o.rate > 0 && c.o.role == ROLE_TARGET) {
		c.lat_ms = calloc(c.o.count, sizeof *c.lat_ms);
		if (!c.lat_ms) {
			err_msg("out of memory");
			return 1;
		}
	}
	signal(SIGALRM, on_alarm);
	alarm((unsigned)c.o.timeout + 15);

	if (c.o.role == ROLE_TARGET) {
		double t0, t1;
		unsigned long errors = 0, received = 0;
		/* A stale exchange/done file from an earlier run must not be picked up. */
		char done_path[4096];
		snprintf(done_path, sizeof done_path, "%s.done", c.o.xfile);
		unlink(done_path);
		if (target_setup(&c)) {
			status = 1;
		} else {
			int rc = target_run(&c, &t0, &t1, &errors, &received);
			/* Rate from the first to the last remote completion: received-1 gaps. */
			unsigned long gaps = received > 1 ? received - 1 : 0;
			if (rc == 0)
				target_linger(&c);
			print_result(&c, received, t1 - t0, gaps, errors);
			if (rc || errors)
				status = 1;
		}
		unlink(c.o.xfile);
		unlink(done_path);
	} else {
		double ts, t0, t1;
		unsigned long done = 0;
		if (initiator_setup(&c)) {
			status = 1;
		} else {
			int rc = initiator_run(&c, &ts, &t0, &t1, &done);
			/* Rate from the first post to the last local completion. */
			print_result(&c, done, t1 > ts ? t1 - ts : 0, done, rc ? 1 : 0);
			if (rc)
				status = 1;
			if (c.o.prov == PROV_TCP && c.connected) {
				fi_shutdown(c.ep, 0);
				c.connected = false;
			}
			signal_done(&c);
		}
	}
	teardown(&c);
	return status;
}
