/* tcp-pingpong: the plain-C reference for troupe-bench's remote-pingpong.
 *
 *   tcp-pingpong remote-pingpong [--n N]
 *
 * Two processes, blocking TCP ping-pong over loopback, no framework at all:
 * the parent listens on 127.0.0.1 (ephemeral port), forks a child that
 * connects, and then sends an 8-byte message that the child echoes, N times
 * with one message in flight (TCP_NODELAY on both ends). Only the round-trip
 * loop is timed (CLOCK_MONOTONIC). Prints exactly one JSON line on stdout:
 *
 *   {"workload":"remote-pingpong","n":20000,"threads":1,"seconds":0.28,
 *    "ns_per_op":14000.0,"ops_per_s":71428,"rss_bytes":...}
 *
 * Unit: round trip. rss_bytes is the parent's resident set after the loop.
 * Usage errors go to stderr with exit code 2; any failure at run time (socket
 * error, wrong echo, a peer that stalls for STALL_SECONDS) goes to stderr
 * with exit code 1. The child is always killed and reaped before the parent
 * exits.
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
 * hanging (applied to every blocking socket call as SO_RCVTIMEO/SO_SNDTIMEO,
 * and to the whole set-up phase through alarm()). */
#define STALL_SECONDS 120

static pid_t child_pid = -1;

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
  fprintf(stderr, "tcp-pingpong: %s%s%s%s\n"
                  "usage: tcp-pingpong remote-pingpong [--n N]\n",
          msg, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
  exit(2);
}

/* Run-time failure in the parent: kill the child, exit 1. */
static void fail(const char* what) {
  int err = errno;
  if (err != 0)
    fprintf(stderr, "tcp-pingpong: %s: %s\n", what, strerror(err));
  else
    fprintf(stderr, "tcp-pingpong: %s\n", what);
  stop_child();
  exit(1);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "tcp-pingpong: set-up stalled\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
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
                    "usage: tcp-pingpong remote-pingpong [--n N]\n",
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

/* TCP_NODELAY plus send/receive timeouts, so no blocking call waits forever. */
static int tune_socket(int fd) {
  int one = 1;
  struct timeval tv;
  tv.tv_sec = STALL_SECONDS;
  tv.tv_usec = 0;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    return -1;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return -1;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
    return -1;
  return 0;
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

/* The child: connects and echoes 8-byte messages until the parent closes the
 * connection. Never returns. */
static void run_child(const struct sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || tune_socket(fd) != 0
      || connect(fd, (const struct sockaddr*)addr, sizeof *addr) != 0) {
    perror("tcp-pingpong (child): connect");
    _exit(1);
  }
  for (;;) {
    uint64_t msg;
    if (read_full(fd, &msg, sizeof msg) != 0) {
      if (errno == 0)
        _exit(0); /* the parent closed the connection: done */
      perror("tcp-pingpong (child): read");
      _exit(1);
    }
    if (write_full(fd, &msg, sizeof msg) != 0) {
      perror("tcp-pingpong (child): write");
      _exit(1);
    }
  }
}

int main(int argc, char** argv) {
  uint64_t n = 20000;

  if (argc < 2 || argv[1][0] == '-')
    usage_error("missing workload", NULL);
  if (strcmp(argv[1], "remote-pingpong") != 0)
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

  fflush(NULL); /* nothing buffered may be written twice */
  child_pid = fork();
  if (child_pid < 0)
    fail("fork");
  if (child_pid == 0) {
    close(listener);
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    run_child(&addr);
  }

  int fd = accept(listener, NULL, NULL);
  if (fd < 0)
    fail("accept");
  close(listener);
  if (tune_socket(fd) != 0)
    fail("setsockopt");
  alarm(0); /* from here on, the socket timeouts are the stall limit */

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t out = i, in = 0;
    if (write_full(fd, &out, sizeof out) != 0)
      fail("write");
    if (read_full(fd, &in, sizeof in) != 0)
      fail(errno == 0 ? "the child closed the connection" : "read");
    if (in != out) {
      errno = 0;
      fail("wrong echo");
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  unsigned long long rss = current_rss();

  /* Closing the connection ends the child; reap it (kill it if it lingers). */
  close(fd);
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
  printf("{\"workload\":\"remote-pingpong\",\"n\":%llu,\"threads\":1,"
         "\"seconds\":%.6f,\"ns_per_op\":%.1f,\"ops_per_s\":%.0f,"
         "\"rss_bytes\":%llu}\n",
         (unsigned long long)n, seconds, seconds * 1e9 / units,
         units / seconds, rss);
  return 0;
}
