/* tcp-pingpong: the plain-C references for troupe-bench's two-process
 * ping-pong workloads.
 *
 *   tcp-pingpong remote-pingpong [--n N]   TCP over 127.0.0.1
 *   tcp-pingpong uds-pingpong [--n N]      socketpair(AF_UNIX, SOCK_STREAM)
 *   tcp-pingpong pipe-pingpong [--n N]     two pipe()s, one per direction
 *
 * Two processes, blocking I/O, no framework at all: the parent sets up the
 * channel, forks a child that echoes, and then sends an 8-byte message that
 * the child echoes, N times with one message in flight. For TCP the parent
 * listens on 127.0.0.1 (ephemeral port), the child connects, and both ends
 * set TCP_NODELAY. Only the round-trip loop is timed (CLOCK_MONOTONIC).
 * Prints exactly one JSON line on stdout:
 *
 *   {"workload":"remote-pingpong","n":20000,"threads":1,"seconds":0.28,
 *    "ns_per_op":14000.0,"ops_per_s":71428,"rss_bytes":...}
 *
 * Unit: round trip. N defaults to 20000. rss_bytes is the parent's resident
 * set after the loop. Usage errors go to stderr with exit code 2; any failure
 * at run time (I/O error, wrong echo, a peer that stalls for STALL_SECONDS)
 * goes to stderr with exit code 1. The child is always killed and reaped
 * before the parent exits.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A peer that sends nothing for this long makes the run fail instead of
 * hanging. Sockets (TCP, Unix) apply it to every blocking call as
 * SO_RCVTIMEO/SO_SNDTIMEO, and alarm() applies it to the whole set-up phase.
 * Pipes have no such options, so for them alarm() stays armed through the
 * loop and is re-armed every REARM_EVERY round trips (parent) or messages
 * (child): a stall is then STALL_SECONDS without REARM_EVERY round trips. */
#define STALL_SECONDS 120
#define REARM_EVERY 1024

#define USAGE "usage: tcp-pingpong {remote-pingpong|uds-pingpong|pipe-pingpong}" \
              " [--n N]\n"

enum workload { REMOTE_PINGPONG, UDS_PINGPONG, PIPE_PINGPONG };
static const char* const workload_names[] = {
  "remote-pingpong", "uds-pingpong", "pipe-pingpong"};

static pid_t child_pid = -1;
/* Set once the timed loop runs under alarm() (pipes only). */
static volatile sig_atomic_t alarm_in_loop = 0;

/* Kills and reaps the child, if any. Async-signal-safe. */
static void stop_child(void) {
  if (child_pid > 0) {
    kill(child_pid, SIGKILL);
    while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR) {
    }
    child_pid = -1;
  }
}

static void usage_error(const char* msg, const char* arg) {
  fprintf(stderr, "tcp-pingpong: %s%s%s%s\n" USAGE,
          msg, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
  exit(2);
}

/* Run-time failure in the parent: kill the child, exit 1. */
static void fail(const char* what) {
  int err = errno;
  alarm(0);
  if (err != 0)
    fprintf(stderr, "tcp-pingpong: %s: %s\n", what, strerror(err));
  else
    fprintf(stderr, "tcp-pingpong: %s\n", what);
  stop_child();
  exit(1);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char setup_msg[] = "tcp-pingpong: set-up stalled\n";
  static const char loop_msg[] = "tcp-pingpong: the child stalled\n";
  ssize_t ignored = alarm_in_loop
                        ? write(STDERR_FILENO, loop_msg, sizeof loop_msg - 1)
                        : write(STDERR_FILENO, setup_msg, sizeof setup_msg - 1);
  (void)ignored;
  stop_child();
  _exit(1);
}

/* Parses a positive whole number; anything else is a usage error. */
static uint64_t parse_positive(const char* flag, const char* text) {
  uint64_t value = 0;
  const char* p = text;
  for (; *p != '\0'; ++p) {
    unsigned digit = (unsigned)(*p - '0');
    if (*p < '0' || *p > '9' || value > (UINT64_MAX - digit) / 10)
      break;
    value = value * 10 + digit;
  }
  if (*text == '\0' || *p != '\0' || value == 0) {
    fprintf(stderr, "tcp-pingpong: %s needs a positive whole number, got '%s'\n"
                    USAGE,
            flag, text);
    exit(2);
  }
  return value;
}

/* Reads or writes exactly len bytes; returns 0 on success, -1 on error or
 * end of stream (errno 0 for end of stream, EAGAIN/EWOULDBLOCK on stall). */
static int read_full(int fd, void* buf, size_t len) {
  char* p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r > 0) {
      p += r;
      len -= (size_t)r;
    } else if (r == 0) {
      errno = 0;
      return -1;
    } else if (errno != EINTR) {
      return -1;
    }
  }
  return 0;
}

static int write_full(int fd, const void* buf, size_t len) {
  const char* p = buf;
  while (len > 0) {
    ssize_t r = write(fd, p, len);
    if (r > 0) {
      p += r;
      len -= (size_t)r;
    } else if (r < 0 && errno != EINTR) {
      return -1;
    }
  }
  return 0;
}

/* Send/receive timeouts, so no blocking socket call waits forever. */
static int set_timeouts(int fd) {
  struct timeval tv;
  tv.tv_sec = STALL_SECONDS;
  tv.tv_usec = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return -1;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
    return -1;
  return 0;
}

/* TCP_NODELAY plus the timeouts. */
static int tune_socket(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    return -1;
  return set_timeouts(fd);
}

/* Resident set size in bytes (second field of /proc/self/statm). */
static unsigned long long current_rss(void) {
  unsigned long size = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return (unsigned long long)resident * (unsigned long long)sysconf(_SC_PAGESIZE);
}

/* The child's echo loop: reads 8-byte messages from rd and writes them back
 * to wr until the parent closes its end. With use_alarm (pipes), SIGALRM
 * (default action: terminate) ends a child that gets nothing for
 * STALL_SECONDS. Never returns. */
static void run_echo(int rd, int wr, int use_alarm) {
  for (uint64_t count = 0;; ++count) {
    uint64_t msg;
    if (use_alarm && count % REARM_EVERY == 0)
      alarm(STALL_SECONDS);
    if (read_full(rd, &msg, sizeof msg) != 0) {
      if (errno == 0)
        _exit(0); /* the parent closed its end: done */
      perror("tcp-pingpong (child): read");
      _exit(1);
    }
    if (write_full(wr, &msg, sizeof msg) != 0) {
      perror("tcp-pingpong (child): write");
      _exit(1);
    }
  }
}

/* The TCP child: connects, then echoes. Never returns. */
static void run_tcp_child(const struct sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || tune_socket(fd) != 0
      || connect(fd, (const struct sockaddr*)addr, sizeof *addr) != 0) {
    perror("tcp-pingpong (child): connect");
    _exit(1);
  }
  run_echo(fd, fd, 0);
}

/* Forks the child; in the child, resets the parent's alarm handling and
 * returns 0, in the parent returns 1. */
static int fork_child(void) {
  fflush(NULL); /* nothing buffered may be written twice */
  child_pid = fork();
  if (child_pid < 0)
    fail("fork");
  if (child_pid == 0) {
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    return 0;
  }
  return 1;
}

/* Parent side of TCP set-up: listen, fork the connecting child, accept.
 * Returns the connected socket. */
static int setup_tcp(void) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0)
    fail("socket");
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t addr_len = sizeof addr;
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0
      || listen(listener, 1) != 0
      || getsockname(listener, (struct sockaddr*)&addr, &addr_len) != 0)
    fail("bind/listen on 127.0.0.1");

  if (!fork_child()) {
    close(listener);
    run_tcp_child(&addr);
  }

  int fd = accept(listener, NULL, NULL);
  if (fd < 0)
    fail("accept");
  close(listener);
  if (tune_socket(fd) != 0)
    fail("setsockopt");
  return fd;
}

/* Parent side of Unix-socket set-up: one socketpair, one end each. Returns
 * the parent's end. */
static int setup_uds(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    fail("socketpair");
  if (set_timeouts(sv[0]) != 0 || set_timeouts(sv[1]) != 0)
    fail("setsockopt");
  if (!fork_child()) {
    close(sv[0]);
    run_echo(sv[1], sv[1], 0);
  }
  close(sv[1]); /* or the child never sees end of stream */
  return sv[0];
}

/* Parent side of pipe set-up: parent->child and child->parent pipes. Sets
 * *rd and *wr to the parent's ends. */
static void setup_pipes(int* rd, int* wr) {
  int down[2], up[2]; /* [0] read end, [1] write end */
  if (pipe(down) != 0)
    fail("pipe");
  if (pipe(up) != 0)
    fail("pipe");
  if (!fork_child()) {
    close(down[1]);
    close(up[0]);
    run_echo(down[0], up[1], 1);
  }
  close(down[0]); /* or the child never sees end of stream */
  close(up[1]);   /* or a dead child does not show up as end of stream */
  *rd = up[0];
  *wr = down[1];
}

int main(int argc, char** argv) {
  uint64_t n = 20000;
  enum workload workload = REMOTE_PINGPONG;

  if (argc < 2 || argv[1][0] == '-')
    usage_error("missing workload", NULL);
  if (strcmp(argv[1], "remote-pingpong") == 0)
    workload = REMOTE_PINGPONG;
  else if (strcmp(argv[1], "uds-pingpong") == 0)
    workload = UDS_PINGPONG;
  else if (strcmp(argv[1], "pipe-pingpong") == 0)
    workload = PIPE_PINGPONG;
  else
    usage_error("unknown workload", argv[1]);
  for (int i = 2; i < argc; i += 2) {
    if (strcmp(argv[i], "--n") != 0)
      usage_error("unknown flag", argv[i]);
    if (i + 1 >= argc)
      usage_error("missing value for", argv[i]);
    n = parse_positive(argv[i], argv[i + 1]);
  }

  /* A closed peer must show up as an error from write(), not kill us. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(STALL_SECONDS);

  int rd = -1, wr = -1;
  int use_alarm = 0;
  switch (workload) {
  case REMOTE_PINGPONG:
    rd = wr = setup_tcp();
    break;
  case UDS_PINGPONG:
    rd = wr = setup_uds();
    break;
  case PIPE_PINGPONG:
    setup_pipes(&rd, &wr);
    use_alarm = 1;
    break;
  }
  if (use_alarm)
    alarm_in_loop = 1; /* alarm() stays the stall limit, re-armed below */
  else
    alarm(0); /* from here on, the socket timeouts are the stall limit */

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t out = i, in = 0;
    if (use_alarm && i % REARM_EVERY == 0)
      alarm(STALL_SECONDS);
    if (write_full(wr, &out, sizeof out) != 0)
      fail("write");
    if (read_full(rd, &in, sizeof in) != 0)
      fail(errno == 0 ? "the child closed the connection" : "read");
    if (in != out) {
      errno = 0;
      fail("wrong echo");
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  alarm(0);
  alarm_in_loop = 0;
  unsigned long long rss = current_rss();

  /* Closing our ends ends the child; reap it (kill it if it lingers). */
  if (wr != rd)
    close(wr);
  close(rd);
  int status = 0;
  pid_t reaped = -1;
  for (int tries = 0; tries < 5000; ++tries) { /* up to ~5 s */
    reaped = waitpid(child_pid, &status, WNOHANG);
    if (reaped != 0 && !(reaped < 0 && errno == EINTR))
      break;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  if (reaped == child_pid) {
    child_pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      errno = 0;
      fail("the child failed");
    }
  } else {
    errno = 0;
    fail("the child did not exit");
  }

  double seconds = (double)(t1.tv_sec - t0.tv_sec)
                   + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  double units = (double)n;
  printf("{\"workload\":\"%s\",\"n\":%llu,\"threads\":1,"
         "\"seconds\":%.6f,\"ns_per_op\":%.1f,\"ops_per_s\":%.0f,"
         "\"rss_bytes\":%llu}\n",
         workload_names[workload], (unsigned long long)n, seconds,
         seconds * 1e9 / units, units / seconds, rss);
  return 0;
}
