/* A client script (pipelines/rtsp-camera.sh, ...) run by a test program in its own process
 * group, its standard output read line by line from the test's main loop; the whole test is
 * bounded, and the client never outlives it (a failing check, the hard timeout, meson's SIGTERM). */
#pragma once

#include "pipeline_test_util.h"

#include <glib-unix.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

/* The running client's pid (its process group), 0 when none. */
static inline GPid *
client_process_pid (void)
{
  static GPid pid;
  return &pid;
}

static inline void
client_process_kill (void)
{
  if (*client_process_pid ())
    kill (-*client_process_pid (), SIGKILL);
}

/* The hard bound, and meson's own timeout (SIGTERM): end the client too, whatever the loop
 * is doing. */
static inline void
client_process_on_fatal_signal (int signum)
{
  static const char message[] = "FAIL: hard timeout or terminated\n";
  client_process_kill ();
  if (write (STDERR_FILENO, message, sizeof (message) - 1) < 0)
    _exit (1);
  _exit (signum == SIGALRM ? 1 : 2);
}

static inline void
client_process_own_group (gpointer user_data)
{
  (void) user_data;
  setpgid (0, 0);
}

/* Starts `argv` (searched in PATH), arms the hard timeout of `hard_timeout_s` and returns its
 * standard output as a non-blocking, unbuffered binary channel (`out_fd` is its descriptor).
 * The caller watches the pid (g_child_watch_add) and sets *client_process_pid () to 0 when it
 * has exited. */
static inline GIOChannel *
client_process_spawn (const gchar ** argv, guint hard_timeout_s, GPid * pid, gint * out_fd)
{
  GError *error = NULL;
  GIOChannel *out;

  CHECK (g_spawn_async_with_pipes (NULL, (gchar **) argv, NULL,
          G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, client_process_own_group, NULL,
          pid, NULL, out_fd, NULL, &error), "cannot run %s %s: %s", argv[0],
      argv[1] ? argv[1] : "", error ? error->message : "?");
  *client_process_pid () = *pid;
  atexit (client_process_kill);
  signal (SIGALRM, client_process_on_fatal_signal);
  signal (SIGTERM, client_process_on_fatal_signal);
  signal (SIGINT, client_process_on_fatal_signal);
  alarm (hard_timeout_s);
  CHECK (g_unix_set_fd_nonblocking (*out_fd, TRUE, NULL), "cannot make the pipe non-blocking");
  out = g_io_channel_unix_new (*out_fd);
  g_io_channel_set_encoding (out, NULL, NULL);
  g_io_channel_set_buffered (out, FALSE);
  g_io_channel_set_close_on_unref (out, TRUE);
  return out;
}
