/* slowfast-launch: runs gst-launch pipeline descriptions and prints every slowfastmllm answer
 * and alert as one JSON line on stdout, for scripts and services.
 *
 *   slowfast-launch [--restart-on-error SECONDS] [--restart-on-eos] [--quiet] [--text] \
 *       [--prompt TEXT | --prompt-file FILE] [--tokens] [--progress] [--config FILE] \
 *       [--mqtt URL ...] [DESCRIPTION [:: DESCRIPTION ...]]
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
 *   (an element whose class has "Network", or one inside it), or a stream error anywhere in a
 *   pipeline with a network source (a camera changing resolution mid-stream stops a muxer with
 *   "Caps changes are not supported"), the session ends and, SECONDS later,
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
 * - --prompt TEXT / --prompt-file FILE: sets `prompt` on every slowfastmllm of the descriptions
 *   in code, so it arrives verbatim: the description parser takes backslashes as escapes and
 *   splits at tabs. The file is read as UTF-8; one trailing newline is dropped. Arguments are
 *   taken as UTF-8 bytes whatever the locale (a C locale made GOption reject non-ASCII ones).
 * - --tokens: sets stream-tokens on every slowfastmllm and prints each slowfast-token message
 *   (a piece of an answer as it is generated) as a JSON line. --progress: each progress message
 *   (model loading, with "percent") as a {"type": "slowfast-progress", ...} JSON line; without
 *   it, loading is reported on stderr.
 * - Finds the slowfast plugin without GST_PLUGIN_PATH: in the build tree beside this program,
 *   else where it is installed.
 * - --config FILE: the cameras of a camera list file (camera-config.h), each its own pipeline,
 *   built as surveillance.sh builds one for --source; descriptions given too run beside them.
 * - --mqtt URL: every JSON line (and pipeline errors and status) is also published on an MQTT
 *   broker, under PREFIX/<source-id>/answer, alert, dropped, status (mqtt-publish.h), from a
 *   thread of its own: a broker that is slow or away never holds up the pipelines.
 *
 * Exit status: 0 when every pipeline ended with EOS, 1 after an error that is not restarted,
 * 2 on bad usage. */
#include <gst/gst.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "camera-config.h"
#include "mqtt-publish.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PIPELINE_SEPARATOR "::"
#define SESSION_PLACEHOLDER "@SESSION@"
#define LOCATION_TEMPLATE_KEY "slowfast-launch-location-template"
#define EOS_TIMEOUT_S 20
#define ELEMENT_FACTORY "slowfastmllm"

typedef struct
{
  GMainLoop *loop;
  GPtrArray *slots;
  gdouble restart_delay;        /* seconds; < 0: no restart */
  gboolean restart_on_eos;
  gboolean quiet;
  gboolean text_only;
  gboolean tokens;              /* --tokens: stream-tokens on, slowfast-token lines printed */
  gboolean progress;            /* --progress: progress messages as JSON lines */
  gchar *prompt;                /* --prompt / --prompt-file, or NULL */
  gboolean interrupted;         /* EOS was requested by a signal */
  guint running;                /* slots not finished */
  gint exit_status;
  SlowfastMqtt *mqtt;           /* NULL without --mqtt */
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
  /* The source ids of its slowfastmllm elements (topics of the status messages), and which of
   * them are in alert mode; found in the first session's pipeline. */
  GPtrArray *sources;
  GPtrArray *alert_sources;
  gchar *device_class;          /* from --config, for Home Assistant discovery */
  const gchar *prompt;          /* set on its slowfastmllm elements in code, or NULL */
  gchar *own_prompt;            /* the camera's prompt (--config), owned */
  gint progress_shown;          /* the last loading percent printed on stderr */
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

/* The finished object of `builder` as one line of JSON; frees the builder. */
static gchar *
builder_to_line (JsonBuilder * builder)
{
  gchar *line = slowfast_json_to_string (builder);

  g_object_unref (builder);
  return line;
}

/* The JSON line of a slowfastmllm message, without the newline: stdout and MQTT carry the same
 * bytes. */
static gchar *
format_json_line (Slot * slot, GstMessage * message)
{
  const GstStructure *structure = gst_message_get_structure (message);
  JsonBuilder *builder;

  builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, gst_structure_get_name (structure));
  json_builder_set_member_name (builder, "element");
  json_builder_add_string_value (builder, GST_OBJECT_NAME (GST_MESSAGE_SRC (message)));
  json_builder_set_member_name (builder, "session");
  json_builder_add_int_value (builder, slot->session);
  gst_structure_foreach (structure, add_field, builder);
  json_builder_end_object (builder);

  return builder_to_line (builder);
}

/* A JSON object of the given members (NULL-terminated name, value pairs; a NULL value is
 * skipped) for the status topic. */
static gchar *
format_status (Slot * slot, const gchar * type, ...) G_GNUC_NULL_TERMINATED;

static gchar *
format_status (Slot * slot, const gchar * type, ...)
{
  JsonBuilder *builder = json_builder_new ();
  const gchar *name;
  va_list args;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  json_builder_set_member_name (builder, "pipeline");
  json_builder_add_int_value (builder, slot->index);
  json_builder_set_member_name (builder, "session");
  json_builder_add_int_value (builder, slot->session);
  va_start (args, type);
  while ((name = va_arg (args, const gchar *)) != NULL) {
    const gchar *value = va_arg (args, const gchar *);
    if (value == NULL)
      continue;
    json_builder_set_member_name (builder, name);
    add_string (builder, value);
  }
  va_end (args);
  json_builder_end_object (builder);
  return builder_to_line (builder);
}

/* The source id a message is about: its "source-id" field, else its element's property. */
static gchar *
message_source_id (GstMessage * message)
{
  const gchar *field = gst_structure_get_string (gst_message_get_structure (message),
      "source-id");
  GObject *element = G_OBJECT (GST_MESSAGE_SRC (message));
  gchar *id = NULL;

  if (field)
    return g_strdup (field);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (element), "source-id"))
    g_object_get (element, "source-id", &id, NULL);
  return id ? id : g_strdup (GST_OBJECT_NAME (element));
}

/* Every slowfastmllm message: a line on stdout, and with --mqtt the same line on its topic. */
static void
emit_message (Slot * slot, GstMessage * message)
{
  const GstStructure *structure = gst_message_get_structure (message);
  Launcher *launcher = slot->launcher;
  gchar *line = NULL;

  if (!launcher->text_only || launcher->mqtt)
    line = format_json_line (slot, message);
  if (launcher->text_only) {
    if (gst_structure_has_name (structure, "slowfast-answer")) {
      fprintf (stdout, "%s\n", gst_structure_get_string (structure, "text"));
      fflush (stdout);
    }
  } else {
    fprintf (stdout, "%s\n", line);
    fflush (stdout);
  }
  if (launcher->mqtt) {
    gchar *source = message_source_id (message);
    if (gst_structure_has_name (structure, "slowfast-answer")) {
      slowfast_mqtt_publish (launcher->mqtt, source, SLOWFAST_MQTT_ANSWER, line);
    } else if (gst_structure_has_name (structure, "slowfast-alert")) {
      const gchar *state = gst_structure_get_string (structure, "state");
      slowfast_mqtt_publish (launcher->mqtt, source, SLOWFAST_MQTT_ALERT, line);
      if (state)
        slowfast_mqtt_set_alert_state (launcher->mqtt, source, state);
    } else {
      slowfast_mqtt_publish (launcher->mqtt, source, SLOWFAST_MQTT_DROPPED, line);
    }
    g_free (source);
  }
  g_free (line);
}

static gboolean
is_slowfast_element (GstObject * object)
{
  GstElementFactory *factory;

  if (!GST_IS_ELEMENT (object))
    return FALSE;
  factory = gst_element_get_factory (GST_ELEMENT (object));
  return factory && g_str_equal (GST_OBJECT_NAME (factory), ELEMENT_FACTORY);
}

/* A slowfast-token message: a JSON line on stdout only (too many for the broker). */
static void
print_line (Slot * slot, GstMessage * message)
{
  gchar *line = format_json_line (slot, message);

  fprintf (stdout, "%s\n", line);
  fflush (stdout);
  g_free (line);
}

/* A progress message (model loading): a JSON line with --progress, else a status line. */
static void
report_progress (Slot * slot, GstMessage * message)
{
  const GstStructure *structure = gst_message_get_structure (message);
  GstProgressType type;
  gchar *code = NULL, *text = NULL;
  gint percent = -1;

  if (!is_slowfast_element (GST_MESSAGE_SRC (message)))
    return;                     /* rtspsrc's connection steps and the like */
  gst_message_parse_progress (message, &type, &code, &text);
  gst_structure_get_int (structure, "percent", &percent);
  if (slot->launcher->progress && !slot->launcher->text_only) {
    static const gchar *const types[] = { "start", "continue", "complete", "canceled", "error" };
    JsonBuilder *builder = json_builder_new ();
    gchar *line;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "type");
    json_builder_add_string_value (builder, "slowfast-progress");
    json_builder_set_member_name (builder, "element");
    json_builder_add_string_value (builder, GST_OBJECT_NAME (GST_MESSAGE_SRC (message)));
    json_builder_set_member_name (builder, "session");
    json_builder_add_int_value (builder, slot->session);
    json_builder_set_member_name (builder, "progress");
    json_builder_add_string_value (builder, (guint) type < G_N_ELEMENTS (types) ?
        types[type] : "unknown");
    json_builder_set_member_name (builder, "code");
    add_string (builder, code ? code : "");
    json_builder_set_member_name (builder, "text");
    add_string (builder, text ? text : "");
    json_builder_set_member_name (builder, "percent");
    json_builder_add_int_value (builder, percent);
    json_builder_end_object (builder);
    line = builder_to_line (builder);
    fprintf (stdout, "%s\n", line);
    fflush (stdout);
    g_free (line);
  } else if (text && type != GST_PROGRESS_TYPE_ERROR) {
    /* Errors are printed as the error message that follows; of the steps, one in ten percent. */
    if (type != GST_PROGRESS_TYPE_CONTINUE || percent / 10 != slot->progress_shown / 10)
      status (slot, "%s", text);
    slot->progress_shown = type == GST_PROGRESS_TYPE_CONTINUE ? percent : -10;
  }
  g_free (code);
  g_free (text);
}

/* Publishes a status line for each camera of the pipeline (stdout is for the answers only). */
static void
publish_status (Slot * slot, const gchar * json)
{
  Launcher *launcher = slot->launcher;

  if (launcher->mqtt == NULL)
    return;
  for (guint i = 0; i < slot->sources->len; i++)
    slowfast_mqtt_publish (launcher->mqtt, g_ptr_array_index (slot->sources, i),
        SLOWFAST_MQTT_STATUS, json);
}

static void
publish_state (Slot * slot, const gchar * state, const gchar * message)
{
  gchar *json;

  if (slot->launcher->mqtt == NULL)
    return;
  json = format_status (slot, "slowfast-status", "state", state, "message", message, NULL);
  publish_status (slot, json);
  g_free (json);
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

/* Notes the source ids of the pipeline's slowfastmllm elements (first session only: later
 * ones are parsed from the same description) and tells the publisher about them. */
static void
find_sources (Slot * slot, GstElement * pipeline)
{
  GstIterator *it;
  GValue item = G_VALUE_INIT;

  if (slot->sources->len > 0)
    return;
  it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *element = GST_ELEMENT (g_value_get_object (&item));

    if (is_slowfast_element (GST_OBJECT (element))) {
      gchar *id = NULL;
      guint raise_after = 0;

      g_object_get (element, "source-id", &id, "alert-raise-after", &raise_after, NULL);
      if (id == NULL)
        id = g_strdup (GST_OBJECT_NAME (element));
      g_ptr_array_add (slot->sources, g_strdup (id));
      if (raise_after > 0)
        g_ptr_array_add (slot->alert_sources, g_strdup (id));
      if (slot->launcher->mqtt)
        slowfast_mqtt_add_camera (slot->launcher->mqtt, id, raise_after > 0,
            slot->device_class);
      g_free (id);
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  /* A pipeline without the element still has a status topic. */
  if (slot->sources->len == 0)
    g_ptr_array_add (slot->sources, g_strdup_printf ("pipeline-%u", slot->index));
}

/* Sets what the options say on every slowfastmllm of a freshly parsed pipeline: in code, so
 * the prompt arrives exactly as given. */
static void
configure_elements (Slot * slot, GstElement * pipeline)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *element = GST_ELEMENT (g_value_get_object (&item));

    if (is_slowfast_element (GST_OBJECT (element))) {
      if (slot->prompt)
        g_object_set (element, "prompt", slot->prompt, NULL);
      if (slot->launcher->tokens)
        g_object_set (element, "stream-tokens", TRUE, NULL);
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

static gboolean
plugin_found (void)
{
  GstPluginFeature *feature = gst_registry_lookup_feature (gst_registry_get (), ELEMENT_FACTORY);

  if (feature == NULL)
    return FALSE;
  gst_object_unref (feature);
  return TRUE;
}

/* The slowfast plugin without GST_PLUGIN_PATH: the build tree's (this program in
 * <build>/pipelines, the plugin in <build>/gst), else the installed one. A plugin that the
 * registry already knows (GST_PLUGIN_PATH, installed) comes first. */
static void
find_plugin (void)
{
  gchar *self = g_file_read_link ("/proc/self/exe", NULL);
  gchar *dirs[3] = { NULL, NULL, NULL };

  if (plugin_found ())
    goto out;
  if (self) {
    gchar *bin = g_path_get_dirname (self);
    dirs[0] = g_build_filename (bin, "..", "gst", NULL);
    g_free (bin);
  }
  dirs[1] = g_strdup (SLOWFAST_PLUGIN_INSTALL_DIR);
  for (guint i = 0; dirs[i] && !plugin_found (); i++) {
    gchar *library = g_build_filename (dirs[i], "libgstslowfast.so", NULL);
    if (g_file_test (library, G_FILE_TEST_IS_REGULAR))
      gst_registry_scan_path (gst_registry_get (), dirs[i]);
    g_free (library);
  }
out:
  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++)
    g_free (dirs[i]);
  g_free (self);
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
    if (!plugin_found ())
      fputs ("slowfast-launch: the slowfast plugin (libgstslowfast.so) was not found: set "
          "GST_PLUGIN_PATH to its directory\n", stderr);
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
  configure_elements (slot, pipeline);
  remember_location_templates (pipeline);
  watch_session_files (slot, pipeline);
  find_sources (slot, pipeline);
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
  /* A new element starts with its alert cleared: so does the retained state (it may still say
   * "raised" from the last session or the last run). */
  if (slot->launcher->mqtt)
    for (guint i = 0; i < slot->alert_sources->len; i++)
      slowfast_mqtt_set_alert_state (slot->launcher->mqtt,
          g_ptr_array_index (slot->alert_sources, i), "cleared");
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
  publish_state (slot, "restarting", why);
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
        emit_message (slot, message);
      else if (launcher->tokens && !launcher->text_only
          && gst_message_has_name (message, "slowfast-token"))
        print_line (slot, message);
      break;
    case GST_MESSAGE_PROGRESS:
      report_progress (slot, message);
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
      if (launcher->mqtt) {
        gchar *json = format_status (slot, "slowfast-error", "element", name,
            "message", error->message, "debug", debug, NULL);
        publish_status (slot, json);
        g_free (json);
      }
      /* A stream error in a camera's pipeline is the camera's stream changing under it (a new
       * resolution a muxer cannot follow, corrupt data): a new session takes the new stream. */
      if (launcher->restart_delay >= 0 && !launcher->interrupted
          && (from_network_source (message) || (slot->has_network_source
                  && error->domain == GST_STREAM_ERROR)))
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
        publish_state (slot, "ended", NULL);
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
          publish_state (slot, "playing", NULL);
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
  g_ptr_array_unref (slot->sources);
  g_ptr_array_unref (slot->alert_sources);
  g_free (slot->device_class);
  g_free (slot->own_prompt);
  g_free (slot);
}

static Slot *
new_slot (Launcher * launcher, gchar ** description)
{
  Slot *slot = g_new0 (Slot, 1);

  slot->launcher = launcher;
  slot->index = launcher->slots->len + 1;
  slot->description = description;
  slot->session = 1;
  slot->progress_shown = -10;
  slot->sources = g_ptr_array_new_with_free_func (g_free);
  slot->alert_sources = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (launcher->slots, slot);
  return slot;
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
    gchar **description = g_new0 (gchar *, i - start + 1);
    for (guint k = start; k < i; k++)
      description[k - start] = g_strdup (args[k]);
    new_slot (launcher, description)->prompt = launcher->prompt;
    if (args[i] == NULL)
      return TRUE;
    start = i + 1;
  }
}

/* One slot per camera of the --config file. */
static gboolean
add_config_slots (Launcher * launcher, const gchar * path, gchar ** defaults)
{
  GError *error = NULL;
  GPtrArray *cameras = camera_config_load (path, (const gchar * const *) defaults, &error);

  if (cameras == NULL) {
    fprintf (stderr, "slowfast-launch: %s\n", error->message);
    g_clear_error (&error);
    return FALSE;
  }
  for (guint i = 0; i < cameras->len; i++) {
    CameraConfig *camera = g_ptr_array_index (cameras, i);
    Slot *slot = new_slot (launcher, camera_config_describe (camera));
    slot->device_class = g_strdup (camera->device_class);
    slot->own_prompt = g_strdup (camera->prompt);
    slot->prompt = slot->own_prompt;
  }
  g_ptr_array_unref (cameras);
  return TRUE;
}

#define USAGE "usage: slowfast-launch [OPTION...] " \
  "[PIPELINE-DESCRIPTION [:: PIPELINE-DESCRIPTION ...]] (--help)\n"

/* Arguments arrive as bytes (G_OPTION_ARG_FILENAME: no conversion from the locale's charset,
 * which in a C locale rejects any non-ASCII byte); the parser and the model take UTF-8. */
static gboolean
check_utf8 (const gchar * what, const gchar * text)
{
  if (text == NULL || g_utf8_validate (text, -1, NULL))
    return TRUE;
  fprintf (stderr, "slowfast-launch: %s is not valid UTF-8 text: '%s'\n", what, text);
  return FALSE;
}

/* --prompt-file: the file as UTF-8, one trailing newline dropped (editors add one). */
static gchar *
read_prompt_file (const gchar * path)
{
  GError *error = NULL;
  gchar *text = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &text, &length, &error)) {
    fprintf (stderr, "slowfast-launch: --prompt-file: %s\n", error->message);
    g_clear_error (&error);
    return NULL;
  }
  if (strlen (text) != length || !g_utf8_validate (text, -1, NULL)) {
    fprintf (stderr, "slowfast-launch: --prompt-file: '%s' is not UTF-8 text\n", path);
    g_free (text);
    return NULL;
  }
  if (length > 0 && text[length - 1] == '\n')
    text[--length] = '\0';
  if (length > 0 && text[length - 1] == '\r')
    text[--length] = '\0';
  return text;
}

int
main (int argc, char **argv)
{
  Launcher launcher = { 0 };
  gdouble restart_delay = -1;
  gboolean restart_on_eos = FALSE, quiet = FALSE, text_only = FALSE;
  gchar **args = NULL, **camera_defaults = NULL;
  gchar *config = NULL, *prompt = NULL, *prompt_file = NULL;
  gboolean tokens = FALSE, progress = FALSE, version = FALSE;
  gchar *mqtt_url = NULL, *mqtt_ca = NULL, *mqtt_cert = NULL, *mqtt_key = NULL;
  gchar *mqtt_user = NULL, *mqtt_password = NULL, *mqtt_credentials = NULL, *mqtt_node = NULL;
  gchar *mqtt_discovery_prefix = NULL, *mqtt_device_class = NULL;
  gint mqtt_qos = 1, mqtt_outbox = 10000, mqtt_keepalive = 30;
  gboolean mqtt_discovery = FALSE;
  gdouble mqtt_retry_max = 30, mqtt_flush = 5;
  GOptionEntry entries[] = {
    {"restart-on-error", 'r', 0, G_OPTION_ARG_DOUBLE, &restart_delay,
        "After an error from a network source (or a stream error in a pipeline with one), start "
        "the pipeline again after SECONDS, forever",
        "SECONDS"},
    {"restart-on-eos", 0, 0, G_OPTION_ARG_NONE, &restart_on_eos,
        "With --restart-on-error: also start again when the stream ends by itself", NULL},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No status lines on stderr", NULL},
    {"text", 't', 0, G_OPTION_ARG_NONE, &text_only,
        "Print only the text of each answer (and a newline) instead of JSON lines", NULL},
    {"prompt", 'p', 0, G_OPTION_ARG_FILENAME, &prompt,
        "Set every slowfastmllm's prompt to TEXT, verbatim (UTF-8; tabs, backslashes and quotes "
          "kept)", "TEXT"},
    {"prompt-file", 0, 0, G_OPTION_ARG_FILENAME, &prompt_file,
        "Set every slowfastmllm's prompt to the contents of FILE (UTF-8; one trailing newline "
          "dropped)", "FILE"},
    {"tokens", 0, 0, G_OPTION_ARG_NONE, &tokens,
        "Print each piece of an answer as it is generated (slowfast-token JSON lines)", NULL},
    {"progress", 0, 0, G_OPTION_ARG_NONE, &progress,
        "Print model-loading progress as slowfast-progress JSON lines (else on stderr)", NULL},
    {"version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config,
        "Run the cameras of a camera list file (INI; pipelines/cameras.example.ini), each in "
          "its own pipeline", "FILE"},
    {"camera-default", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &camera_defaults,
        "A setting for every camera of --config that neither its group nor [defaults] sets "
          "(repeatable), e.g. model=DIR", "KEY=VALUE"},
    {"mqtt", 0, 0, G_OPTION_ARG_STRING, &mqtt_url,
        "Also publish answers, alerts and status on this MQTT broker: "
          "mqtt://HOST[:PORT][/PREFIX] or mqtts://... (TLS); PREFIX defaults to slowfast", "URL"},
    {"mqtt-ca-file", 0, 0, G_OPTION_ARG_FILENAME, &mqtt_ca,
        "mqtts: the CA certificate(s) to verify the broker with (default: the system's)",
        "FILE"},
    {"mqtt-cert", 0, 0, G_OPTION_ARG_FILENAME, &mqtt_cert,
        "mqtts: a client certificate (with --mqtt-key)", "FILE"},
    {"mqtt-key", 0, 0, G_OPTION_ARG_FILENAME, &mqtt_key, "mqtts: the client certificate's key",
        "FILE"},
    {"mqtt-user", 0, 0, G_OPTION_ARG_STRING, &mqtt_user, "MQTT user name", "NAME"},
    {"mqtt-password", 0, 0, G_OPTION_ARG_STRING, &mqtt_password,
        "MQTT password (visible in ps: prefer --mqtt-credentials)", "PASSWORD"},
    {"mqtt-credentials", 0, 0, G_OPTION_ARG_FILENAME, &mqtt_credentials,
        "A file with \"username = ...\" and \"password = ...\" lines; never printed", "FILE"},
    {"mqtt-node", 0, 0, G_OPTION_ARG_STRING, &mqtt_node,
        "This machine's name in topics and the client id (default: the host name)", "NAME"},
    {"mqtt-qos", 0, 0, G_OPTION_ARG_INT, &mqtt_qos, "QoS of the messages: 0, 1 or 2 (default 1)",
        "N"},
    {"mqtt-outbox", 0, 0, G_OPTION_ARG_INT, &mqtt_outbox,
        "Messages kept while the broker is unreachable (default 10000); beyond, the oldest "
          "answers are dropped first, alerts last", "N"},
    {"mqtt-retry-max", 0, 0, G_OPTION_ARG_DOUBLE, &mqtt_retry_max,
        "Longest wait between reconnection attempts (default 30; it doubles from 1)", "SECONDS"},
    {"mqtt-keepalive", 0, 0, G_OPTION_ARG_INT, &mqtt_keepalive,
        "MQTT keep-alive (default 30)", "SECONDS"},
    {"mqtt-flush-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &mqtt_flush,
        "At exit, wait at most this long for the broker to take what is queued (default 5)",
        "SECONDS"},
    {"mqtt-discovery", 0, 0, G_OPTION_ARG_NONE, &mqtt_discovery,
        "Announce the cameras for Home Assistant MQTT discovery: an alert binary_sensor and "
          "an answer sensor each", NULL},
    {"mqtt-discovery-prefix", 0, 0, G_OPTION_ARG_STRING, &mqtt_discovery_prefix,
        "Home Assistant's discovery prefix (default homeassistant)", "PREFIX"},
    {"mqtt-device-class", 0, 0, G_OPTION_ARG_STRING, &mqtt_device_class,
        "Device class of the alert binary_sensors (default occupancy; motion, presence, ...)",
        "CLASS"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args, NULL,
        "[PIPELINE-DESCRIPTION [:: PIPELINE-DESCRIPTION ...]]"},
    {NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL},
  };
  /* The usage line comes from G_OPTION_REMAINING's description. */
  GOptionContext *context = g_option_context_new (NULL);
  GError *error = NULL;
  gint status_code = 2;
  guint i;

  /* The locale's charset for messages; arguments are not converted (check_utf8). */
  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C");  /* "2.5" seconds, whatever the language */
  g_option_context_set_summary (context, "Runs gst-launch pipelines and prints slowfastmllm's "
      "answers and alerts as JSON lines (and with --mqtt publishes them on an MQTT broker).");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "slowfast-launch: %s\n", error->message);
    g_clear_error (&error);
    g_option_context_free (context);
    return 2;
  }
  g_option_context_free (context);
  if (version) {
    gchar *gstreamer = gst_version_string ();
    printf ("slowfast-launch %s (gst-slowfast, %s)\n", VERSION, gstreamer);
    g_free (gstreamer);
    status_code = 0;
    goto out;
  }
  gst_init (NULL, NULL);
  find_plugin ();

  launcher.slots = g_ptr_array_new_with_free_func (free_slot);
  launcher.restart_delay = restart_delay;
  launcher.restart_on_eos = restart_on_eos;
  launcher.quiet = quiet;
  launcher.text_only = text_only;
  launcher.tokens = tokens;
  launcher.progress = progress;
  if (args == NULL && config == NULL) {
    fputs (USAGE, stderr);
    goto out;
  }
  if (prompt && prompt_file) {
    fputs ("slowfast-launch: give --prompt or --prompt-file, not both\n", stderr);
    goto out;
  }
  if (!check_utf8 ("--prompt", prompt))
    goto out;
  launcher.prompt = prompt_file ? read_prompt_file (prompt_file) : g_strdup (prompt);
  if (prompt_file && launcher.prompt == NULL)
    goto out;
  for (i = 0; args && args[i]; i++)
    if (!check_utf8 ("an argument", args[i]))
      goto out;
  for (i = 0; camera_defaults && camera_defaults[i]; i++)
    if (!check_utf8 ("--camera-default", camera_defaults[i]))
      goto out;
  if (mqtt_outbox < 1) {
    fprintf (stderr, "slowfast-launch: --mqtt-outbox must be at least 1\n");
    goto out;
  }
  /* Started first: the pipelines tell it their cameras as they are parsed. */
  if (mqtt_url) {
    SlowfastMqttOptions options = {
      .url = mqtt_url,.ca_file = mqtt_ca,.cert_file = mqtt_cert,.key_file = mqtt_key,
      .username = mqtt_user,.password = mqtt_password,.credentials_file = mqtt_credentials,
      .node = mqtt_node,.qos = mqtt_qos,.outbox_size = (guint) mqtt_outbox,
      .discovery = mqtt_discovery,.discovery_prefix = mqtt_discovery_prefix,
      .device_class = mqtt_device_class,.retry_max = mqtt_retry_max,
      .keepalive = mqtt_keepalive,.quiet = quiet,
    };
    launcher.mqtt = slowfast_mqtt_new (&options, &error);
    if (launcher.mqtt == NULL) {
      fprintf (stderr, "slowfast-launch: --mqtt: %s\n", error->message);
      g_clear_error (&error);
      goto out;
    }
  }
  if (config && !add_config_slots (&launcher, config, camera_defaults))
    goto out;
  if (args != NULL && !add_slots (&launcher, args)) {
    fputs (USAGE, stderr);
    goto out;
  }
  for (i = 0; i < launcher.slots->len; i++) {
    Slot *slot = g_ptr_array_index (launcher.slots, i);
    slot->pipeline = build_pipeline (slot);
    if (slot->pipeline == NULL)
      goto out;
  }

  launcher.loop = g_main_loop_new (NULL, FALSE);
  launcher.running = launcher.slots->len;
  g_unix_signal_add (SIGINT, on_signal, &launcher);
  g_unix_signal_add (SIGTERM, on_signal, &launcher);
  for (i = 0; i < launcher.slots->len; i++)
    start_session (g_ptr_array_index (launcher.slots, i));
  g_main_loop_run (launcher.loop);
  g_main_loop_unref (launcher.loop);
  status_code = launcher.exit_status;

out:
  /* Before the pipelines go: what they said last is still being delivered. */
  slowfast_mqtt_close (launcher.mqtt, status_code == 2 ? 0 : mqtt_flush);
  g_clear_pointer (&launcher.slots, g_ptr_array_unref);
  g_strfreev (args);
  g_strfreev (camera_defaults);
  g_free (config);
  g_free (prompt);
  g_free (prompt_file);
  g_free (launcher.prompt);
  g_free (mqtt_url);
  g_free (mqtt_ca);
  g_free (mqtt_cert);
  g_free (mqtt_key);
  g_free (mqtt_user);
  g_free (mqtt_password);
  g_free (mqtt_credentials);
  g_free (mqtt_node);
  g_free (mqtt_discovery_prefix);
  g_free (mqtt_device_class);
  if (status_code != 2 && !version)
    gst_deinit ();
  return status_code;
}
