/* Shared helpers of the pipeline test programs: the model under test, slowfast-launch's JSON lines
 * and reading captions back through GStreamer's own parsers (subparse, matroskademux). */
#pragma once

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <json-glib/json-glib.h>

#include "test_time_scale.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit status meson reads as "skipped". */
#define PIPELINE_TEST_SKIP 77

#define CHECK(condition, ...) do {                                            \
    if (!(condition)) {                                                       \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #condition);   \
      fprintf (stderr, __VA_ARGS__);                                          \
      fputc ('\n', stderr);                                                   \
      exit (1);                                                               \
    }                                                                         \
  } while (0)

/* $SLOWFAST_TEST_MODEL, else $SLOWFAST_SHARED/golden/a/model; NULL (and `reason`) when neither. */
static inline gchar *
pipeline_test_model (const gchar ** reason)
{
  const gchar *chosen = g_getenv ("SLOWFAST_TEST_MODEL");
  const gchar *shared = g_getenv ("SLOWFAST_SHARED");
  gchar *golden;

  if (chosen && *chosen) {
    if (g_file_test (chosen, G_FILE_TEST_IS_DIR))
      return g_strdup (chosen);
    *reason = "SLOWFAST_TEST_MODEL is not a directory";
    return NULL;
  }
  if (shared == NULL) {
    *reason = "neither SLOWFAST_TEST_MODEL nor SLOWFAST_SHARED is set";
    return NULL;
  }
  golden = g_build_filename (shared, "golden", "a", "model", NULL);
  if (!g_file_test (golden, G_FILE_TEST_IS_DIR)) {
    *reason = "$SLOWFAST_SHARED/golden/a/model is missing";
    g_free (golden);
    return NULL;
  }
  return golden;
}

/* ------------------------------------------------------------------------------------------ */
/* slowfast-launch's JSON lines */

typedef struct
{
  gchar *type;                  /* "slowfast-answer", "slowfast-alert", ... */
  gint64 session;
  gchar *text;
  gchar *source_id;
  gchar *prompt;                /* the prompt the element used ("" when the line has none) */
  gint64 window_start, window_end;      /* ns; -1 when null */
  gint64 arrival_us;            /* g_get_monotonic_time () when the line was read */
} JsonEvent;

static inline void
json_event_free (gpointer data)
{
  JsonEvent *event = (JsonEvent *) data;
  g_free (event->type);
  g_free (event->text);
  g_free (event->source_id);
  g_free (event->prompt);
  g_free (event);
}

static inline gint64
member_time (JsonObject * object, const gchar * name)
{
  JsonNode *node = json_object_get_member (object, name);
  return node && !json_node_is_null (node) ? json_node_get_int (node) : -1;
}

/* One line; NULL (and a message on stderr) when it is not a JSON object with a "type". */
static inline JsonEvent *
json_event_parse (const gchar * line)
{
  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  JsonEvent *event = NULL;
  JsonObject *object;

  if (!json_parser_load_from_data (parser, line, -1, &error)) {
    fprintf (stderr, "not JSON (%s): %s\n", error->message, line);
    g_clear_error (&error);
    g_object_unref (parser);
    return NULL;
  }
  if (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    object = json_node_get_object (json_parser_get_root (parser));
    if (json_object_has_member (object, "type")) {
      event = g_new0 (JsonEvent, 1);
      event->type = g_strdup (json_object_get_string_member (object, "type"));
      event->session = json_object_get_int_member_with_default (object, "session", 0);
      event->text = g_strdup (json_object_get_string_member_with_default (object, "text", ""));
      event->source_id = g_strdup (json_object_get_string_member_with_default (object,
              "source-id", ""));
      event->prompt = g_strdup (json_object_get_string_member_with_default (object, "prompt",
              ""));
      event->window_start = member_time (object, "window-start");
      event->window_end = member_time (object, "window-end");
      event->arrival_us = g_get_monotonic_time ();
    }
  }
  g_object_unref (parser);
  return event;
}

/* The answers among JSON lines (a whole output, one object per line). */
static inline GPtrArray *
json_answers (const gchar * output)
{
  GPtrArray *answers = g_ptr_array_new_with_free_func (json_event_free);
  gchar **lines = g_strsplit (output, "\n", -1);

  for (gchar ** line = lines; *line; line++) {
    JsonEvent *event;
    if (**line == '\0')
      continue;
    event = json_event_parse (*line);
    CHECK (event != NULL, "bad JSON line: %s", *line);
    if (g_str_equal (event->type, "slowfast-answer"))
      g_ptr_array_add (answers, event);
    else
      json_event_free (event);
  }
  g_strfreev (lines);
  return answers;
}

/* ------------------------------------------------------------------------------------------ */
/* Captions read back */

typedef struct
{
  GstClockTime pts, duration;
  gchar *text;                  /* plain text (markup removed) */
} Cue;

static inline void
cue_free (gpointer data)
{
  Cue *cue = (Cue *) data;
  g_free (cue->text);
  g_free (cue);
}

/* Text of a pango-markup string: tags dropped, entities decoded. */
static inline gchar *
markup_to_text (const gchar * markup)
{
  GString *out = g_string_new (NULL);
  const gchar *p = markup;

  while (*p) {
    if (*p == '<') {
      const gchar *close = strchr (p, '>');
      if (close == NULL)
        break;
      p = close + 1;
    } else if (*p == '&') {
      static const struct
      {
        const gchar *entity, *text;
      } entities[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"},
      };
      gboolean known = FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (entities); i++) {
        if (g_str_has_prefix (p, entities[i].entity)) {
          g_string_append (out, entities[i].text);
          p += strlen (entities[i].entity);
          known = TRUE;
          break;
        }
      }
      if (!known && p[1] == '#') {
        gchar *end = NULL;
        gunichar c = p[2] == 'x' ? (gunichar) strtoul (p + 3, &end, 16) :
            (gunichar) strtoul (p + 2, &end, 10);
        if (end && *end == ';') {
          g_string_append_unichar (out, c);
          p = end + 1;
          known = TRUE;
        }
      }
      if (!known)
        g_string_append_c (out, *p++);
    } else {
      g_string_append_c (out, *p++);
    }
  }
  return g_string_free (out, FALSE);
}

/* Whitespace runs become one space, none at the ends: subtitle formats keep words, not layout. */
static inline gchar *
normalize_space (const gchar * text)
{
  GString *out = g_string_new (NULL);
  gboolean space = FALSE;

  for (const gchar * p = text; *p; p++) {
    if (g_ascii_isspace (*p)) {
      space = out->len > 0;
      continue;
    }
    if (space)
      g_string_append_c (out, ' ');
    space = FALSE;
    g_string_append_c (out, *p);
  }
  return g_string_free (out, FALSE);
}

/* Runs `description` (with an appsink named "cues") to EOS and returns its text buffers. */
static inline GPtrArray *
read_cues (const gchar * description)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  GstElement *sink;
  GPtrArray *cues = g_ptr_array_new_with_free_func (cue_free);
  GstSample *sample;
  GstBus *bus;
  GstMessage *message;

  CHECK (pipeline != NULL && error == NULL, "%s: %s", description,
      error ? error->message : "?");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "cues");
  CHECK (sink != NULL, "no appsink named cues");
  g_object_set (sink, "sync", FALSE, NULL);
  CHECK (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE,
      "%s does not start", description);
  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 60 * GST_SECOND))) {
    GstBuffer *buffer = gst_sample_get_buffer (sample);
    const GstStructure *caps = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
    const gchar *format = gst_structure_get_string (caps, "format");
    GstMapInfo map;
    Cue *cue = g_new0 (Cue, 1);
    gchar *raw, *plain;

    gst_buffer_map (buffer, &map, GST_MAP_READ);
    raw = g_strndup ((const gchar *) map.data, map.size);
    gst_buffer_unmap (buffer, &map);
    plain = g_strcmp0 (format, "pango-markup") == 0 ? markup_to_text (raw) : g_strdup (raw);
    cue->text = normalize_space (plain);
    cue->pts = GST_BUFFER_PTS (buffer);
    cue->duration = GST_BUFFER_DURATION (buffer);
    g_ptr_array_add (cues, cue);
    g_free (plain);
    g_free (raw);
    gst_sample_unref (sample);
  }
  bus = gst_element_get_bus (pipeline);
  message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (message) {
    gst_message_parse_error (message, &error, NULL);
    CHECK (FALSE, "%s: %s", description, error->message);
  }
  CHECK (gst_app_sink_is_eos (GST_APP_SINK (sink)), "%s did not reach EOS", description);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return cues;
}

/* Cues of a SubRip or WebVTT file, as subparse reads them. */
static inline GPtrArray *
read_subtitle_file (const gchar * path)
{
  gchar *description = g_strdup_printf ("filesrc location=\"%s\" ! subparse ! appsink name=cues",
      path);
  GPtrArray *cues = read_cues (description);
  g_free (description);
  return cues;
}

/* Cues of a Matroska file's first subtitle track, as matroskademux reads them. */
static inline GPtrArray *
read_matroska_subtitles (const gchar * path)
{
  gchar *description = g_strdup_printf ("filesrc location=\"%s\" ! matroskademux name=d "
      "d.subtitle_0 ! queue ! appsink name=cues d.video_0 ! queue ! fakesink sync=false", path);
  GPtrArray *cues = read_cues (description);
  g_free (description);
  return cues;
}
