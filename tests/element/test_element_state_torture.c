/* State torture on the demo model: teardown at the worst moments. A live pipeline
 * (videotestsrc is-live=true ! slowfastmllm ! queue ! fakesink, text_src linked and unlinked)
 * goes NULL -> PLAYING -> NULL again and again with random delays (fixed seed) so NULL lands
 * mid-encode and mid-generation; a non-live file pipeline takes flushing seeks to random places
 * with PAUSED <-> PLAYING toggles. Every state change and seek must complete within 10 s (a
 * watchdog aborts the test naming the step otherwise), no error may reach the bus, and with the
 * leaks tracer on (main sets GST_TRACERS=leaks) no GstObject or GstMiniObject may outlive the
 * pipelines: the live objects after the torture equal those after one warm-up round.
 * SLOWFAST_TORTURE_CYCLES and SLOWFAST_TORTURE_SEEKS set the counts (default 20 each: the
 * default run; suite stress runs 200 of each), SLOWFAST_TORTURE_FPS the live source's frame rate
 * (default 30). */
#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pipeline/test_time_scale.h"

/* Seconds a state change, a seek or a first answer may take: times SLOWFAST_TEST_TIME_SCALE,
 * which a run under the sanitizers or valgrind sets. */
#define STEP_LIMIT_S ((gint) (10 * test_time_scale ()))
#define ANSWER_LIMIT_S ((gint) (60 * test_time_scale ()))
#define TORTURE_SEED 20261203

/* ---- watchdog: a deadlock fails the test instead of hanging it ---- */

static GMutex watchdog_lock;
static gint64 watchdog_deadline;        /* monotonic us, 0 = idle; with watchdog_lock */
static const gchar *watchdog_step;

static gpointer
watchdog_thread (G_GNUC_UNUSED gpointer unused)
{
  for (;;) {
    g_mutex_lock (&watchdog_lock);
    if (watchdog_deadline != 0 && g_get_monotonic_time () > watchdog_deadline) {
      g_printerr ("state torture: '%s' did not complete within %d s: deadlock\n",
          watchdog_step, STEP_LIMIT_S);
      abort ();
    }
    g_mutex_unlock (&watchdog_lock);
    g_usleep (100 * 1000);
  }
  return NULL;
}

static void
watchdog_arm (const gchar * step)
{
  static gsize started = 0;

  if (g_once_init_enter (&started)) {
    g_thread_unref (g_thread_new ("watchdog", watchdog_thread, NULL));
    g_once_init_leave (&started, 1);
  }
  g_mutex_lock (&watchdog_lock);
  watchdog_step = step;
  watchdog_deadline = g_get_monotonic_time () + (gint64) STEP_LIMIT_S * G_USEC_PER_SEC;
  g_mutex_unlock (&watchdog_lock);
}

static void
watchdog_disarm (void)
{
  g_mutex_lock (&watchdog_lock);
  watchdog_deadline = 0;
  g_mutex_unlock (&watchdog_lock);
}

/* ---- helpers ---- */

static guint
count_from_env (const gchar * name, guint fallback)
{
  const gchar *value = g_getenv (name);

  return value != NULL && atoi (value) > 0 ? (guint) atoi (value) : fallback;
}

/* Sets `state` and waits for it; fails unless it completes within STEP_LIMIT_S. */
static void
change_state (GstElement * pipeline, GstState state, const gchar * step)
{
  GstStateChangeReturn ret;
  GstState current = GST_STATE_VOID_PENDING;

  watchdog_arm (step);
  ret = gst_element_set_state (pipeline, state);
  fail_if (ret == GST_STATE_CHANGE_FAILURE, "%s: state change failed", step);
  ret = gst_element_get_state (pipeline, &current, NULL,
      (GstClockTime) STEP_LIMIT_S * GST_SECOND);
  watchdog_disarm ();
  fail_if (ret == GST_STATE_CHANGE_ASYNC, "%s: not done after %d s", step, STEP_LIMIT_S);
  fail_if (ret == GST_STATE_CHANGE_FAILURE, "%s: state change failed", step);
  fail_unless_equals_int (current, state);
}

/* What the pipelines post, counted as it is posted: a bus flushes its queue at NULL, so
 * popping after the teardown would miss the last messages. */
typedef struct
{
  GMutex lock;
  guint answers;
  guint tokens_after_last_answer;       /* > 0: an answer is being generated */
  gchar *first_error;
} BusCounts;

static GstBusSyncReply
count_message (G_GNUC_UNUSED GstBus * bus, GstMessage * message, gpointer data)
{
  BusCounts *counts = data;

  g_mutex_lock (&counts->lock);
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR && counts->first_error == NULL) {
    GError *error = NULL;
    gchar *debug = NULL;

    gst_message_parse_error (message, &error, &debug);
    counts->first_error = g_strdup_printf ("%s (%s)", error->message, GST_STR_NULL (debug));
    g_error_free (error);
    g_free (debug);
  } else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ELEMENT) {
    const GstStructure *s = gst_message_get_structure (message);

    if (gst_structure_has_name (s, "slowfast-answer")) {
      counts->answers++;
      counts->tokens_after_last_answer = 0;
    } else if (gst_structure_has_name (s, "slowfast-token")) {
      counts->tokens_after_last_answer++;
    }
  }
  g_mutex_unlock (&counts->lock);
  /* A sync handler that drops a message owns it. */
  gst_message_unref (message);
  return GST_BUS_DROP;
}

static void
watch_bus (GstElement * pipeline, BusCounts * counts)
{
  GstBus *bus = gst_element_get_bus (pipeline);

  gst_bus_set_sync_handler (bus, count_message, counts, NULL);
  gst_object_unref (bus);
}

/* Fails on an error posted so far. */
static void
assert_no_error (BusCounts * counts, const gchar * where)
{
  g_mutex_lock (&counts->lock);
  fail_unless (counts->first_error == NULL, "%s: error on the bus: %s", where,
      counts->first_error);
  g_mutex_unlock (&counts->lock);
}

static GstElement *
parse_pipeline (const gchar * description)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);

  fail_unless (pipeline != NULL, "cannot build '%s': %s", description,
      error ? error->message : "?");
  g_clear_error (&error);
  return pipeline;
}

static gchar *
element_options (void)
{
  const gchar *model = g_getenv ("SLOWFAST_TEST_MODEL");

  fail_unless (model != NULL, "SLOWFAST_TEST_MODEL is not set (run through meson test)");
  return g_strdup_printf ("slowfastmllm name=m model-location=\"%s\" window-frames=8 "
      "hop-frames=2 sample-fps=0 max-new-tokens=16 stream-tokens=true", model);
}

static guint
answer_count (BusCounts * counts)
{
  guint answers;

  g_mutex_lock (&counts->lock);
  answers = counts->answers;
  g_mutex_unlock (&counts->lock);
  return answers;
}

/* Waits up to ANSWER_LIMIT_S (sanitizer builds answer slowly) for more than `seen` answers. */
static gboolean
wait_for_answer_after (BusCounts * counts, guint seen)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ANSWER_LIMIT_S * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline) {
    if (answer_count (counts) > seen)
      return TRUE;
    g_usleep (10 * 1000);
  }
  return FALSE;
}

/* Waits for an answer posted after the call. */
static gboolean
wait_for_answer (BusCounts * counts)
{
  return wait_for_answer_after (counts, answer_count (counts));
}

/* ---- the leaks tracer ---- */

static GstTracer *
leaks_tracer (void)
{
  GList *tracers = gst_tracing_get_active_tracers ();
  GstTracer *found = NULL;

  for (GList * l = tracers; l != NULL; l = l->next) {
    if (found == NULL && strcmp (G_OBJECT_TYPE_NAME (l->data), "GstLeaksTracer") == 0)
      found = gst_object_ref (l->data);
  }
  g_list_free_full (tracers, gst_object_unref);
  return found;
}

/* GstObjects and GstMiniObjects made minus those destroyed since the last checkpoint, by type
 * name (the tracer's activity tracking; its get-live-objects would take their references). */
static GHashTable *
objects_checkpoint (GstTracer * tracer)
{
  static gsize tracking = 0;
  GHashTable *net = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GstStructure *checkpoint = NULL;
  const gchar *lists[2] = { "objects-created-list", "objects-removed-list" };

  if (g_once_init_enter (&tracking)) {
    g_signal_emit_by_name (tracer, "activity-start-tracking");
    g_once_init_leave (&tracking, 1);
  }
  g_signal_emit_by_name (tracer, "activity-get-checkpoint", &checkpoint);
  fail_unless (checkpoint != NULL, "the leaks tracer gave no checkpoint");
  for (guint k = 0; k < 2; k++) {
    const GValue *list = gst_structure_get_value (checkpoint, lists[k]);

    fail_unless (list != NULL && GST_VALUE_HOLDS_LIST (list), "no %s", lists[k]);
    for (guint i = 0; i < gst_value_list_get_size (list); i++) {
      const GstStructure *entry =
          gst_value_get_structure (gst_value_list_get_value (list, i));
      const gchar *type = gst_structure_get_string (entry, "type-name");
      gint count = GPOINTER_TO_INT (g_hash_table_lookup (net, type));

      g_hash_table_replace (net, g_strdup (type),
          GINT_TO_POINTER (count + (k == 0 ? 1 : -1)));
    }
  }
  gst_structure_free (checkpoint);
  return net;
}

/* Fails naming every type of which more objects were made than destroyed since `checkpoint`
 * was taken. */
static void
assert_no_leaks_since_checkpoint (GstTracer * tracer, const gchar * what)
{
  GHashTable *net = objects_checkpoint (tracer);
  GHashTableIter iter;
  gpointer key, value;
  GString *grown = g_string_new (NULL);
  gint leaked = 0;

  g_hash_table_iter_init (&iter, net);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (GPOINTER_TO_INT (value) > 0) {
      g_string_append_printf (grown, " %s +%d", (const gchar *) key, GPOINTER_TO_INT (value));
      leaked += GPOINTER_TO_INT (value);
    }
  }
  g_print ("%s: %d GstObjects/GstMiniObjects leaked%s\n", what, leaked, grown->str);
  fail_unless_equals_int (leaked, 0);
  g_string_free (grown, TRUE);
  g_hash_table_unref (net);
}

/* ---- live NULL -> PLAYING -> NULL cycles ---- */

static void
live_cycles (guint cycles, GRand * rand, BusCounts * counts, guint * cut_mid_answer)
{
  gchar *options = element_options ();
  /* SLOWFAST_TORTURE_FPS slows the live source for runs far slower than real time (valgrind). */
  gchar *source = g_strdup_printf ("videotestsrc is-live=true pattern=ball ! "
      "video/x-raw,width=64,height=64,framerate=%u/1",
      count_from_env ("SLOWFAST_TORTURE_FPS", 30));
  gchar *linked = g_strdup_printf ("%s ! %s ! queue ! fakesink sync=false "
      "m.text_src ! queue ! fakesink sync=false async=false", source, options);
  gchar *unlinked = g_strdup_printf ("%s ! %s ! queue ! fakesink sync=false", source,
      options);
  GstElement *pipelines[2] = { parse_pipeline (linked), parse_pipeline (unlinked) };

  watch_bus (pipelines[0], counts);
  watch_bus (pipelines[1], counts);
  for (guint i = 0; i < cycles; i++) {
    GstElement *pipeline = pipelines[i % 2];
    gboolean mid_answer;

    g_mutex_lock (&counts->lock);
    counts->tokens_after_last_answer = 0;
    g_mutex_unlock (&counts->lock);
    change_state (pipeline, GST_STATE_PLAYING, "NULL -> PLAYING");
    g_usleep (g_rand_int_range (rand, 0, 501) * 1000);
    /* The last cycle shows the element still answers after all the others. */
    if (i == cycles - 1)
      fail_unless (wait_for_answer (counts),
          "no answer within %d s in the last cycle: the element stopped working", ANSWER_LIMIT_S);
    g_mutex_lock (&counts->lock);
    mid_answer = counts->tokens_after_last_answer > 0;
    g_mutex_unlock (&counts->lock);
    change_state (pipeline, GST_STATE_NULL, "PLAYING -> NULL");
    assert_no_error (counts, "live cycle");
    if (mid_answer)
      (*cut_mid_answer)++;
  }
  gst_object_unref (pipelines[0]);
  gst_object_unref (pipelines[1]);
  g_free (linked);
  g_free (unlinked);
  g_free (options);
  g_free (source);
}

GST_START_TEST (test_live_null_playing_cycles)
{
  guint cycles = count_from_env ("SLOWFAST_TORTURE_CYCLES", 20);
  GstTracer *tracer = leaks_tracer ();
  GRand *rand = g_rand_new_with_seed (TORTURE_SEED);
  BusCounts totals = { 0 };
  guint cut = 0;
  gint64 start;

  fail_unless (tracer != NULL, "the leaks tracer is not active (GST_TRACERS=leaks)");
  /* One round of each pipeline first: caches and singletons made on first use stay alive. */
  live_cycles (2, rand, &totals, &cut);
  g_hash_table_unref (objects_checkpoint (tracer));
  start = g_get_monotonic_time ();
  totals.answers = 0;
  cut = 0;
  live_cycles (cycles, rand, &totals, &cut);
  g_print ("live: %u NULL -> PLAYING -> NULL cycles in %.1f s, %u answers, %u teardowns "
      "mid-answer\n", cycles, (g_get_monotonic_time () - start) / 1e6, totals.answers, cut);
  /* The demo model generates for a few ms of every 67, so about 3 teardowns in 100 land
   * mid-answer: asserted on the long run only. */
  if (cycles >= 100)
    fail_unless (cut > 0, "no teardown landed in the middle of an answer");
  assert_no_leaks_since_checkpoint (tracer, "live cycles");
  g_rand_free (rand);
  gst_object_unref (tracer);
  g_free (totals.first_error);
}

GST_END_TEST;

/* ---- flushing seeks on a file ---- */

/* A 5 s 64x64 MJPEG clip in Matroska, made with real encoders. */
static gchar *
make_clip (void)
{
  gchar *path = g_build_filename (g_get_tmp_dir (), "slowfast-torture-XXXXXX.mkv", NULL);
  gint fd = g_mkstemp (path);
  gchar *description;
  GstElement *pipeline;
  GstMessage *message;
  GstBus *bus;

  fail_unless (fd >= 0);
  close (fd);
  description = g_strdup_printf ("videotestsrc num-buffers=150 pattern=ball ! "
      "video/x-raw,width=64,height=64,framerate=30/1 ! jpegenc ! matroskamux ! "
      "filesink location=\"%s\"", path);
  pipeline = parse_pipeline (description);
  bus = gst_element_get_bus (pipeline);
  fail_unless (gst_element_set_state (pipeline,
          GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  message = gst_bus_timed_pop_filtered (bus, (GstClockTime) ANSWER_LIMIT_S * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (message != NULL && GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS,
      "writing the clip failed");
  gst_message_unref (message);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (description);
  return path;
}

static void
seek_round (const gchar * clip, guint seeks, GRand * rand, BusCounts * totals)
{
  gchar *options = element_options ();
  gchar *description = g_strdup_printf ("filesrc location=\"%s\" ! matroskademux ! jpegdec ! "
      "videoconvert ! %s ! queue ! fakesink sync=false "
      "m.text_src ! queue ! fakesink sync=false async=false", clip, options);
  GstElement *pipeline = parse_pipeline (description);
  gboolean playing = TRUE;
  guint answers;

  watch_bus (pipeline, totals);
  change_state (pipeline, GST_STATE_PAUSED, "NULL -> PAUSED");
  change_state (pipeline, GST_STATE_PLAYING, "PAUSED -> PLAYING");
  for (guint i = 0; i < seeks; i++) {
    gint64 position = g_rand_int_range (rand, 0, 5000) * GST_MSECOND;
    gboolean seeked;

    watchdog_arm ("flushing seek");
    seeked = gst_element_seek_simple (pipeline, GST_FORMAT_TIME,
        GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT, position);
    watchdog_disarm ();
    fail_unless (seeked, "seek %u to %" GST_TIME_FORMAT " refused", i,
        GST_TIME_ARGS (position));
    change_state (pipeline, playing ? GST_STATE_PLAYING : GST_STATE_PAUSED,
        "state after a flushing seek");
    g_usleep (g_rand_int_range (rand, 0, 51) * 1000);
    if (i % 10 == 9) {
      playing = !playing;
      change_state (pipeline, playing ? GST_STATE_PLAYING : GST_STATE_PAUSED,
          playing ? "PAUSED -> PLAYING" : "PLAYING -> PAUSED");
    }
    assert_no_error (totals, "seek");
  }
  /* The last seek may have landed near the clip's end, and its few windows may all be answered
   * by now: whether the element still works is asked of the clip from its start. */
  watchdog_arm ("flushing seek to the start");
  fail_unless (gst_element_seek_simple (pipeline, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT, 0), "the seek to the start was refused");
  watchdog_disarm ();
  answers = answer_count (totals);
  change_state (pipeline, GST_STATE_PLAYING, "PLAYING after the seeks");
  fail_unless (wait_for_answer_after (totals, answers),
      "no answer within %d s after the seeks: the element stopped working", ANSWER_LIMIT_S);
  change_state (pipeline, GST_STATE_NULL, "-> NULL after the seeks");
  assert_no_error (totals, "seek");
  gst_object_unref (pipeline);
  g_free (description);
  g_free (options);
}

GST_START_TEST (test_flushing_seeks_and_pause_toggles)
{
  guint seeks = count_from_env ("SLOWFAST_TORTURE_SEEKS", 20);
  GstTracer *tracer = leaks_tracer ();
  GRand *rand = g_rand_new_with_seed (TORTURE_SEED + 1);
  gchar *clip = make_clip ();
  BusCounts totals = { 0 };
  gint64 start;

  fail_unless (tracer != NULL, "the leaks tracer is not active (GST_TRACERS=leaks)");
  seek_round (clip, 2, rand, &totals);
  g_hash_table_unref (objects_checkpoint (tracer));
  totals.answers = 0;
  start = g_get_monotonic_time ();
  seek_round (clip, seeks, rand, &totals);
  g_print ("file: %u flushing seeks (a PAUSED <-> PLAYING toggle every 10) in %.1f s, "
      "%u answers\n", seeks, (g_get_monotonic_time () - start) / 1e6, totals.answers);
  assert_no_leaks_since_checkpoint (tracer, "seeks");
  g_unlink (clip);
  g_free (clip);
  g_rand_free (rand);
  gst_object_unref (tracer);
  g_free (totals.first_error);
}

GST_END_TEST;

static Suite *
state_torture_suite (void)
{
  Suite *s = suite_create ("slowfastmllm_state_torture");
  TCase *tc = tcase_create ("torture");

  /* 200 cycles of up to 0.5 s plus state changes: far beyond check's default 20 s */
  tcase_set_timeout (tc, 1800);
  tcase_add_test (tc, test_live_null_playing_cycles);
  tcase_add_test (tc, test_flushing_seeks_and_pause_toggles);
  suite_add_tcase (s, tc);
  return s;
}

int
main (int argc, char **argv)
{
  /* Before gst_init: the tracer is chosen there. */
  g_setenv ("GST_TRACERS", "leaks", FALSE);
  gst_check_init (&argc, &argv);
  return gst_check_run_suite (state_torture_suite (), "state_torture", __FILE__);
}
