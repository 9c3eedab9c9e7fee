// Floor for figure c: a CONNECT relay in C, no event loop, one tunnel at a time.
// Mode "copy" moves the origin's bytes through a 256 KiB user buffer (read/write, what
// dfp does); mode "splice" moves them socket -> pipe -> socket inside the kernel
// (splice(2)), which no Node API offers. The client's few bytes go the other way in a
// forked child. Only for measuring (blocking I/O, no limits, 127.0.0.1 only):
//   gcc -O2 -o /tmp/relay bench/floors/relay.c && /tmp/relay splice 18080
// then tunbench bulk against 127.0.0.1:18080 (bench/README.md, "What bounds ... c").
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[256 * 1024];

static int write_all(int fd, const char *p, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, (size_t)n);
    if (w <= 0) return -1;
    p += w;
    n -= w;
  }
  return 0;
}

static void copy_loop(int from, int to) {
  ssize_t n;
  while ((n = read(from, buf, sizeof buf)) > 0)
    if (write_all(to, buf, n) < 0) return;
}

static void splice_loop(int from, int to) {
  int p[2];
  if (pipe(p) < 0) return;
  fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  for (;;) {
    ssize_t m = splice(from, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE);
    if (m <= 0) break;
    while (m > 0) {
      ssize_t w = splice(p[0], NULL, to, NULL, (size_t)m, SPLICE_F_MOVE);
      if (w <= 0) goto done;
      m -= w;
    }
  }
done:
  close(p[0]);
  close(p[1]);
}

static int dial(const char *host, int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || ntohl(a.sin_addr.s_addr) >> 24 != 127) return -1;
  int u = socket(AF_INET, SOCK_STREAM, 0);
  if (u >= 0 && connect(u, (struct sockaddr *)&a, sizeof a) == 0) return u;
  if (u >= 0) close(u);
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: relay copy|splice PORT\n");
    return 2;
  }
  int use_splice = strcmp(argv[1], "splice") == 0, one = 1;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_IGN);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 64) < 0) {
    perror("relay: listen");
    return 1;
  }
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0) continue;
    ssize_t n = read(c, buf, sizeof buf - 1);
    char host[64];
    int port;
    int u = -1;
    if (n > 0) {
      buf[n] = 0;
      if (sscanf(buf, "CONNECT %63[^:]:%d", host, &port) == 2) u = dial(host, port);
    }
    if (u < 0) {
      close(c);
      continue;
    }
    write_all(c, "HTTP/1.1 200 Connection Established\r\n\r\n", 39);
    if (fork() == 0) {
      close(l);
      copy_loop(c, u);
      shutdown(u, SHUT_WR);
      _exit(0);
    }
    if (use_splice) splice_loop(u, c);
    else copy_loop(u, c);
    shutdown(c, SHUT_WR);
    close(u);
    close(c);
  }
}
