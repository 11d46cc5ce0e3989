/*
 * Baseline for bench/domain/wake-latency: the same shared futex hand-off MXL uses, in C.
 * A writer stamps CLOCK_MONOTONIC into a /dev/shm page, increments the counter and calls
 * FUTEX_WAKE(INT_MAX); a reader blocked in FUTEX_WAIT (not PRIVATE) records now − stamp.
 * Reader in another process (fork) and in another thread. Prints one JSON line.
 *
 *   cc -O2 -o futex_handoff futex_handoff.c -lpthread && ./futex_handoff [iterations] [gap_us]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
  uint32_t counter;       /* the futex word */
  uint32_t ack;           /* iterations the reader has finished */
  uint64_t stamp;         /* ns, CLOCK_MONOTONIC, written before each wake */
  uint64_t lat[100000];   /* per-iteration wake latency, ns */
};

static struct shared* sh;
static int iterations = 400;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void* reader(void* arg) {
  (void)arg;
  for (int i = 0; i < iterations; i++) {
    for (;;) {
      uint32_t seen = __atomic_load_n(&sh->counter, __ATOMIC_ACQUIRE);
      if (seen == (uint32_t)(i + 1)) break;
      syscall(SYS_futex, &sh->counter, FUTEX_WAIT, seen, NULL, NULL, 0);
    }
    sh->lat[i] = now_ns() - __atomic_load_n(&sh->stamp, __ATOMIC_ACQUIRE);
    __atomic_store_n(&sh->ack, (uint32_t)(i + 1), __ATOMIC_RELEASE);
  }
  return NULL;
}

static void writer(int gap_us) {
  for (int i = 0; i < iterations; i++) {
    usleep(gap_us); /* let the reader fall asleep, as between grains */
    /* Never run ahead of a slow reader: each sample must be one wake from sleep. */
    while (__atomic_load_n(&sh->ack, __ATOMIC_ACQUIRE) < (uint32_t)i) usleep(100);
    __atomic_store_n(&sh->stamp, now_ns(), __ATOMIC_RELEASE);
    __atomic_add_fetch(&sh->counter, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &sh->counter, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
  }
}

static int cmp(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

static void report(const char* name, int last) {
  qsort(sh->lat, iterations, sizeof(uint64_t), cmp);
  printf("\"%s\":{\"p50_us\":%.2f,\"p99_us\":%.2f,\"n\":%d}%s", name, sh->lat[iterations / 2] / 1e3,
         sh->lat[(int)(iterations * 0.99)] / 1e3, iterations, last ? "" : ",");
}

int main(int argc, char** argv) {
  if (argc > 1) iterations = atoi(argv[1]);
  int gap_us = argc > 2 ? atoi(argv[2]) : 2000;
  if (iterations < 1 || iterations > 100000) return 2;
  char path[64];
  snprintf(path, sizeof path, "/dev/shm/mxlf-bench-futex-%d", (int)getpid());
  int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 || posix_fallocate(fd, 0, sizeof(struct shared)) != 0) { perror("futex_handoff: file"); return 1; }
  sh = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  unlink(path);
  if (sh == MAP_FAILED) { perror("mmap"); return 1; }
  printf("{");

  pid_t pid = fork();
  if (pid == 0) { reader(NULL); _exit(0); }
  writer(gap_us);
  waitpid(pid, NULL, 0);
  report("process", 0);

  sh->counter = 0;
  sh->ack = 0;
  pthread_t th;
  pthread_create(&th, NULL, reader, NULL);
  writer(gap_us);
  pthread_join(th, NULL);
  report("thread", 1);
  printf("}\n");
  return 0;
}
