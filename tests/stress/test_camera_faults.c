/* Camera faults against pipelines/rtsp-camera.sh (slowfast-launch --restart-on-error) and a
 * real RTSP server on 127.0.0.1 (gst-rtsp-server in this process, H.264 of videotestsrc):
 *
 *   test_camera_faults BUILD_DIR tcp STALL_SECONDS   the stream stalls for STALL_SECONDS with
 *       the TCP connection open (every RTP packet dropped at the payloader), then the camera
 *       changes resolution (160x120 -> 320x240) mid-stream;
 *   test_camera_faults BUILD_DIR udp LOSS_PERCENT    UDP transport with LOSS_PERCENT of the RTP
 *       packets dropped on the server side (fixed seed).
 *
 * After each fault, answers must come again within RESUME_LIMIT_S (the figure is printed; both
 * bounds are multiplied by $SLOWFAST_TEST_TIME_SCALE, see tests/pipeline/test_time_scale.h);
 * the client must end cleanly on SIGINT (no deadlock); every window the element drops is a
 * slowfast-dropped line (counted and printed). The server-kill-and-restart fault is
 * tests/pipeline/test_rtsp_camera.c. Bounded: the whole test fails after HARD_TIMEOUT_S. */
#include "client_process.h"

#include <gst/rtsp-server/rtsp-server.h>

#include <stdlib.h>

#define HARD_TIMEOUT_S 240
#define FIRST_ANSWERS 3
#define RESUME_LIMIT_S 20
#define LOSSY_ANSWERS 6
#define LOSS_SEED 20261203

#define SCENE "( videotestsrc pattern=ball is-live=true ! " \
  "capsfilter name=res caps=video/x-raw,width=160,height=120,framerate=10/1 ! " \
  "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! " \
  "rtph264pay name=pay0 pt=96 config-interval=-1 )"

typedef enum
{ WAIT_FIRST, STALLED, WAIT_AFTER_STALL, WAIT_AFTER_RESIZE, WAIT_LOSSY, STOPPING } Phase;

typedef struct
{
  GMainLoop *loop;
  GstRTSPServer *server;
  gint port;
  gboolean tcp;
  guint stall_s;
  /* the server side, touched from its streaming threads */
  GMutex lock;
  gboolean stalled;
  gdouble loss;
  GRand *rand;
  guint64 packets, packets_dropped;
  GstElement *res;              /* the newest media's capsfilter */
  /* the client */
  GPid client;
  GIOChannel *out;
  GString *line;
  guint answers, dropped_windows, answers_in_phase;
  guint faults;                 /* faults so far; the deadline of the latest counts */
  guint resume_limit_s;         /* RESUME_LIMIT_S, scaled */
  Phase phase;
  gint64 fault_end_us;
  gdouble stall_resume_s, resize_resume_s;
  gint client_status;
} Test;

/* Drops one RTP packet when stalled, or with the loss probability. */
static gboolean
drop_packet (Test * t)
{
  gboolean drop;

  g_mutex_lock (&t->lock);
  t->packets++;
  drop = t->stalled || (t->loss > 0 && g_rand_double (t->rand) < t->loss);
  if (drop)
    t->packets_dropped++;
  g_mutex_unlock (&t->lock);
  return drop;
}

static gboolean
drop_from_list (GstBuffer ** buffer, guint idx, gpointer user_data)
{
  (void) idx;
  if (drop_packet ((Test *) user_data))
    gst_buffer_replace (buffer, NULL);  /* removed from the list */
  return TRUE;
}

static GstPadProbeReturn
on_rtp (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Test *t = (Test *) user_data;

  (void) pad;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));

    gst_buffer_list_foreach (list, drop_from_list, t);
    GST_PAD_PROBE_INFO_DATA (info) = list;
    return gst_buffer_list_length (list) == 0 ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
  }
  return drop_packet (t) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

/* Each new media (a reconnect may make one): the packet filter on its payloader, and its
 * capsfilter for the resolution change. */
static void
on_media_configure (GstRTSPMediaFactory * factory, GstRTSPMedia * media, gpointer user_data)
{
  Test *t = (Test *) user_data;
  GstElement *bin = gst_rtsp_media_get_element (media);
  GstElement *pay = gst_bin_get_by_name (GST_BIN (bin), "pay0");
  GstPad *src = gst_element_get_static_pad (pay, "src");

  (void) factory;
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_rtp,
      t, NULL);
  g_mutex_lock (&t->lock);
  gst_clear_object (&t->res);
  t->res = gst_bin_get_by_name (GST_BIN (bin), "res");
  g_mutex_unlock (&t->lock);
  gst_object_unref (src);
  gst_object_unref (pay);
  gst_object_unref (bin);
}

static void
start_server (Test * t)
{
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  GstRTSPMountPoints *mounts;

  t->server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (t->server, "127.0.0.1");
  gst_rtsp_server_set_service (t->server, "0");
  gst_rtsp_media_factory_set_launch (factory, SCENE);
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  g_signal_connect (factory, "media-configure", G_CALLBACK (on_media_configure), t);
  mounts = gst_rtsp_server_get_mount_points (t->server);
  gst_rtsp_mount_points_add_factory (mounts, "/cam", factory);
  g_object_unref (mounts);
  CHECK (gst_rtsp_server_attach (t->server, NULL) != 0, "the RTSP server cannot listen");
  t->port = gst_rtsp_server_get_bound_port (t->server);
}

static void
stop_client (Test * t)
{
  t->phase = STOPPING;
  kill (-t->client, SIGINT);
}

static Test *the_test;

/* Fails when fault number `fault` is still the latest and nothing was answered since it ended. */
static gboolean
resume_deadline (gpointer fault)
{
  Test *t = the_test;

  CHECK (GPOINTER_TO_UINT (fault) != t->faults || t->answers_in_phase > 0
      || t->phase == STOPPING, "no answer within %d s of the end of fault %u (phase %d)",
      t->resume_limit_s, t->faults, t->phase);
  return G_SOURCE_REMOVE;
}

/* A fault has just ended: answers are due within RESUME_LIMIT_S. */
static void
fault_ended (Test * t, Phase waiting)
{
  t->phase = waiting;
  t->fault_end_us = g_get_monotonic_time ();
  t->answers_in_phase = 0;
  t->faults++;
  g_timeout_add_seconds (t->resume_limit_s, resume_deadline, GUINT_TO_POINTER (t->faults));
}

static gboolean
end_stall (gpointer user_data)
{
  Test *t = (Test *) user_data;

  g_mutex_lock (&t->lock);
  t->stalled = FALSE;
  g_mutex_unlock (&t->lock);
  fault_ended (t, WAIT_AFTER_STALL);
  g_print ("stall over after %u s\n", t->stall_s);
  return G_SOURCE_REMOVE;
}

static void
change_resolution (Test * t)
{
  GstCaps *caps = gst_caps_from_string ("video/x-raw,width=320,height=240,framerate=10/1");

  g_mutex_lock (&t->lock);
  CHECK (t->res != NULL, "no media to change the resolution of");
  g_object_set (t->res, "caps", caps, NULL);
  g_mutex_unlock (&t->lock);
  gst_caps_unref (caps);
  fault_ended (t, WAIT_AFTER_RESIZE);
  g_print ("resolution changed to 320x240\n");
}

static void
on_answer (Test * t, JsonEvent * e)
{
  gdouble since_fault = (e->arrival_us - t->fault_end_us) / 1e6;

  t->answers++;
  t->answers_in_phase++;
  g_print ("session %" G_GINT64_FORMAT " answer at %.3f s: %s\n", e->session,
      e->window_end / 1e9, e->text);
  switch (t->phase) {
    case WAIT_FIRST:
      if (t->answers_in_phase < FIRST_ANSWERS)
        break;
      g_print ("stalling the stream for %u s, connection open\n", t->stall_s);
      g_mutex_lock (&t->lock);
      t->stalled = TRUE;
      g_mutex_unlock (&t->lock);
      t->phase = STALLED;
      t->answers_in_phase = 0;
      t->faults++;              /* no answers are due while stalled */
      g_timeout_add_seconds (t->stall_s, end_stall, t);
      break;
    case STALLED:
      break;                    /* windows already queued may still be answered */
    case WAIT_AFTER_STALL:
      CHECK (since_fault <= t->resume_limit_s, "answers resumed %.1f s after the stall",
          since_fault);
      t->stall_resume_s = since_fault;
      g_print ("answers resumed %.1f s after the stall ended\n", since_fault);
      change_resolution (t);
      break;
    case WAIT_AFTER_RESIZE:
      CHECK (since_fault <= t->resume_limit_s, "answers came %.1f s after the resolution change",
          since_fault);
      if (t->answers_in_phase == 1)
        t->resize_resume_s = since_fault;
      if (t->answers_in_phase >= 2)
        stop_client (t);
      break;
    case WAIT_LOSSY:
      if (t->answers_in_phase >= LOSSY_ANSWERS)
        stop_client (t);
      break;
    case STOPPING:
      break;
  }
}

static gboolean
on_client_output (GIOChannel * channel, GIOCondition condition, gpointer user_data)
{
  Test *t = (Test *) user_data;
  gchar buffer[4096];
  gsize n = 0;
  GIOStatus status;

  (void) condition;
  status = g_io_channel_read_chars (channel, buffer, sizeof (buffer), &n, NULL);
  for (gsize i = 0; i < n; i++) {
    JsonEvent *e;

    if (buffer[i] != '\n') {
      g_string_append_c (t->line, buffer[i]);
      continue;
    }
    e = json_event_parse (t->line->str);
    CHECK (e != NULL, "the client printed a line that is not a JSON event: %s", t->line->str);
    if (g_str_equal (e->type, "slowfast-answer"))
      on_answer (t, e);
    else if (g_str_equal (e->type, "slowfast-dropped"))
      t->dropped_windows++;
    json_event_free (e);
    g_string_truncate (t->line, 0);
  }
  if (status == G_IO_STATUS_EOF || status == G_IO_STATUS_ERROR)
    return G_SOURCE_REMOVE;
  return G_SOURCE_CONTINUE;
}

static void
on_client_exit (GPid pid, gint status, gpointer user_data)
{
  Test *t = (Test *) user_data;
  (void) pid;
  t->client_status = status;
  *client_process_pid () = 0;
  g_main_loop_quit (t->loop);
}

int
main (int argc, char **argv)
{
  Test t = { 0 };
  const gchar *reason = NULL;
  const gchar *source_root = g_getenv ("SLOWFAST_SOURCE_ROOT");
  gchar *model, *dir, *script, *url;
  gint out_fd;
  GError *error = NULL;

  gst_init (&argc, &argv);
  CHECK (argc == 4 && (g_str_equal (argv[2], "tcp") || g_str_equal (argv[2], "udp"))
      && atoi (argv[3]) > 0, "usage: %s BUILD_DIR tcp STALL_SECONDS | udp LOSS_PERCENT",
      argv[0]);
  model = pipeline_test_model (&reason);
  if (model == NULL) {
    g_print ("SKIP: %s\n", reason);
    return PIPELINE_TEST_SKIP;
  }
  CHECK (source_root != NULL, "SLOWFAST_SOURCE_ROOT is not set");
  t.tcp = g_str_equal (argv[2], "tcp");
  t.stall_s = t.tcp ? (guint) atoi (argv[3]) : 0;
  t.loss = t.tcp ? 0 : atoi (argv[3]) / 100.0;
  t.phase = t.tcp ? WAIT_FIRST : WAIT_LOSSY;
  g_mutex_init (&t.lock);
  t.rand = g_rand_new_with_seed (LOSS_SEED);
  t.loop = g_main_loop_new (NULL, FALSE);
  t.line = g_string_new (NULL);
  start_server (&t);
  g_print ("RTSP server on 127.0.0.1:%d, %s\n", t.port, t.tcp ? "stall, then resolution change"
      : "lossy UDP");

  dir = g_dir_make_tmp ("slowfast-faults-XXXXXX", &error);
  CHECK (dir != NULL, "%s", error ? error->message : "?");
  script = g_build_filename (source_root, "pipelines", "rtsp-camera.sh", NULL);
  url = g_strdup_printf ("rtsp://127.0.0.1:%d/cam", t.port);
  g_setenv ("BUILD_DIR", argv[1], TRUE);
  const gchar *client_argv[] = { "bash", script, url, "--protocols", argv[2],
    "--id", "gate-2", "--latency", "100", "--retry", "1", "--out", dir, "--model", model,
    "--window-frames", "16", "--hop-frames", "8", "--sample-fps", "10",
    "--max-new-tokens", "8", "--set", "temperature=0", NULL
  };
  t.resume_limit_s = (guint) (RESUME_LIMIT_S * test_time_scale ());
  t.out = client_process_spawn (client_argv,
      (guint) (HARD_TIMEOUT_S * test_time_scale ()), &t.client, &out_fd);
  g_io_add_watch (t.out, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_output, &t);
  g_child_watch_add (t.client, on_client_exit, &t);
  the_test = &t;
  /* The first answers (model loading included) are due within the same bound. */
  fault_ended (&t, t.phase);

  g_main_loop_run (t.loop);
  g_unix_set_fd_nonblocking (out_fd, FALSE, NULL);
  while (on_client_output (t.out, G_IO_IN, &t) == G_SOURCE_CONTINUE);
  alarm (0);

  CHECK (t.phase == STOPPING, "the client ended early (phase %d, status %d)", t.phase,
      t.client_status);
  CHECK (g_spawn_check_wait_status (t.client_status, NULL),
      "the client did not exit cleanly after SIGINT (status %d)", t.client_status);
  if (t.tcp)
    g_print ("ok: %u answers; resumed %.1f s after a %u s stall, %.1f s after the resolution "
        "change; %u windows dropped (each a slowfast-dropped line)\n", t.answers,
        t.stall_resume_s, t.stall_s, t.resize_resume_s, t.dropped_windows);
  else
    g_print ("ok: %u answers with %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
        " RTP packets dropped (%.1f%%); %u windows dropped (each a slowfast-dropped line)\n",
        t.answers, t.packets_dropped, t.packets, 100.0 * t.packets_dropped / MAX (t.packets, 1),
        t.dropped_windows);
  CHECK (t.tcp || t.packets_dropped > 0, "no packet was dropped");
  {
    gchar *rm[] = { (gchar *) "rm", (gchar *) "-rf", dir, NULL };
    g_spawn_sync (NULL, rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  gst_clear_object (&t.res);
  g_object_unref (t.server);
  g_io_channel_unref (t.out);
  g_string_free (t.line, TRUE);
  g_main_loop_unref (t.loop);
  g_rand_free (t.rand);
  g_mutex_clear (&t.lock);
  g_free (url);
  g_free (script);
  g_free (dir);
  g_free (model);
  return 0;
}
