/* Shared helpers of the element tests that run the tiny golden models: locating them, frames,
 * .npy files, the element's bus messages and the reference answer from slowfast-cli. */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit status meson reads as "skipped". */
#define SLOWFAST_TEST_SKIP 77

/* $SLOWFAST_SHARED/golden/<which>/<file>, or NULL when the shared directory is missing. */
static inline gchar *
slowfast_golden_path (const gchar * which, const gchar * file)
{
  const gchar *shared = g_getenv ("SLOWFAST_SHARED");
  gchar *path;

  if (shared == NULL)
    return NULL;
  path = g_build_filename (shared, "golden", which, file, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_free (path);
    return NULL;
  }
  return path;
}

/* Why the model tests cannot run, or NULL when they can. */
static inline const gchar *
slowfast_skip_reason (void)
{
  gchar *a = slowfast_golden_path ("a", "model");
  gchar *b = slowfast_golden_path ("b", "model");
  const gchar *reason = NULL;

  if (g_getenv ("SLOWFAST_SHARED") == NULL)
    reason = "SLOWFAST_SHARED is not set: no golden models to run";
  else if (a == NULL || b == NULL)
    reason = "$SLOWFAST_SHARED/golden/{a,b}/model is missing";
  else if (g_getenv ("SLOWFAST_CLI") == NULL)
    reason = "SLOWFAST_CLI is not set: no reference answers";
  g_free (a);
  g_free (b);
  return reason;
}

/* uint8 [T, H, W, 3] frames of a .npy file. */
typedef struct
{
  guint8 *data;
  guint t, h, w;
} SlowfastFrames;

static inline gboolean
slowfast_read_npy_u8 (const gchar * path, SlowfastFrames * frames)
{
  gchar *contents = NULL;
  gsize length = 0;
  guint header_len;
  const gchar *shape;

  memset (frames, 0, sizeof (*frames));
  if (!g_file_get_contents (path, &contents, &length, NULL) || length < 10)
    return FALSE;
  header_len = (guint8) contents[8] | ((guint8) contents[9] << 8);
  shape = g_strstr_len (contents + 10, header_len, "'shape': (");
  if (shape == NULL || g_strstr_len (contents + 10, header_len, "'|u1'") == NULL
      || sscanf (shape, "'shape': (%u, %u, %u, 3)", &frames->t, &frames->h, &frames->w) != 3) {
    g_free (contents);
    return FALSE;
  }
  frames->data = (guint8 *) g_memdup2 (contents + 10 + header_len,
      (gsize) frames->t * frames->h * frames->w * 3);
  g_free (contents);
  return TRUE;
}

static inline void
slowfast_frames_free (SlowfastFrames * frames)
{
  g_free (frames->data);
  frames->data = NULL;
}

/* Writes the frames `indices` (n of them) of `frames` as a uint8 [n, H, W, 3] .npy file. */
static inline void
slowfast_write_npy_u8 (const gchar * path, const SlowfastFrames * frames,
    const guint * indices, guint n)
{
  GString *header = g_string_new (NULL);
  FILE *out = fopen (path, "wb");
  gsize frame_size = (gsize) frames->h * frames->w * 3;
  guint i;

  fail_unless (out != NULL, "cannot write %s", path);
  g_string_printf (header, "{'descr': '|u1', 'fortran_order': False, 'shape': (%u, %u, %u, 3), }",
      n, frames->h, frames->w);
  while ((10 + header->len + 1) % 64 != 0)
    g_string_append_c (header, ' ');
  g_string_append_c (header, '\n');
  fwrite ("\x93NUMPY\x01\x00", 1, 8, out);
  fputc (header->len & 0xff, out);
  fputc ((header->len >> 8) & 0xff, out);
  fwrite (header->str, 1, header->len, out);
  for (i = 0; i < n; i++)
    fwrite (frames->data + indices[i] * frame_size, 1, frame_size, out);
  fclose (out);
  g_string_free (header, TRUE);
}

/* Deterministic frames with structure (gradients moving over time) and some noise. */
static inline SlowfastFrames
slowfast_synthetic_frames (guint t, guint h, guint w, guint seed)
{
  SlowfastFrames frames = { (guint8 *) g_malloc ((gsize) t * h * w * 3), t, h, w };
  GRand *rand = g_rand_new_with_seed (seed);
  guint i, y, x;

  for (i = 0; i < t; i++)
    for (y = 0; y < h; y++)
      for (x = 0; x < w; x++) {
        guint8 *p = frames.data + (((gsize) i * h + y) * w + x) * 3;
        p[0] = (guint8) (x * 2 + i * 5 + g_rand_int_range (rand, 0, 16));
        p[1] = (guint8) (y * 2 + i * 3 + g_rand_int_range (rand, 0, 16));
        p[2] = (guint8) ((x + y) + i * 7 + g_rand_int_range (rand, 0, 16));
      }
  g_rand_free (rand);
  return frames;
}

/* Frame `index` as a packed RGB buffer (GstVideoInfo stride: rows padded to 4 bytes). */
static inline GstBuffer *
slowfast_rgb_buffer (const SlowfastFrames * frames, guint index)
{
  GstVideoInfo info;
  GstBuffer *buffer;
  GstMapInfo map;
  guint y;
  gsize row = (gsize) frames->w * 3;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, frames->w, frames->h);
  buffer = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  memset (map.data, 0, map.size);
  for (y = 0; y < frames->h; y++)
    memcpy (map.data + y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0),
        frames->data + ((gsize) index * frames->h + y) * row, row);
  gst_buffer_unmap (buffer, &map);
  return buffer;
}

/* What `slowfast-cli run` answers about a .npy file (greedy, float32). */
static inline gchar *
slowfast_cli_answer (const gchar * model, const gchar * npy, const gchar * prompt,
    guint max_new_tokens)
{
  gchar *max_tokens = g_strdup_printf ("%u", max_new_tokens);
  const gchar *argv[] = { g_getenv ("SLOWFAST_CLI"), "run", "--model", model, "--frames", npy,
    "--prompt", prompt, "--max-new-tokens", max_tokens, "--temperature", "0",
    "--dtype", "float32", "--device", "cpu", NULL
  };
  gchar *out = NULL, *err = NULL;
  gint status = 0;
  GError *error = NULL;
  gsize len;

  fail_unless (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
          &out, &err, &status, &error), "cannot run slowfast-cli: %s",
      error ? error->message : "?");
  fail_unless (g_spawn_check_wait_status (status, NULL), "slowfast-cli failed: %s", err);
  g_free (err);
  g_free (max_tokens);
  /* The CLI prints the answer and one newline. */
  len = strlen (out);
  if (len > 0 && out[len - 1] == '\n')
    out[len - 1] = '\0';
  return out;
}

/* The element configured for reproducible tests: greedy float32 on the CPU, never dropping. */
static inline GstElement *
slowfast_make_element (const gchar * which, guint window, guint hop, gdouble sample_fps,
    guint max_new_tokens)
{
  GstElement *element = gst_element_factory_make ("slowfastmllm", NULL);
  gchar *model = slowfast_golden_path (which, "model");

  fail_unless (element != NULL);
  gst_util_set_object_arg (G_OBJECT (element), "dtype", "float32");
  gst_util_set_object_arg (G_OBJECT (element), "device", "cpu");
  gst_util_set_object_arg (G_OBJECT (element), "leaky", "no");
  /* Full windows only: these tests compare each window with slowfast-cli on its frames
   * (early answers have their own tests). */
  g_object_set (element, "model-location", model, "window-frames", window,
      "hop-frames", hop, "sample-fps", sample_fps, "max-new-tokens", max_new_tokens,
      "temperature", 0.0f, "first-answer-frames", 0, NULL);
  g_free (model);
  return element;
}

/* Pops the element messages named `name` posted so far, oldest first. */
static inline GList *
slowfast_pop_messages (GstBus * bus, const gchar * name)
{
  GList *out = NULL;
  GstMessage *message;

  while ((message = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    if (gst_message_has_name (message, name))
      out = g_list_append (out, message);
    else
      gst_message_unref (message);
  }
  return out;
}

/* Waits up to `timeout` for an element message `name`. */
static inline GstMessage *
slowfast_wait_message (GstBus * bus, const gchar * name, GstClockTime timeout)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout / GST_USECOND);

  while (g_get_monotonic_time () < deadline) {
    GstMessage *message = gst_bus_timed_pop_filtered (bus, 100 * GST_MSECOND,
        (GstMessageType) (GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    if (message == NULL)
      continue;
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
      GError *error = NULL;
      gst_message_parse_error (message, &error, NULL);
      fail ("error while waiting for %s: %s", name, error->message);
    }
    if (gst_message_has_name (message, name))
      return message;
    gst_message_unref (message);
  }
  return NULL;
}

static inline const gchar *
slowfast_message_text (GstMessage * message)
{
  return gst_structure_get_string (gst_message_get_structure (message), "text");
}
