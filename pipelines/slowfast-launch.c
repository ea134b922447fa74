/* slowfast-launch: runs gst-launch pipeline descriptions and prints every slowfastmllm answer
 * and alert as one JSON line on stdout, for scripts and services.
 *
 *   slowfast-launch [--restart-on-error SECONDS] [--restart-on-eos] [--quiet] [--text] \
 *       DESCRIPTION [:: DESCRIPTION ...]
 *
 * - Bus messages `slowfast-answer`, `slowfast-alert` and `slowfast-dropped` become JSON objects:
 *   "type" (the structure name), "element" (who posted it), "session", then every field of the
 *   structure under its own name (times in ns, GST_CLOCK_TIME_NONE as null). With --text, only
 *   each answer's text is printed, followed by a newline.
 * - Descriptions separated by a lone `::` run as independent pipelines in this one process: the
 *   slowfastmllm elements share one loaded model (same model-location, device, dtype), and one
 *   camera dropping restarts only its own pipeline. The program ends when all have ended.
 * - SIGINT/SIGTERM send EOS so muxers finish their files; a second one, or EOS not coming back
 *   within 20 s (a stalled pipeline), quits at once.
 * - --restart-on-error SECONDS: rtspsrc never reconnects by itself: when the camera goes away it
 *   posts an error (or, over TCP, a warning and EOS) and stops. On an error from a network source
 *   (an element whose class has "Network", or one inside it) the session ends and, SECONDS later,
 *   a new one starts, forever, so a camera that comes back resumes captions. A new session is a
 *   new pipeline parsed from the same description: gst-launch links to sometimes-pads
 *   (rtspsrc ! depay) once, so the old pipeline could not link rtspsrc's new pads. The old
 *   pipeline stays in READY until the new one started, so the new slowfastmllm shares the model
 *   the old one holds instead of loading it again. --restart-on-eos also starts a new session
 *   when a pipeline with a network source ends by itself (not after SIGINT); others just end.
 * - Every "location" property containing @SESSION@ gets the session number (1, 2, ...) before
 *   each start, so files written by one session are not overwritten by the next. A session whose
 *   sinks rendered nothing (a camera still down) gives its number to the next one, and the empty
 *   files of a last such session are removed at exit.
 *
 * Exit status: 0 when every pipeline ended with EOS, 1 after an error that is not restarted,
 * 2 on bad usage. */
#include <gst/gst.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PIPELINE_SEPARATOR "::"
#define SESSION_PLACEHOLDER "@SESSION@"
#define LOCATION_TEMPLATE_KEY "slowfast-launch-location-template"
#define EOS_TIMEOUT_S 20

typedef struct
{
  GMainLoop *loop;
  GPtrArray *slots;
  gdouble restart_delay;        /* seconds; < 0: no restart */
  gboolean restart_on_eos;
  gboolean quiet;
  gboolean text_only;
  gboolean interrupted;         /* EOS was requested by a signal */
  guint running;                /* slots not finished */
  gint exit_status;
} Launcher;

/* One description and the pipeline of its current session. */
typedef struct
{
  Launcher *launcher;
  guint index;                  /* 1-based, in the order given */
  gchar **description;          /* argv-style, parsed again for each session */
  GstElement *pipeline;
  guint session;
  guint restart_source;         /* pending restart timeout, 0 if none */
  gboolean session_wrote;       /* the last session wrote something: the next gets a new number */
  gint rendered;                /* data reached a session file's writer (atomic) */
  gboolean is_live;
  gboolean has_network_source;
  gboolean dumped_playing;
  gboolean finished;
} Slot;

static void
status (Slot * slot, const gchar * format, ...) G_GNUC_PRINTF (2, 3);

static void
status (Slot * slot, const gchar * format, ...)
{
  va_list args;

  if (slot->launcher->quiet)
    return;
  va_start (args, format);
  if (slot->launcher->slots->len > 1)
    fprintf (stderr, "slowfast-launch: pipeline %u: ", slot->index);
  else
    fputs ("slowfast-launch: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON lines */

static void
add_string (JsonBuilder * builder, const gchar * text)
{
  /* JSON must be UTF-8; a model may in principle emit a broken byte sequence. */
  gchar *valid = g_utf8_make_valid (text, -1);
  json_builder_add_string_value (builder, valid);
  g_free (valid);
}

static gboolean
add_field (GQuark field, const GValue * value, gpointer user_data)
{
  JsonBuilder *builder = (JsonBuilder *) user_data;
  GType type = G_VALUE_TYPE (value);

  json_builder_set_member_name (builder, g_quark_to_string (field));
  if (type == G_TYPE_STRING) {
    const gchar *text = g_value_get_string (value);
    if (text)
      add_string (builder, text);
    else
      json_builder_add_null_value (builder);
  } else if (type == G_TYPE_UINT64) {
    guint64 v = g_value_get_uint64 (value);
    /* The uint64 fields are times and counts: GST_CLOCK_TIME_NONE means "no time". */
    if (v == GST_CLOCK_TIME_NONE || v > G_MAXINT64)
      json_builder_add_null_value (builder);
    else
      json_builder_add_int_value (builder, (gint64) v);
  } else if (type == G_TYPE_INT64) {
    json_builder_add_int_value (builder, g_value_get_int64 (value));
  } else if (type == G_TYPE_UINT) {
    json_builder_add_int_value (builder, g_value_get_uint (value));
  } else if (type == G_TYPE_INT) {
    json_builder_add_int_value (builder, g_value_get_int (value));
  } else if (type == G_TYPE_BOOLEAN) {
    json_builder_add_boolean_value (builder, g_value_get_boolean (value));
  } else if (type == G_TYPE_DOUBLE) {
    json_builder_add_double_value (builder, g_value_get_double (value));
  } else if (type == G_TYPE_FLOAT) {
    json_builder_add_double_value (builder, g_value_get_float (value));
  } else {
    gchar *text = gst_value_serialize (value);
    if (text)
      add_string (builder, text);
    else
      json_builder_add_null_value (builder);
    g_free (text);
  }
  return TRUE;
}

static void
print_json_line (Slot * slot, GstMessage * message)
{
  const GstStructure *structure = gst_message_get_structure (message);
  JsonBuilder *builder;
  JsonGenerator *generator;
  JsonNode *root;
  gchar *line;

  if (slot->launcher->text_only) {
    if (gst_structure_has_name (structure, "slowfast-answer")) {
      fprintf (stdout, "%s\n", gst_structure_get_string (structure, "text"));
      fflush (stdout);
    }
    return;
  }
  builder = json_builder_new ();
  generator = json_generator_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, gst_structure_get_name (structure));
  json_builder_set_member_name (builder, "element");
  json_builder_add_string_value (builder, GST_OBJECT_NAME (GST_MESSAGE_SRC (message)));
  json_builder_set_member_name (builder, "session");
  json_builder_add_int_value (builder, slot->session);
  gst_structure_foreach (structure, add_field, builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  line = json_generator_to_data (generator, NULL);
  fprintf (stdout, "%s\n", line);
  fflush (stdout);
  g_free (line);
  json_node_unref (root);
  g_object_unref (generator);
  g_object_unref (builder);
}

/* ------------------------------------------------------------------------------------------ */
/* Session files */

/* Remembers every "location" containing @SESSION@ (right after parsing). */
static void
remember_location_templates (GstElement * pipeline)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GObject *element = g_value_get_object (&item);
    GParamSpec *spec = g_object_class_find_property (G_OBJECT_GET_CLASS (element), "location");
    gchar *location = NULL;

    if (spec && spec->value_type == G_TYPE_STRING && (spec->flags & G_PARAM_READABLE)) {
      g_object_get (element, "location", &location, NULL);
      if (location && strstr (location, SESSION_PLACEHOLDER))
        g_object_set_data_full (element, LOCATION_TEMPLATE_KEY, location, g_free);
      else
        g_free (location);
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

/* Sets every templated location to the session's file name; returns the file names when
 * `files` is not NULL. */
static void
apply_session (Slot * slot, GPtrArray * files)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (slot->pipeline));
  GValue item = G_VALUE_INIT;
  gchar *number = g_strdup_printf ("%u", slot->session);

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *element = GST_ELEMENT (g_value_get_object (&item));
    const gchar *template = g_object_get_data (G_OBJECT (element), LOCATION_TEMPLATE_KEY);

    if (template) {
      gchar **parts = g_strsplit (template, SESSION_PLACEHOLDER, -1);
      gchar *location = g_strjoinv (number, parts);
      if (files) {
        g_ptr_array_add (files, location);
      } else {
        g_object_set (element, "location", location, NULL);
        status (slot, "session %u: %s writes %s", slot->session, GST_OBJECT_NAME (element),
            location);
        g_free (location);
      }
      g_strfreev (parts);
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  g_free (number);
}

/* Did the session write anything? Counted by a probe on the sink pads of the elements with a
 * templated location (watch_session_files); the files tell nothing yet: filesink buffers its
 * writes and closes only in READY->NULL. */
static GstPadProbeReturn
on_session_data (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad;
  (void) info;
  g_atomic_int_set ((gint *) user_data, TRUE);
  return GST_PAD_PROBE_REMOVE;  /* one buffer is enough */
}

static gboolean
session_rendered (Slot * slot)
{
  return g_atomic_int_get (&slot->rendered);
}

/* Probes the sink pads of the elements that write session files (right after parsing). */
static void
watch_session_files (Slot * slot, GstElement * pipeline)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;
  gboolean any = FALSE;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *element = GST_ELEMENT (g_value_get_object (&item));
    if (g_object_get_data (G_OBJECT (element), LOCATION_TEMPLATE_KEY)) {
      GList *pads;
      GST_OBJECT_LOCK (element);
      for (pads = element->sinkpads; pads; pads = pads->next) {
        gst_pad_add_probe (GST_PAD (pads->data), (GstPadProbeType) (GST_PAD_PROBE_TYPE_BUFFER
                | GST_PAD_PROBE_TYPE_BUFFER_LIST), on_session_data, &slot->rendered, NULL);
        any = TRUE;
      }
      GST_OBJECT_UNLOCK (element);
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  /* Nothing to watch: every session counts as one that wrote. */
  slot->rendered = !any;
}

/* Removes the session's files (it wrote nothing; they are closed). */
static void
remove_session_files (Slot * slot)
{
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);

  apply_session (slot, files);
  for (guint i = 0; i < files->len; i++)
    g_unlink ((const gchar *) g_ptr_array_index (files, i));
  g_ptr_array_unref (files);
}

/* ------------------------------------------------------------------------------------------ */
/* Sessions */

static gboolean on_bus_message (GstBus * bus, GstMessage * message, gpointer user_data);

/* rtspsrc, udpsrc, souphttpsrc, ...: their class names "Network". */
static gboolean
is_network_element (GstObject * object)
{
  GstElementFactory *factory;
  const gchar *klass;

  if (!GST_IS_ELEMENT (object))
    return FALSE;
  factory = gst_element_get_factory (GST_ELEMENT (object));
  if (factory == NULL)
    return FALSE;
  klass = gst_element_factory_get_metadata (factory, GST_ELEMENT_METADATA_KLASS);
  return klass && strstr (klass, "Source") && strstr (klass, "Network");
}

/* Is the message from a network source, or from an element inside one (rtspsrc's udpsrc)? */
static gboolean
from_network_source (GstMessage * message)
{
  GstObject *object;

  for (object = GST_MESSAGE_SRC (message); object != NULL; object = GST_OBJECT_PARENT (object))
    if (is_network_element (object))
      return TRUE;
  return FALSE;
}

static gboolean
has_network_source (GstElement * pipeline)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;
  gboolean found = FALSE;

  while (!found && gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    found = is_network_element (GST_OBJECT (g_value_get_object (&item)));
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return found;
}

static GstElement *
build_pipeline (Slot * slot)
{
  GError *error = NULL;
  GstElement *parsed = gst_parse_launchv ((const gchar **) slot->description, &error);
  GstElement *pipeline;
  GstBus *bus;

  if (parsed == NULL || error != NULL) {
    fprintf (stderr, "slowfast-launch: could not build pipeline %u: %s\n", slot->index,
        error ? error->message : "unknown error");
    g_clear_error (&error);
    if (parsed)
      gst_object_unref (parsed);
    return NULL;
  }
  if (GST_IS_PIPELINE (parsed)) {
    pipeline = parsed;
  } else {
    pipeline = gst_pipeline_new (NULL);
    gst_bin_add (GST_BIN (pipeline), parsed);
  }
  remember_location_templates (pipeline);
  watch_session_files (slot, pipeline);
  slot->has_network_source = has_network_source (pipeline);
  bus = gst_element_get_bus (pipeline);
  gst_bus_add_watch (bus, on_bus_message, slot);
  gst_object_unref (bus);
  return pipeline;
}

static void
destroy_pipeline (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);

  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

static void
start_session (Slot * slot)
{
  GstStateChangeReturn ret;

  apply_session (slot, NULL);
  slot->dumped_playing = FALSE;
  ret = gst_element_set_state (slot->pipeline, GST_STATE_PLAYING);
  slot->is_live = ret == GST_STATE_CHANGE_NO_PREROLL;
  /* On failure the error message on the bus says why, and ends or restarts the session. */
  if (ret == GST_STATE_CHANGE_FAILURE)
    status (slot, "session %u: the pipeline did not start", slot->session);
}

static void
finish_slot (Slot * slot, gint exit_status)
{
  Launcher *launcher = slot->launcher;

  if (slot->finished)
    return;
  slot->finished = TRUE;
  if (slot->restart_source) {
    g_source_remove (slot->restart_source);
    slot->restart_source = 0;
  }
  {
    const gboolean rendered = session_rendered (slot);
    gst_element_set_state (slot->pipeline, GST_STATE_NULL);
    if (!rendered)
      remove_session_files (slot);
  }
  launcher->exit_status = MAX (launcher->exit_status, exit_status);
  if (--launcher->running == 0)
    g_main_loop_quit (launcher->loop);
}

static gboolean
restart_now (gpointer user_data)
{
  Slot *slot = (Slot *) user_data;
  GstElement *old = slot->pipeline;
  GstElement *fresh;

  slot->restart_source = 0;
  fresh = build_pipeline (slot);
  if (fresh == NULL) {
    finish_slot (slot, 1);
    return G_SOURCE_REMOVE;
  }
  slot->pipeline = fresh;
  if (slot->session_wrote)
    slot->session++;
  status (slot, "starting session %u", slot->session);
  start_session (slot);
  /* The new pipeline went through READY->PAUSED: its slowfastmllm shares the old one's model. */
  destroy_pipeline (old);
  return G_SOURCE_REMOVE;
}

/* Stops the session now and starts the next one after the delay. */
static void
schedule_restart (Slot * slot, const gchar * why)
{
  if (slot->restart_source)
    return;
  status (slot, "session %u ended (%s); restarting in %.1f s", slot->session, why,
      slot->launcher->restart_delay);
  gst_element_set_state (slot->pipeline, GST_STATE_READY);
  slot->session_wrote = session_rendered (slot);
  slot->restart_source = g_timeout_add ((guint) (slot->launcher->restart_delay * 1000),
      restart_now, slot);
}


/* ------------------------------------------------------------------------------------------ */
/* Bus */

static gboolean
on_bus_message (GstBus * bus, GstMessage * message, gpointer user_data)
{
  Slot *slot = (Slot *) user_data;
  Launcher *launcher = slot->launcher;
  (void) bus;

  if (slot->finished)
    return G_SOURCE_CONTINUE;
  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_ELEMENT:
      if (gst_message_has_name (message, "slowfast-answer")
          || gst_message_has_name (message, "slowfast-alert")
          || gst_message_has_name (message, "slowfast-dropped"))
        print_json_line (slot, message);
      break;
    case GST_MESSAGE_ERROR:{
      GError *error = NULL;
      gchar *debug = NULL;
      gchar *name;

      if (slot->restart_source)
        break;                  /* the rest of a session already ending */
      name = gst_object_get_path_string (GST_MESSAGE_SRC (message));
      gst_message_parse_error (message, &error, &debug);
      fprintf (stderr, "ERROR: from element %s: %s\n", name, error->message);
      if (debug)
        fprintf (stderr, "Additional debug info:\n%s\n", debug);
      if (launcher->restart_delay >= 0 && !launcher->interrupted
          && from_network_source (message))
        schedule_restart (slot, error->message);
      else
        finish_slot (slot, 1);
      g_clear_error (&error);
      g_free (debug);
      g_free (name);
      break;
    }
    case GST_MESSAGE_WARNING:{
      GError *error = NULL;
      gchar *name = gst_object_get_path_string (GST_MESSAGE_SRC (message));
      gst_message_parse_warning (message, &error, NULL);
      fprintf (stderr, "WARNING: from element %s: %s\n", name, error->message);
      g_clear_error (&error);
      g_free (name);
      break;
    }
    case GST_MESSAGE_EOS:
      if (slot->restart_source)
        break;
      if (launcher->restart_on_eos && launcher->restart_delay >= 0 && !launcher->interrupted
          && slot->has_network_source) {
        schedule_restart (slot, "end of stream");
      } else {
        status (slot, "end of stream");
        finish_slot (slot, 0);
      }
      break;
    case GST_MESSAGE_STATE_CHANGED:
      if (GST_MESSAGE_SRC (message) == GST_OBJECT (slot->pipeline)) {
        GstState new_state;
        gst_message_parse_state_changed (message, NULL, &new_state, NULL);
        if (new_state == GST_STATE_PLAYING && !slot->dumped_playing) {
          /* Written only when GST_DEBUG_DUMP_DOT_DIR is set (docs/pipelines.md's graphs): the
           * elements, their non-default properties and the negotiated media types. */
          gchar *name = g_strdup_printf ("slowfast-launch.%u.playing", slot->index);
          GST_DEBUG_BIN_TO_DOT_FILE (GST_BIN (slot->pipeline), (GstDebugGraphDetails)
              (GST_DEBUG_GRAPH_SHOW_MEDIA_TYPE | GST_DEBUG_GRAPH_SHOW_NON_DEFAULT_PARAMS), name);
          g_free (name);
          slot->dumped_playing = TRUE;
          status (slot, "session %u playing", slot->session);
        }
      }
      break;
    case GST_MESSAGE_LATENCY:
      gst_bin_recalculate_latency (GST_BIN (slot->pipeline));
      break;
    case GST_MESSAGE_CLOCK_LOST:
      /* A new clock is selected by going through PAUSED. */
      gst_element_set_state (slot->pipeline, GST_STATE_PAUSED);
      gst_element_set_state (slot->pipeline, GST_STATE_PLAYING);
      break;
    case GST_MESSAGE_BUFFERING:{
      gint percent;
      /* Live pipelines must not pause for buffering. */
      if (slot->is_live)
        break;
      gst_message_parse_buffering (message, &percent);
      gst_element_set_state (slot->pipeline,
          percent < 100 ? GST_STATE_PAUSED : GST_STATE_PLAYING);
      break;
    }
    case GST_MESSAGE_REQUEST_STATE:{
      GstState state;
      gst_message_parse_request_state (message, &state);
      gst_element_set_state (slot->pipeline, state);
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_eos_timeout (gpointer user_data)
{
  Launcher *launcher = (Launcher *) user_data;

  fprintf (stderr, "slowfast-launch: no EOS %d s after the interruption: stopping now\n",
      EOS_TIMEOUT_S);
  launcher->exit_status = MAX (launcher->exit_status, 1);
  g_main_loop_quit (launcher->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer user_data)
{
  Launcher *launcher = (Launcher *) user_data;
  guint i;

  if (launcher->interrupted) {
    fputs ("slowfast-launch: interrupted again: stopping now\n", stderr);
    launcher->exit_status = MAX (launcher->exit_status, 1);
    g_main_loop_quit (launcher->loop);
    return G_SOURCE_CONTINUE;
  }
  if (!launcher->quiet)
    fputs ("slowfast-launch: interrupted: sending EOS (again to stop at once)\n", stderr);
  launcher->interrupted = TRUE;
  g_timeout_add_seconds (EOS_TIMEOUT_S, on_eos_timeout, launcher);
  for (i = 0; i < launcher->slots->len; i++) {
    Slot *slot = g_ptr_array_index (launcher->slots, i);
    if (slot->finished)
      continue;
    if (slot->restart_source)
      finish_slot (slot, 0);    /* between sessions: nothing to complete */
    else
      gst_element_send_event (slot->pipeline, gst_event_new_eos ());
  }
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------------------------ */

static void
free_slot (gpointer data)
{
  Slot *slot = (Slot *) data;

  if (slot->restart_source)
    g_source_remove (slot->restart_source);
  if (slot->pipeline)
    destroy_pipeline (slot->pipeline);
  g_strfreev (slot->description);
  g_free (slot);
}

/* Splits the remaining arguments at each lone "::" into slots. */
static gboolean
add_slots (Launcher * launcher, gchar ** args)
{
  guint start = 0, i;

  for (i = 0;; i++) {
    if (args[i] != NULL && strcmp (args[i], PIPELINE_SEPARATOR) != 0)
      continue;
    if (i == start)
      return FALSE;             /* an empty description */
    Slot *slot = g_new0 (Slot, 1);
    slot->launcher = launcher;
    slot->index = launcher->slots->len + 1;
    slot->description = g_new0 (gchar *, i - start + 1);
    for (guint k = start; k < i; k++)
      slot->description[k - start] = g_strdup (args[k]);
    slot->session = 1;
    g_ptr_array_add (launcher->slots, slot);
    if (args[i] == NULL)
      return TRUE;
    start = i + 1;
  }
}

int
main (int argc, char **argv)
{
  Launcher launcher = { 0 };
  gdouble restart_delay = -1;
  gboolean restart_on_eos = FALSE, quiet = FALSE, text_only = FALSE;
  gchar **args = NULL;
  GOptionEntry entries[] = {
    {"restart-on-error", 'r', 0, G_OPTION_ARG_DOUBLE, &restart_delay,
        "After an error from a network source, start the pipeline again after SECONDS, forever",
        "SECONDS"},
    {"restart-on-eos", 0, 0, G_OPTION_ARG_NONE, &restart_on_eos,
        "With --restart-on-error: also start again when the stream ends by itself", NULL},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No status lines on stderr", NULL},
    {"text", 't', 0, G_OPTION_ARG_NONE, &text_only,
        "Print only the text of each answer (and a newline) instead of JSON lines", NULL},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &args, NULL,
        "PIPELINE-DESCRIPTION [:: PIPELINE-DESCRIPTION ...]"},
    {NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL},
  };
  GOptionContext *context = g_option_context_new ("PIPELINE-DESCRIPTION [:: ...]");
  GError *error = NULL;
  guint i;

  g_option_context_set_summary (context, "Runs gst-launch pipelines and prints slowfastmllm's "
      "answers and alerts as JSON lines.");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "slowfast-launch: %s\n", error->message);
    g_clear_error (&error);
    g_option_context_free (context);
    return 2;
  }
  g_option_context_free (context);
  gst_init (NULL, NULL);

  launcher.slots = g_ptr_array_new_with_free_func (free_slot);
  launcher.restart_delay = restart_delay;
  launcher.restart_on_eos = restart_on_eos;
  launcher.quiet = quiet;
  launcher.text_only = text_only;
  if (args == NULL || !add_slots (&launcher, args)) {
    fprintf (stderr, "usage: slowfast-launch [--restart-on-error SECONDS] [--restart-on-eos] "
        "[--quiet] [--text] PIPELINE-DESCRIPTION [:: PIPELINE-DESCRIPTION ...]\n");
    g_strfreev (args);
    g_ptr_array_unref (launcher.slots);
    return 2;
  }
  g_strfreev (args);
  for (i = 0; i < launcher.slots->len; i++) {
    Slot *slot = g_ptr_array_index (launcher.slots, i);
    slot->pipeline = build_pipeline (slot);
    if (slot->pipeline == NULL) {
      g_ptr_array_unref (launcher.slots);
      return 2;
    }
  }

  launcher.loop = g_main_loop_new (NULL, FALSE);
  launcher.running = launcher.slots->len;
  g_unix_signal_add (SIGINT, on_signal, &launcher);
  g_unix_signal_add (SIGTERM, on_signal, &launcher);
  for (i = 0; i < launcher.slots->len; i++)
    start_session (g_ptr_array_index (launcher.slots, i));
  g_main_loop_run (launcher.loop);

  g_ptr_array_unref (launcher.slots);
  g_main_loop_unref (launcher.loop);
  gst_deinit ();
  return launcher.exit_status;
}
