/*
 * ww.h: the `ww` host module for C guests (clang --target=wasm32-wasi with wasi-libc).
 *
 * The contract is guest-sdk/ABI.md (version 1); this header declares its imports with the
 * prefix `ww_` and adds a few helpers (the `static inline` functions below) that do what the
 * AssemblyScript SDK's classes do. Every function returns 0 or a WASI errno, which in wasi-libc
 * are the <errno.h> constants (EBADF, EAGAIN, EPIPE, ...), so `strerror(err)` describes them and
 * `ww_last_error` adds the host's message.
 *
 * Build: clang --target=wasm32-wasi --sysroot=/usr -I guest-sdk/include -O2 -o prog.wasm prog.c
 * Run:   ww run prog.wasm
 */
#ifndef WW_H
#define WW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
#define WW_STATIC_ASSERT static_assert
#else
#define WW_STATIC_ASSERT _Static_assert
#endif

/* A handle: a number in this process's handle table. 0 is never a handle. */
typedef int32_t ww_handle;

/* Handle kinds (ww_handle_kind). */
#define WW_KIND_PROCESS 1
#define WW_KIND_EXECUTOR 2
#define WW_KIND_CHAN_SEND 3
#define WW_KIND_CHAN_RECV 4
#define WW_KIND_STORE 5
#define WW_KIND_MONITOR 6

/* Flag of the calls that may block: return EAGAIN instead. */
#define WW_NONBLOCK 1

/* Spawn spec flags. */
#define WW_SPAWN_CID 1  /* module is a content ID (64 lowercase hex digits) in the node's cache */
#define WW_SPAWN_SELF 2 /* run the caller's own module */
#define WW_SPAWN_LINK 4 /* link the child to the caller before it runs */

/* Event kinds (ww_event_poll). */
#define WW_EVENT_PAUSE 1
#define WW_EVENT_RESUME 2
#define WW_EVENT_DOWN 3

/* Channel limits: bytes and handles in one message. */
#define WW_MAX_MESSAGE_BYTES (1u << 20)
#define WW_MAX_MESSAGE_HANDLES 64

/* What `spawn` reads (ABI "The spawn spec"). Zero it, then fill what you need. */
typedef struct ww_spawn_spec {
  const void *module;       /* module bytes, or its content ID with WW_SPAWN_CID */
  uint32_t module_len;
  uint32_t flags;           /* WW_SPAWN_* */
  const char *argv;         /* NUL-terminated strings back to back ("child\0" "3\0") */
  uint32_t argv_len;        /* total bytes; 0: a default program name */
  const char *env;          /* NUL-terminated KEY=VALUE strings back to back */
  uint32_t env_len;
  const ww_handle *handles; /* moved into the child: its initial handles, in order */
  uint32_t handles_count;   /* at most 64 */
  uint32_t reserved;        /* 0 */
  uint64_t max_memory_bytes; /* limits: 0 = the caller's own; never above the caller's own */
  uint64_t fuel;
  uint64_t timeout_ms;
} ww_spawn_spec;
WW_STATIC_ASSERT(sizeof(ww_spawn_spec) == 64, "ww_spawn_spec is 64 bytes (ABI v1)");

/* One event (ABI "Events"). */
typedef struct ww_event {
  uint32_t kind;    /* WW_EVENT_* */
  ww_handle handle; /* DOWN: the monitor that fired */
  int64_t value;    /* PAUSE: grace period in ms; DOWN: exit code */
} ww_event;
WW_STATIC_ASSERT(sizeof(ww_event) == 16, "ww_event is 16 bytes (ABI v1)");

#define WW_IMPORT(name) __attribute__((import_module("ww"), import_name(#name)))

/* Handles */
WW_IMPORT(self) int32_t ww_self(ww_handle *out);
WW_IMPORT(initial) int32_t ww_initial(int32_t index, ww_handle *out);
WW_IMPORT(handle_kind) int32_t ww_handle_kind(ww_handle h, uint32_t *out_kind);
WW_IMPORT(handle_dup) int32_t ww_handle_dup(ww_handle h, ww_handle *out);
WW_IMPORT(handle_drop) int32_t ww_handle_drop(ww_handle h);
WW_IMPORT(last_error) int32_t ww_last_error(char *buf, uint32_t buf_len, uint32_t *out_len);

/* Processes */
WW_IMPORT(spawn) int32_t ww_spawn(ww_handle executor, const ww_spawn_spec *spec, uint32_t spec_len, ww_handle *out_proc);
WW_IMPORT(proc_pid) int32_t ww_proc_pid(ww_handle h, uint32_t *out_pid);
WW_IMPORT(proc_wait) int32_t ww_proc_wait(ww_handle h, uint32_t flags, int32_t *out_code, char *reason,
                                          uint32_t reason_len, uint32_t *out_reason_len);
WW_IMPORT(proc_kill) int32_t ww_proc_kill(ww_handle h);
WW_IMPORT(proc_pause) int32_t ww_proc_pause(ww_handle h);
WW_IMPORT(proc_resume) int32_t ww_proc_resume(ww_handle h);
WW_IMPORT(proc_link) int32_t ww_proc_link(ww_handle h);
WW_IMPORT(proc_unlink) int32_t ww_proc_unlink(ww_handle h);
WW_IMPORT(proc_monitor) int32_t ww_proc_monitor(ww_handle h, ww_handle *out_monitor);
WW_IMPORT(monitor_wait) int32_t ww_monitor_wait(ww_handle m, uint32_t flags, int32_t *out_code, char *reason,
                                                uint32_t reason_len, uint32_t *out_reason_len);

/* Channels */
WW_IMPORT(chan_create) int32_t ww_chan_create(int32_t capacity, ww_handle *out_send, ww_handle *out_recv);
WW_IMPORT(chan_send) int32_t ww_chan_send(ww_handle h, uint32_t flags, const void *data, uint32_t data_len,
                                          const ww_handle *handles, uint32_t handles_count);
WW_IMPORT(chan_recv) int32_t ww_chan_recv(ww_handle h, uint32_t flags, void *buf, uint32_t buf_len, uint32_t *out_len,
                                          ww_handle *handles, uint32_t handles_cap, uint32_t *out_handles_count);
WW_IMPORT(chan_close) int32_t ww_chan_close(ww_handle h);

/* The capability store */
WW_IMPORT(store_set) int32_t ww_store_set(ww_handle store, const char *name, uint32_t name_len, ww_handle h);
WW_IMPORT(store_get) int32_t ww_store_get(ww_handle store, const char *name, uint32_t name_len, ww_handle *out);

/* Events */
WW_IMPORT(event_poll) int32_t ww_event_poll(uint32_t flags, ww_event *out_event);

#undef WW_IMPORT

/* ---- Helpers (the AssemblyScript SDK's conveniences, for C) ---- */

/* The first initial handle of `kind` (WW_KIND_EXECUTOR, WW_KIND_STORE, ...), or 0 if none. */
static inline ww_handle ww_initial_of_kind(uint32_t kind) {
  for (int32_t i = 0;; i++) {
    ww_handle h;
    uint32_t k;
    if (ww_initial(i, &h) != 0) return 0;
    if (ww_handle_kind(h, &k) == 0 && k == kind) return h;
  }
}

/* The host's message about the last failing ww call, NUL-terminated in `buf` ("" if none). */
static inline const char *ww_last_error_text(char *buf, size_t size) {
  uint32_t len = 0;
  if (size == 0) return buf;
  if (ww_last_error(buf, (uint32_t)(size - 1), &len) != 0) len = 0;
  buf[len < size - 1 ? len : size - 1] = '\0';
  return buf;
}

/* This process's pid (0 if the host has no ww module). */
static inline uint32_t ww_my_pid(void) {
  ww_handle me;
  uint32_t pid = 0;
  if (ww_self(&me) == 0) ww_proc_pid(me, &pid);
  return pid;
}

/* Packs a NULL-terminated array of strings as NUL-terminated strings back to back (malloc'd;
 * free it). Sets *len to the total size. NULL if out of memory. */
static inline char *ww_pack_strings(const char *const *list, uint32_t *len) {
  size_t total = 0;
  for (size_t i = 0; list && list[i]; i++) total += strlen(list[i]) + 1;
  char *buf = (char *)malloc(total ? total : 1);
  if (!buf) return NULL;
  size_t at = 0;
  for (size_t i = 0; list && list[i]; i++) {
    size_t n = strlen(list[i]) + 1;
    memcpy(buf + at, list[i], n);
    at += n;
  }
  *len = (uint32_t)total;
  return buf;
}

/* Spawns a child running this process's own module with `argv` (NULL-terminated; NULL: this
 * program's name), moving `handles` into it. `flags` may add WW_SPAWN_LINK. */
static inline int32_t ww_spawn_self(ww_handle executor, const char *const *argv, const ww_handle *handles,
                                    uint32_t handles_count, uint32_t flags, ww_handle *out_proc) {
  ww_spawn_spec spec;
  memset(&spec, 0, sizeof spec);
  char *packed = ww_pack_strings(argv, &spec.argv_len);
  if (!packed) return 48; /* ENOMEM */
  spec.flags = WW_SPAWN_SELF | flags;
  spec.argv = packed;
  spec.handles = handles;
  spec.handles_count = handles_count;
  int32_t err = ww_spawn(executor, &spec, sizeof spec, out_proc);
  free(packed);
  return err;
}

/* Spawns a child from module bytes in memory (or, with WW_SPAWN_CID in `flags`, a content ID). */
static inline int32_t ww_spawn_module(ww_handle executor, const void *module, uint32_t module_len,
                                      const char *const *argv, const ww_handle *handles, uint32_t handles_count,
                                      uint32_t flags, ww_handle *out_proc) {
  ww_spawn_spec spec;
  memset(&spec, 0, sizeof spec);
  char *packed = ww_pack_strings(argv, &spec.argv_len);
  if (!packed) return 48; /* ENOMEM */
  spec.module = module;
  spec.module_len = module_len;
  spec.flags = flags;
  spec.argv = packed;
  spec.handles = handles;
  spec.handles_count = handles_count;
  int32_t err = ww_spawn(executor, &spec, sizeof spec, out_proc);
  free(packed);
  return err;
}

/* Sends a NUL-terminated string (without the NUL) and no handles; blocks while the channel is full. */
static inline int32_t ww_send_text(ww_handle sender, const char *text) {
  return ww_chan_send(sender, 0, text, (uint32_t)strlen(text), NULL, 0);
}

/* Receives one message without handles into `buf` (at most size-1 bytes) and NUL-terminates it;
 * blocks while the channel is empty. EPIPE: closed and empty. EMSGSIZE: it does not fit (it stays
 * queued). */
static inline int32_t ww_recv_text(ww_handle receiver, char *buf, size_t size, uint32_t *out_len) {
  uint32_t len = 0, handles = 0;
  if (size == 0) return 28; /* EINVAL */
  int32_t err = ww_chan_recv(receiver, 0, buf, (uint32_t)(size - 1), &len, NULL, 0, &handles);
  if (err != 0) return err;
  buf[len] = '\0';
  if (out_len) *out_len = len;
  return 0;
}

/* Waits for a process to end; its exit code and reason (NUL-terminated, truncated to `size`). */
static inline int32_t ww_wait(ww_handle process, int32_t *code, char *reason, size_t size) {
  uint32_t len = 0;
  if (size == 0) return 28; /* EINVAL */
  int32_t err = ww_proc_wait(process, 0, code, reason, (uint32_t)(size - 1), &len);
  if (err != 0) return err;
  reason[len < size - 1 ? len : size - 1] = '\0';
  return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* WW_H */
