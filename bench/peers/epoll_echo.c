/* epoll_echo.c — the reference peer: a single-threaded, edge-triggered epoll
 * echo server in plain C, the practical limit of what one thread can do.
 *
 *   cc -O2 -o epoll_echo epoll_echo.c && ./epoll_echo 7100 [HOST]
 *
 * Prints "listening on HOST:PORT" (the real port, also for port 0) on stderr
 * when ready, echoes every byte as it arrives, half-closes after the peer's
 * EOF once everything pending is sent, and exits 0 on SIGTERM or SIGINT.
 * One 64 KiB read buffer is shared by all connections; only bytes the peer
 * is not ready to take are kept per connection (a growing pending buffer),
 * so an idle connection costs the kernel's socket and nothing else here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
  int fd;
  int eof;          /* the peer half-closed */
  int paused;       /* stopped reading while too much is pending */
  char *pend;       /* bytes not yet accepted by the kernel */
  size_t pend_off, pend_len, pend_cap;
};

static char rbuf[65536];

static void conn_close(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->pend);
  free(c);
}

/* Sends what is pending; 0 when all is sent, 1 when the kernel is full, -1 on error. */
static int flush_pending(struct conn *c) {
  while (c->pend_len > 0) {
    ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
      return -1;
    }
    c->pend_off += (size_t)n;
    c->pend_len -= (size_t)n;
  }
  c->pend_off = 0;
  return 0;
}

static int append_pending(struct conn *c, const char *p, size_t n) {
  if (c->pend_off + c->pend_len + n > c->pend_cap) {
    if (c->pend_off > 0) {
      memmove(c->pend, c->pend + c->pend_off, c->pend_len);
      c->pend_off = 0;
    }
    if (c->pend_len + n > c->pend_cap) {
      size_t cap = c->pend_cap ? c->pend_cap : 4096;
      while (cap < c->pend_len + n) cap *= 2;
      char *np = realloc(c->pend, cap);
      if (!np) return -1;
      c->pend = np;
      c->pend_cap = cap;
    }
  }
  memcpy(c->pend + c->pend_off + c->pend_len, p, n);
  c->pend_len += n;
  return 0;
}

/* Handles readiness; returns -1 when the connection is finished. */
static int on_ready(struct conn *c, unsigned events) {
  if (events & EPOLLOUT) {
    int r = flush_pending(c);
    if (r < 0) return -1;
    if (r == 0 && c->eof) {
      shutdown(c->fd, SHUT_WR);
      return -1;
    }
  }
  if (c->eof) return 0;
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !c->paused) return 0;
  c->paused = 0;
  for (;;) {
    if (c->pend_len >= 4 * sizeof rbuf) { /* backpressure: resume on EPOLLOUT */
      c->paused = 1;
      return 0;
    }
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    if (n == 0) {
      c->eof = 1;
      if (c->pend_len == 0) {
        shutdown(c->fd, SHUT_WR);
        return -1;
      }
      return 0;
    }
    size_t off = 0;
    if (c->pend_len == 0) {
      while (off < (size_t)n) {
        ssize_t w = send(c->fd, rbuf + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          return -1;
        }
        off += (size_t)w;
      }
    }
    if (off < (size_t)n && append_pending(c, rbuf + off, (size_t)n - off) < 0) return -1;
    if ((size_t)n < sizeof rbuf) return 0; /* drained the socket (edge-triggered) */
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7100;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "bad host %s\n", host);
    return 2;
  }
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0) {
    perror("bind/listen");
    return 1;
  }
  socklen_t alen = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  fprintf(stderr, "listening on %s:%d\n", host, ntohs(a.sin_port));

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev);

  struct epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(ep, evs, 512, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == &sfd) {
        fprintf(stderr, "stopping\n");
        return 0;
      }
      if (evs[i].data.ptr == NULL) {
        for (;;) {
          int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *c = calloc(1, sizeof *c);
          if (!c) {
            close(cfd);
            continue;
          }
          c->fd = cfd;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      struct conn *c = evs[i].data.ptr;
      if (on_ready(c, evs[i].events) < 0) conn_close(ep, c);
    }
  }
}
