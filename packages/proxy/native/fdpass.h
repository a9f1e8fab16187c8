// Binding listening sockets and passing descriptors (see fdpass.c).
#ifndef BATON_FDPASS_H
#define BATON_FDPASS_H
#include "engine.h"

#define FDPASS_MAX 64  // descriptors per message

int fd_bind_listen(const char *host, int port, int backlog, int *err);
int fd_local_port(int fd);
int fd_send(int sock, const int *fds, size_t n);
int fd_recv(int sock, int *fds, size_t *n);
int fd_socketpair(int out[2]);
#endif
