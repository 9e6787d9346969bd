/*
 * Listening sockets that share one port (SO_REUSEPORT) for the agent listener (server/listen.ts).
 *   listenShared(address, port, backlog, count) -> { fds: number[], port: number }
 * `address` is a numeric IPv4 or IPv6 address; port 0 picks a free port for the first socket and the
 * others join it. Each socket is non-blocking, close-on-exec and listening; Node takes each over
 * with server.listen({ fd }). Any failure closes what was made and throws an Error naming the step
 * and errno. Elsewhere than Linux the function throws: the caller listens the ordinary way.
 */
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#if defined(__linux__)
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#define MAX_SOCKETS 64

static napi_value fail(napi_env env, const char *step, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", step, strerror(err));
  napi_throw_error(env, "TG_E_LISTEN", msg);
  return NULL;
}

static napi_value listen_shared(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char address[64];
  size_t len = 0;
  int32_t port = 0, backlog = 0, count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_string_utf8(env, argv[0], address, sizeof address, &len) != napi_ok || len == 0 || len >= sizeof address - 1 ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 0 || port > 65535 ||
      napi_get_value_int32(env, argv[2], &backlog) != napi_ok || backlog < 1 ||
      napi_get_value_int32(env, argv[3], &count) != napi_ok || count < 1 || count > MAX_SOCKETS) {
    napi_throw_range_error(env, NULL, "listenShared(address, port 0-65535, backlog >= 1, count 1-64)");
    return NULL;
  }
#if defined(__linux__)
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  int gai = getaddrinfo(address, service, &hints, &ai);
  if (gai != 0 || ai == NULL) {
    char msg[160];
    snprintf(msg, sizeof msg, "not a numeric address: %s (%s)", address, gai_strerror(gai));
    napi_throw_error(env, "TG_E_LISTEN", msg);
    return NULL;
  }
  int fds[MAX_SOCKETS];
  int made = 0, bound_port = port;
  const char *step = NULL;
  int err = 0;
  /*
   * A port another socket holds must refuse us as it refuses Node's own listen (EADDRINUSE), even
   * when that socket also set SO_REUSEPORT (a second server left running by mistake would otherwise
   * share the fleet's connections). A socket without SO_REUSEPORT can bind only a free port.
   */
  if (port != 0) {
    int probe = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1, off = 0;
    if (probe < 0) { err = errno; freeaddrinfo(ai); return fail(env, "socket", err); }
    setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ai->ai_family == AF_INET6) setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(probe, ai->ai_addr, ai->ai_addrlen) != 0) { err = errno; close(probe); freeaddrinfo(ai); return fail(env, "bind", err); }
    close(probe);
  }
  for (; made < count; made++) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { step = "socket"; err = errno; break; }
    fds[made] = fd;
    int on = 1, off = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) { step = "SO_REUSEADDR"; err = errno; made++; break; }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) { step = "SO_REUSEPORT"; err = errno; made++; break; }
    /* As Node does for "::": one socket for IPv6 and IPv4-mapped clients. */
    if (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) { step = "IPV6_V6ONLY"; err = errno; made++; break; }
    if (ai->ai_family == AF_INET6) ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)bound_port);
    else ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)bound_port);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) { step = "bind"; err = errno; made++; break; }
    if (listen(fd, backlog) != 0) { step = "listen"; err = errno; made++; break; }
    if (bound_port == 0) {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) { step = "getsockname"; err = errno; made++; break; }
      bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
  }
  freeaddrinfo(ai);
  if (step != NULL) {
    for (int i = 0; i < made; i++) close(fds[i]);
    return fail(env, step, err);
  }
  napi_value result, list, v;
  napi_create_object(env, &result);
  napi_create_array_with_length(env, (size_t)count, &list);
  for (int i = 0; i < count; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, list, (uint32_t)i, v);
  }
  napi_set_named_property(env, result, "fds", list);
  napi_create_int32(env, bound_port, &v);
  napi_set_named_property(env, result, "port", v);
  return result;
#else
  (void)address; (void)port; (void)backlog; (void)count;
  napi_throw_error(env, "TG_E_LISTEN", "shared listening sockets are built for Linux only");
  return NULL;
#endif
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "listenShared", NAPI_AUTO_LENGTH, listen_shared, NULL, &fn);
  napi_set_named_property(env, exports, "listenShared", fn);
  return exports;
}
