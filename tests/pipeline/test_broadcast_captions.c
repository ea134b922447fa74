/* pipelines/broadcast-captions.sh, from a file (with an audio track) or from a live source: its
 * outputs parse back with GStreamer's own parsers and hold exactly the answers the element posted
 * (the JSON lines of slowfast-launch, one per slowfast-answer bus message):
 * - captions.srt and captions.vtt through subparse: same texts, starts = window ends, durations
 *   = one hop (the EOS answer, if any, has none);
 * - subtitled.mkv through matroskademux: the same cues on its subtitle track, and
 *   gst-discoverer-1.0 sees a subtitle stream;
 * - burned.mp4: the captions are drawn: frames differ from the clean video once a caption is
 *   shown, and not before.
 * The live run must end by itself (no stall on the sparse text stream).
 *
 *   test_broadcast_captions BUILD_DIR file|live */
#include "pipeline_test_util.h"

#include <glib/gstdio.h>

#define FPS 8
#define FRAMES 80                       /* 10 s */
#define WINDOW 16
#define HOP 8
#define RUN_TIMEOUT_S "240"

static gchar *
run (const gchar * const *argv, gint * status)
{
  gchar *out = NULL;
  GError *error = NULL;

  CHECK (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
          NULL, status, &error), "cannot run %s: %s", argv[0], error ? error->message : "?");
  return out;
}

static void
make_clip (const gchar * path)
{
  gchar *description = g_strdup_printf ("videotestsrc pattern=ball num-buffers=%d ! "
      "video/x-raw,width=160,height=120,framerate=%d/1 ! x264enc speed-preset=ultrafast ! "
      "mp4mux name=mux ! filesink location=\"%s\" "
      "audiotestsrc num-buffers=%d samplesperbuffer=4410 ! audio/x-raw,rate=44100 ! "
      "avenc_aac ! mux.", FRAMES, FPS, path, FRAMES * 10 / FPS);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  GstBus *bus;
  GstMessage *message;

  CHECK (pipeline != NULL && error == NULL, "%s", error ? error->message : "?");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  bus = gst_element_get_bus (pipeline);
  message = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      (GstMessageType) (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  CHECK (message && GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS, "the clip was not made");
  gst_message_unref (message);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_free (description);
}

/* The cues equal the answers: texts, starts at the window ends, one hop long, the last one
 * clipped to the end of the video. The last answer may have no cue: when its window ends at the
 * end of the stream (the file's last window, the EOS window) no time is left to show it
 * (docs/element.md, "Timing of the text"). `precision`: the format's time resolution. */
static void
check_cues (const gchar * what, GPtrArray * cues, GPtrArray * answers, GstClockTime precision)
{
  const GstClockTime hop = gst_util_uint64_scale (HOP, GST_SECOND, FPS);

  CHECK (cues->len == answers->len || cues->len + 1 == answers->len,
      "%s: %u cues for %u answers", what, cues->len, answers->len);
  for (guint i = 0; i < cues->len; i++) {
    Cue *cue = g_ptr_array_index (cues, i);
    JsonEvent *answer = g_ptr_array_index (answers, i);
    gchar *expected = normalize_space (answer->text);
    const gboolean last = i + 1 == cues->len;

    CHECK (g_str_equal (cue->text, expected), "%s: cue %u is '%s', the answer '%s'", what, i,
        cue->text, expected);
    CHECK (ABS ((gint64) cue->pts - answer->window_end) < (gint64) precision,
        "%s: cue %u starts at %" GST_TIME_FORMAT ", its window ends at %" GST_TIME_FORMAT,
        what, i, GST_TIME_ARGS (cue->pts), GST_TIME_ARGS (answer->window_end));
    /* Sliding answers last one hop, the last one at most a hop (clipped to the end). */
    CHECK (GST_CLOCK_TIME_IS_VALID (cue->duration)
        && (last ? (gint64) cue->duration < (gint64) (hop + precision)
            : ABS ((gint64) cue->duration - (gint64) hop) < (gint64) precision),
        "%s: cue %u lasts %" GST_TIME_FORMAT ", not one hop", what, i,
        GST_TIME_ARGS (cue->duration));
    CHECK (last || cue->pts + cue->duration <= ((Cue *) g_ptr_array_index (cues,
                i + 1))->pts + precision, "%s: cue %u overlaps the next", what, i);
    g_free (expected);
  }
  g_print ("%s: %u cues equal the answers\n", what, cues->len);
}

/* GRAY8 frames of a video file, 160x120. */
static GPtrArray *
decode_gray (const gchar * path)
{
  gchar *description = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! videoconvert ! "
      "video/x-raw,format=GRAY8,width=160,height=120 ! appsink name=frames sync=false", path);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "frames");
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstSample *sample;

  CHECK (error == NULL, "%s", error->message);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 30 * GST_SECOND))) {
    g_ptr_array_add (frames, gst_buffer_ref (gst_sample_get_buffer (sample)));
    gst_sample_unref (sample);
  }
  CHECK (gst_app_sink_is_eos (GST_APP_SINK (sink)), "%s: no EOS", path);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_free (description);
  return frames;
}

static double
mean_abs_difference (GstBuffer * a, GstBuffer * b)
{
  GstMapInfo ma, mb;
  double sum = 0;

  gst_buffer_map (a, &ma, GST_MAP_READ);
  gst_buffer_map (b, &mb, GST_MAP_READ);
  for (gsize i = 0; i < MIN (ma.size, mb.size); i++)
    sum += ABS ((int) ma.data[i] - (int) mb.data[i]);
  gst_buffer_unmap (a, &ma);
  gst_buffer_unmap (b, &mb);
  return sum / MIN (ma.size, mb.size);
}

/* The burned-in video differs from the clean one where a caption is shown and not before. */
static void
check_burned_in (const gchar * burned, const gchar * clean, GPtrArray * answers)
{
  GPtrArray *with = decode_gray (burned), *without = decode_gray (clean);
  const JsonEvent *first = g_ptr_array_index (answers, 0);
  double before = 0, during = 0;
  guint n_before = 0, n_during = 0;

  CHECK (with->len > 0 && without->len > 0, "%u burned frames, %u clean", with->len,
      without->len);
  /* The answers' times are the source's PTS, which Matroska keeps and MP4 does not: qtdemux
   * starts burned.mp4 at 0, while a live source stamps its first frame with the running time it
   * was captured at (0.03 s here, 0.43 s under the sanitizers). Both files begin with the
   * source's first frame, so the clean file's first PTS puts the burned frames on the answers'
   * clock. */
  const gint64 offset = (gint64) GST_BUFFER_PTS (g_ptr_array_index (without, 0)) -
      (gint64) GST_BUFFER_PTS (g_ptr_array_index (with, 0));
  for (guint i = 0; i < with->len; i++) {
    GstBuffer *frame = g_ptr_array_index (with, i);
    const gint64 time = (gint64) GST_BUFFER_PTS (frame) + offset;
    /* The closest of the clean frames within a frame's time, or around the same index: a live
     * pipeline on a busy machine may drop frames in one output and not in the other, which
     * shifts the indices but not the times. */
    double d = G_MAXDOUBLE;
    guint closest = 0;
    for (guint other = 0; other < without->len; other++) {
      GstBuffer *clean = g_ptr_array_index (without, other);
      const gint64 apart = (gint64) GST_BUFFER_PTS (clean) - time;
      if (ABS ((gint) other - (gint) i) <= 2 || ABS (apart) <= (gint64) (GST_SECOND / FPS)) {
        const double difference = mean_abs_difference (frame, clean);
        if (difference < d) {
          d = difference;
          closest = other;
        }
      }
    }
    /* What a failure of the check below needs to be explained: which frames differ, and from
     * which clean frame. */
    if (time + (gint64) (GST_SECOND / FPS) <= first->window_end && d > 0.5)
      g_print ("burned frame %u at %" GST_TIME_FORMAT " differs by %.2f from clean frame %u at %"
          GST_TIME_FORMAT " (%u burned, %u clean frames)\n", i,
          GST_TIME_ARGS ((GstClockTime) time), d, closest,
          GST_TIME_ARGS (GST_BUFFER_PTS (g_ptr_array_index (without, closest))), with->len,
          without->len);
    /* Frames before the first caption starts (at its window's end), and frames from then on
     * (the captions tile the rest of the stream). */
    if (time + (gint64) (GST_SECOND / FPS) <= first->window_end) {
      before = MAX (before, d);
      n_before++;
    } else if (time >= first->window_end) {
      during += d;
      n_during++;
    }
  }
  CHECK (n_during > 0, "no frame after the first caption");
  during /= n_during;
  g_print ("burned-in: mean |difference| %.2f with captions, at most %.2f over %u frames "
      "before\n", during, before, n_before);
  CHECK (during > 0.3, "burned.mp4 shows no captions (difference %.2f)", during);
  CHECK (before < during / 4, "burned.mp4 differs before any caption (%.2f)", before);
  g_ptr_array_unref (with);
  g_ptr_array_unref (without);
}

int
main (int argc, char **argv)
{
  const gchar *reason = NULL;
  const gchar *source_root = g_getenv ("SLOWFAST_SOURCE_ROOT");
  gboolean live;
  gchar *model, *dir, *clip, *script, *output, *path, *discovered;
  GError *error = NULL;
  GPtrArray *answers, *cues;
  gint status = 0;
  gint64 started;

  gst_init (&argc, &argv);
  CHECK (argc == 3 && (g_str_equal (argv[2], "file") || g_str_equal (argv[2], "live")),
      "usage: %s BUILD_DIR file|live", argv[0]);
  live = g_str_equal (argv[2], "live");
  model = pipeline_test_model (&reason);
  if (model == NULL) {
    g_print ("SKIP: %s\n", reason);
    return PIPELINE_TEST_SKIP;
  }
  CHECK (source_root != NULL, "SLOWFAST_SOURCE_ROOT is not set");
  g_setenv ("BUILD_DIR", argv[1], TRUE);
  dir = g_dir_make_tmp ("slowfast-broadcast-XXXXXX", &error);
  CHECK (dir != NULL, "%s", error ? error->message : "?");
  clip = g_build_filename (dir, "clip.mp4", NULL);
  script = g_build_filename (source_root, "pipelines", "broadcast-captions.sh", NULL);
  gchar *live_source = g_strdup_printf ("videotestsrc is-live=true pattern=ball num-buffers=%d"
      " ! video/x-raw,width=160,height=120,framerate=%d/1", FRAMES, FPS);
  if (!live)
    make_clip (clip);

  GPtrArray *args = g_ptr_array_new ();
  const gchar *common[] = { "--out", dir, "--model", model, "--window-frames", "16",
    "--hop-frames", "8", "--sample-fps", "8", "--max-new-tokens", "8",
    "--set", "temperature=0", "--set", "dtype=float32", NULL
  };
  /* A hard bound: a pipeline stalled on the sparse text stream never ends by itself. */
  g_ptr_array_add (args, (gpointer) "timeout");
  g_ptr_array_add (args, (gpointer) RUN_TIMEOUT_S);
  g_ptr_array_add (args, (gpointer) "bash");
  g_ptr_array_add (args, script);
  if (live) {
    g_ptr_array_add (args, (gpointer) "--live");
    g_ptr_array_add (args, (gpointer) "--source");
    g_ptr_array_add (args, live_source);
  } else {
    g_ptr_array_add (args, (gpointer) "--input");
    g_ptr_array_add (args, clip);
  }
  for (const gchar * const *arg = common; *arg; arg++)
    g_ptr_array_add (args, (gpointer) * arg);
  g_ptr_array_add (args, NULL);
  started = g_get_monotonic_time ();
  output = run ((const gchar * const *) args->pdata, &status);
  g_ptr_array_unref (args);
  g_print ("%s run: %.1f s\n", argv[2], (g_get_monotonic_time () - started) / 1e6);
  CHECK (g_spawn_check_wait_status (status, NULL), "broadcast-captions.sh failed (status %d;"
      " 124 = it did not end within %s s)", status, RUN_TIMEOUT_S);
  answers = json_answers (output);
  CHECK (answers->len >= 2, "%u answers", answers->len);
  if (!live) {
    /* Non-live: every window is answered, due at sampled frames 16, 24, ..., 80. */
    CHECK (answers->len == (FRAMES - WINDOW) / HOP + 1, "%u answers", answers->len);
  }

  path = g_build_filename (dir, "subtitled.mkv", NULL);
  cues = read_matroska_subtitles (path);
  check_cues ("subtitled.mkv", cues, answers, GST_MSECOND);
  g_ptr_array_unref (cues);
  {
    const gchar *discover[] = { "gst-discoverer-1.0", path, NULL };
    discovered = run (discover, &status);
    CHECK (strstr (discovered, "subtitles #") != NULL,
        "gst-discoverer-1.0 sees no subtitle stream in subtitled.mkv:\n%s", discovered);
    CHECK (strstr (discovered, "video #") != NULL, "no video stream in subtitled.mkv");
    CHECK (live || strstr (discovered, "audio #") != NULL, "the file's audio was lost");
    g_free (discovered);
  }
  {
    gchar *burned = g_build_filename (dir, "burned.mp4", NULL);
    const gchar *discover[] = { "gst-discoverer-1.0", burned, NULL };
    discovered = run (discover, &status);
    CHECK (live || strstr (discovered, "audio #") != NULL, "burned.mp4 lost the file's audio");
    CHECK (strstr (discovered, "High 4:4:4") == NULL, "burned.mp4 is not 4:2:0");
    g_free (discovered);
    check_burned_in (burned, path, answers);
    g_free (burned);
  }
  g_free (path);

  path = g_build_filename (dir, "captions.srt", NULL);
  cues = read_subtitle_file (path);
  check_cues ("captions.srt", cues, answers, GST_MSECOND);
  g_ptr_array_unref (cues);
  g_free (path);

  path = g_build_filename (dir, "captions.vtt", NULL);
  cues = read_subtitle_file (path);
  check_cues ("captions.vtt", cues, answers, GST_MSECOND);
  g_ptr_array_unref (cues);
  g_free (path);

  g_print ("ok: %u answers in all four outputs\n", answers->len);
  {
    gchar *rm[] = { (gchar *) "rm", (gchar *) "-rf", dir, NULL };
    g_spawn_sync (NULL, rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  g_ptr_array_unref (answers);
  g_free (output);
  g_free (live_source);
  g_free (script);
  g_free (clip);
  g_free (dir);
  g_free (model);
  return 0;
}
