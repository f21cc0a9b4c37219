// The lab's delay line (this kernel has no netem): pairs of TAP devices, every frame read from one tap of a
// pair is written to the other after that pair's fixed delay, in both directions.
//
//   delay-relay <tapA> <tapB> <delay µs> [<tapA> <tapB> <delay µs> ...]
//
// The taps are created in the caller's network namespace; once they all exist the relay forks, the parent
// prints the child's pid and exits, and the child relays until it is killed or every tap is gone. So the caller (bench/netns.ts)
// needs no readiness protocol: when the parent has exited, the taps are there and held open, and the caller
// moves them into their namespaces (an open tap keeps working across `ip link set ... netns`).
//
// The taps carry virtio-net headers with TSO/checksum offload on: the kernel hands over whole GSO
// super-packets (up to 64 KiB, as a veth would carry them) and the relay writes them back as they came, so the
// per-frame cost is per super-packet, not per 1500-byte segment. A frame waits in a FIFO (constant delay per
// direction, so arrival order is due order) and the next due time arms the epoll timeout: no drift from
// per-frame sleeps. The FIFO has no bound of its own; the shaper in front of each tap keeps it at rate × delay.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

// Room for a virtio-net header and the largest GSO packet a tap hands over.
#define MAX_FRAME (256 * 1024)
// Frames read from one tap per wake-up before the others get their turn.
#define READ_BATCH 64

struct frame {
  struct frame *next;
  int64_t due;
  size_t len;
  unsigned char data[];
};

// One direction: frames read from `in`, written to `out` `delay` ns later.
struct dir {
  int in, out;
  int64_t delay;
  struct frame *head, *tail;
};

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what, const char *name) {
  fprintf(stderr, "delay-relay: %s %s: %s\n", what, name, strerror(errno));
  exit(1);
}

static int open_tap(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun for", name);
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (strlen(name) >= IFNAMSIZ) { errno = ENAMETOOLONG; die("tap name", name); }
  strcpy(ifr.ifr_name, name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF", name);
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) die("TUNSETOFFLOAD", name);
  return fd;
}

// Reads what `d->in` has (at most READ_BATCH frames) into the FIFO.
static void take(struct dir *d, unsigned char *buf, int64_t now) {
  for (int i = 0; i < READ_BATCH; i++) {
    ssize_t n = read(d->in, buf, MAX_FRAME);
    if (n <= 0) {
      // EAGAIN: drained; EIO and the like: the tap is down (while being configured), nothing to relay.
      return;
    }
    struct frame *f = malloc(sizeof *f + (size_t)n);
    if (!f) { fputs("delay-relay: out of memory\n", stderr); exit(1); }
    f->next = NULL;
    f->due = now + d->delay;
    f->len = (size_t)n;
    memcpy(f->data, buf, (size_t)n);
    if (d->tail) d->tail->next = f; else d->head = f;
    d->tail = f;
  }
}

// Writes the due frames of `d`; returns the next due time (INT64_MAX: none).
static int64_t give(struct dir *d, int64_t now) {
  struct frame *f;
  while ((f = d->head) && f->due <= now) {
    // A failed write (the other tap down, its backlog full) loses the frame, as a wire would.
    (void)!write(d->out, f->data, f->len);
    d->head = f->next;
    if (!d->head) d->tail = NULL;
    free(f);
  }
  return f ? f->due : INT64_MAX;
}

int main(int argc, char **argv) {
  if (argc < 4 || (argc - 1) % 3 != 0) {
    fputs("usage: delay-relay <tapA> <tapB> <delay µs> [<tapA> <tapB> <delay µs> ...]\n", stderr);
    return 2;
  }
  int pairs = (argc - 1) / 3;
  struct dir *dirs = calloc((size_t)pairs * 2, sizeof *dirs);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (!dirs || ep < 0) die("setting up", "");
  for (int p = 0; p < pairs; p++) {
    char *end;
    long long us = strtoll(argv[3 * p + 3], &end, 10);
    if (*end || us < 0) { fprintf(stderr, "delay-relay: bad delay \"%s\"\n", argv[3 * p + 3]); return 2; }
    int a = open_tap(argv[3 * p + 1]), b = open_tap(argv[3 * p + 2]);
    dirs[2 * p] = (struct dir){ .in = a, .out = b, .delay = us * 1000 };
    dirs[2 * p + 1] = (struct dir){ .in = b, .out = a, .delay = us * 1000 };
    for (int k = 0; k < 2; k++) {
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &dirs[2 * p + k] };
      if (epoll_ctl(ep, EPOLL_CTL_ADD, dirs[2 * p + k].in, &ev) < 0) die("epoll_ctl", argv[3 * p + 1 + k]);
    }
  }
  pid_t child = fork();
  if (child < 0) die("fork", "");
  if (child > 0) {
    printf("%d\n", (int)child);
    return 0;
  }
  // The caller reads the parent's output to its end: the child must hold neither stdout nor stderr.
  int null = open("/dev/null", O_WRONLY);
  if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0) die("open", "/dev/null");
  setsid();

  unsigned char *buf = malloc(MAX_FRAME);
  struct epoll_event evs[64];
  int64_t next = INT64_MAX;
  int live = pairs * 2;
  if (!buf) die("malloc", "");
  for (;;) {
    struct timespec timeout, *tp = NULL;
    if (next != INT64_MAX) {
      int64_t wait = next - now_ns();
      if (wait < 0) wait = 0;
      timeout = (struct timespec){ .tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000 };
      tp = &timeout;
    }
    int n = epoll_pwait2(ep, evs, 64, tp, NULL);
    if (n < 0 && errno != EINTR) die("epoll_pwait2", "");
    int64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      struct dir *d = evs[i].data.ptr;
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
        // The tap was deleted (with its namespace): stop polling it, and stop once no tap is left.
        epoll_ctl(ep, EPOLL_CTL_DEL, d->in, NULL);
        if (--live == 0) return 0;
      } else take(d, buf, now);
    }
    next = INT64_MAX;
    for (int i = 0; i < pairs * 2; i++) {
      int64_t due = give(&dirs[i], now);
      if (due < next) next = due;
    }
  }
}
