/* The camera list file (camera-config.h). GKeyFile does the parsing but tells no line numbers,
 * so the file is also scanned here line by line: that finds the line of every group and key for
 * the error messages, and catches what GKeyFile would silently accept (a group or key given
 * twice, a key before any group). */
#include "camera-config.h"

#include <stdarg.h>
#include <string.h>

#define DEFAULTS_GROUP "defaults"
#define DEFAULT_PROMPT "Describe what the people and vehicles in this video are doing."
#define DEFAULT_RAISE_AFTER 2
#define DEFAULT_CLEAR_AFTER 2

G_DEFINE_QUARK (camera-config-error-quark, camera_config_error);

static const gchar *const camera_keys[] = {
  "uri", "prompt", "condition", "raise-after", "clear-after", "sample-fps", "window-frames",
  "hop-frames", "max-new-tokens", "model", "properties", "device-class", NULL
};

typedef struct
{
  const gchar *path;
  gchar *dir;                   /* relative paths in the file are relative to it */
  GKeyFile *file;
  GHashTable *lines;            /* "group" or "group\nkey" -> line (GUINT_TO_POINTER) */
  GHashTable *defaults;         /* --camera-default KEY -> VALUE */
} Reader;

/* Where a value came from, for the messages. */
typedef struct
{
  const gchar *group;           /* NULL: the command line */
  guint line;
} Origin;

static void
set_error (GError ** error, Reader * reader, const Origin * origin, const gchar * key,
    const gchar * format, ...) G_GNUC_PRINTF (5, 6);

static void
set_error (GError ** error, Reader * reader, const Origin * origin, const gchar * key,
    const gchar * format, ...)
{
  va_list args;
  gchar *message;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  if (origin == NULL)
    g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s: %s", reader->path, message);
  else if (origin->group == NULL)
    g_set_error (error, CAMERA_CONFIG_ERROR, 0, "--camera-default %s: %s", key, message);
  else if (key)
    g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s:%u: [%s] %s: %s", reader->path,
        origin->line, origin->group, key, message);
  else
    g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s:%u: [%s]: %s", reader->path, origin->line,
        origin->group, message);
  g_free (message);
}

static guint
line_of (Reader * reader, const gchar * group, const gchar * key)
{
  gchar *name = key ? g_strconcat (group, "\n", key, NULL) : g_strdup (group);
  guint line = GPOINTER_TO_UINT (g_hash_table_lookup (reader->lines, name));
  g_free (name);
  return line;
}

/* The line-by-line pass, with GKeyFile's own rules: leading blanks ignored, '#' comments,
 * "[group]", "key = value". */
static gboolean
scan (Reader * reader, const gchar * contents, GError ** error)
{
  gchar **lines = g_strsplit (contents, "\n", -1);
  gchar *group = NULL;
  gboolean ok = TRUE;

  for (guint i = 0; ok && lines[i]; i++) {
    const guint number = i + 1;
    gchar *line = g_strchug (lines[i]);
    Origin here = { group, number };

    g_strchomp (line);
    if (*line == '\0' || *line == '#')
      continue;
    if (*line == '[') {
      gsize len = strlen (line);
      if (len < 3 || line[len - 1] != ']') {
        g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s:%u: a group header is [NAME], not "
            "\"%s\"", reader->path, number, line);
        ok = FALSE;
        break;
      }
      g_free (group);
      group = g_strndup (line + 1, len - 2);
      if (g_hash_table_contains (reader->lines, group)) {
        g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s:%u: [%s]: the group is already "
            "defined on line %u", reader->path, number, group, line_of (reader, group, NULL));
        ok = FALSE;
        break;
      }
      g_hash_table_insert (reader->lines, g_strdup (group), GUINT_TO_POINTER (number));
    } else if (strchr (line, '=')) {
      gchar *key = g_strndup (line, strchr (line, '=') - line);
      gchar *name;

      g_strchomp (key);
      if (group == NULL) {
        g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s:%u: key \"%s\" before the first "
            "[group]", reader->path, number, key);
        ok = FALSE;
      } else if (*key == '\0') {
        set_error (error, reader, &here, NULL, "a line \"= ...\" without a key");
        ok = FALSE;
      } else if (line_of (reader, group, key)) {
        set_error (error, reader, &here, key, "given twice (first on line %u)",
            line_of (reader, group, key));
        ok = FALSE;
      } else {
        name = g_strconcat (group, "\n", key, NULL);
        g_hash_table_insert (reader->lines, name, GUINT_TO_POINTER (number));
      }
      g_free (key);
    } else {
      g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s:%u: \"%s\" is not a [group], a "
          "\"key = value\" line or a # comment", reader->path, number, line);
      ok = FALSE;
    }
  }
  g_free (group);
  g_strfreev (lines);
  return ok;
}

static gboolean
check_keys (Reader * reader, const gchar * group, GError ** error)
{
  gchar **keys = g_key_file_get_keys (reader->file, group, NULL, NULL);
  gboolean ok = TRUE;

  for (guint i = 0; ok && keys && keys[i]; i++) {
    Origin here = { group, line_of (reader, group, keys[i]) };
    if (!g_strv_contains (camera_keys, keys[i])) {
      gchar *known = g_strjoinv (", ", (gchar **) camera_keys);
      set_error (error, reader, &here, keys[i], "unknown key (the keys are %s)", known);
      g_free (known);
      ok = FALSE;
    } else if (g_str_equal (keys[i], "uri") && g_str_equal (group, DEFAULTS_GROUP)) {
      set_error (error, reader, &here, keys[i], "each camera has its own uri; not in "
          "[" DEFAULTS_GROUP "]");
      ok = FALSE;
    }
  }
  g_strfreev (keys);
  return ok;
}

/* The value of `key` for the camera `group`: its own, else [defaults], else --camera-default. */
static gchar *
lookup (Reader * reader, const gchar * group, const gchar * key, Origin * origin,
    GError ** error)
{
  const gchar *groups[] = { group, DEFAULTS_GROUP };

  for (guint i = 0; i < G_N_ELEMENTS (groups); i++) {
    if (g_key_file_has_key (reader->file, groups[i], key, NULL)) {
      GError *local = NULL;
      gchar *value = g_key_file_get_string (reader->file, groups[i], key, &local);
      origin->group = groups[i];
      origin->line = line_of (reader, groups[i], key);
      if (value == NULL) {
        set_error (error, reader, origin, key, "%s", local->message);
        g_error_free (local);
      }
      return value;
    }
  }
  if (reader->defaults && g_hash_table_contains (reader->defaults, key)) {
    origin->group = NULL;
    origin->line = 0;
    return g_strdup (g_hash_table_lookup (reader->defaults, key));
  }
  return NULL;
}

static gboolean
get_count (Reader * reader, const gchar * group, const gchar * key, guint * out,
    GError ** error)
{
  Origin origin;
  gchar *value = lookup (reader, group, key, &origin, error);
  guint64 number;

  if (value == NULL)
    return error == NULL || *error == NULL;
  g_strstrip (value);
  if (!g_ascii_string_to_unsigned (value, 10, 1, G_MAXINT, &number, NULL)) {
    set_error (error, reader, &origin, key, "\"%s\" is not a whole number of at least 1", value);
    g_free (value);
    return FALSE;
  }
  *out = (guint) number;
  g_free (value);
  return TRUE;
}

static gchar *
resolve_path (Reader * reader, const Origin * origin, const gchar * path)
{
  if (g_path_is_absolute (path) || origin->group == NULL)
    return g_canonicalize_filename (path, NULL);
  return g_canonicalize_filename (path, reader->dir);
}

static gboolean
is_id (const gchar * id)
{
  if (*id == '\0')
    return FALSE;
  for (const gchar * c = id; *c; c++)
    if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_')
      return FALSE;
  return TRUE;
}

static CameraConfig *
read_camera (Reader * reader, const gchar * group, GError ** error)
{
  CameraConfig *camera = g_new0 (CameraConfig, 1);
  Origin origin = { group, line_of (reader, group, NULL) };
  Origin where;
  gchar *value;
  GPtrArray *properties;

  camera->id = g_strdup (group);
  camera->line = origin.line;
  camera->sample_fps = -1;
  if (!is_id (group)) {
    set_error (error, reader, &origin, NULL, "a camera id has only letters, digits, '-' and '_'");
    goto failed;
  }

  /* uri */
  value = lookup (reader, group, "uri", &where, error);
  if (value == NULL) {
    if (!*error)
      set_error (error, reader, &origin, "uri", "missing: every camera needs one "
          "(rtsp://..., test:PATTERN or a file)");
    goto failed;
  }
  g_strstrip (value);
  if (g_str_has_prefix (value, "rtsp://") || g_str_has_prefix (value, "rtsps://")
      || g_str_equal (value, "test") || g_str_has_prefix (value, "test:")) {
    camera->uri = value;
  } else if (strstr (value, "://") && !g_str_has_prefix (value, "file://")) {
    set_error (error, reader, &where, "uri", "\"%s\": use rtsp://, rtsps://, test[:PATTERN], "
        "a file or file://", value);
    g_free (value);
    goto failed;
  } else {
    gchar *path = resolve_path (reader, &where,
        g_str_has_prefix (value, "file://") ? value + 7 : value);
    if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
      set_error (error, reader, &where, "uri", "no file \"%s\"", path);
      g_free (path);
      g_free (value);
      goto failed;
    }
    camera->uri = path;
    g_free (value);
  }

  /* prompt or condition: the most specific level that has either decides */
  {
    const gchar *levels[] = { group, DEFAULTS_GROUP };
    gboolean found = FALSE;

    for (guint i = 0; !found && i < G_N_ELEMENTS (levels); i++) {
      gboolean has_prompt = g_key_file_has_key (reader->file, levels[i], "prompt", NULL);
      gboolean has_condition = g_key_file_has_key (reader->file, levels[i], "condition", NULL);
      if (has_prompt && has_condition) {
        Origin both = { levels[i], line_of (reader, levels[i], "condition") };
        set_error (error, reader, &both, "condition", "give either a prompt (narration) or a "
            "condition (alerts), not both");
        goto failed;
      }
      if (has_prompt || has_condition) {
        camera->alert = has_condition;
        camera->prompt = g_key_file_get_string (reader->file, levels[i],
            has_condition ? "condition" : "prompt", NULL);
        found = TRUE;
      }
    }
    if (!found && reader->defaults) {
      const gchar *condition = g_hash_table_lookup (reader->defaults, "condition");
      const gchar *prompt = g_hash_table_lookup (reader->defaults, "prompt");
      if (condition || prompt) {
        camera->alert = condition != NULL;
        camera->prompt = g_strdup (condition ? condition : prompt);
        found = TRUE;
      }
    }
    if (!found || camera->prompt == NULL)
      camera->prompt = g_strdup (DEFAULT_PROMPT);
    if (g_strstrip (camera->prompt)[0] == '\0') {
      Origin empty = { group, line_of (reader, group, NULL) };
      set_error (error, reader, &empty, camera->alert ? "condition" : "prompt", "empty");
      goto failed;
    }
  }

  camera->raise_after = DEFAULT_RAISE_AFTER;
  camera->clear_after = DEFAULT_CLEAR_AFTER;
  if (!camera->alert) {
    /* Counts without a condition are a mistake in the camera's own group only. */
    const gchar *counts[] = { "raise-after", "clear-after" };
    for (guint i = 0; i < G_N_ELEMENTS (counts); i++) {
      if (g_key_file_has_key (reader->file, group, counts[i], NULL)) {
        Origin at = { group, line_of (reader, group, counts[i]) };
        set_error (error, reader, &at, counts[i], "only with a condition (alert mode)");
        goto failed;
      }
    }
  }
  if (!get_count (reader, group, "raise-after", &camera->raise_after, error)
      || !get_count (reader, group, "clear-after", &camera->clear_after, error)
      || !get_count (reader, group, "window-frames", &camera->window_frames, error)
      || !get_count (reader, group, "hop-frames", &camera->hop_frames, error)
      || !get_count (reader, group, "max-new-tokens", &camera->max_new_tokens, error))
    goto failed;

  value = lookup (reader, group, "sample-fps", &where, error);
  if (value) {
    gchar *end = NULL;
    gdouble fps = g_ascii_strtod (g_strstrip (value), &end);
    if (end == value || *end != '\0' || !(fps >= 0) || fps > 1000) {
      set_error (error, reader, &where, "sample-fps", "\"%s\" is not a rate in frames per "
          "second (0 to 1000; 0 = every frame)", value);
      g_free (value);
      goto failed;
    }
    camera->sample_fps = fps;
    g_free (value);
  } else if (*error) {
    goto failed;
  }

  value = lookup (reader, group, "model", &where, error);
  if (value == NULL) {
    if (!*error)
      set_error (error, reader, &origin, "model", "no model: set model = DIR in "
          "[" DEFAULTS_GROUP "] or in the camera's group");
    goto failed;
  }
  camera->model = resolve_path (reader, &where, g_strstrip (value));
  g_free (value);
  if (!g_file_test (camera->model, G_FILE_TEST_IS_DIR)) {
    set_error (error, reader, &where, "model", "no directory \"%s\"", camera->model);
    goto failed;
  }

  value = lookup (reader, group, "device-class", &where, error);
  if (value) {
    g_strstrip (value);
    if (!is_id (value)) {
      set_error (error, reader, &where, "device-class", "\"%s\" is not a Home Assistant "
          "device class (occupancy, motion, presence, ...)", value);
      g_free (value);
      goto failed;
    }
    camera->device_class = value;
  } else if (*error) {
    goto failed;
  }

  /* properties: --camera-default's, then [defaults]', then the camera's: later ones win. */
  properties = g_ptr_array_new ();
  {
    const gchar *levels[] = { NULL, DEFAULTS_GROUP, group };
    for (guint i = 0; i < G_N_ELEMENTS (levels); i++) {
      gchar **list = NULL;
      Origin at = { levels[i], levels[i] ? line_of (reader, levels[i], "properties") : 0 };

      if (levels[i] == NULL) {
        const gchar *text = reader->defaults ? g_hash_table_lookup (reader->defaults,
            "properties") : NULL;
        if (text)
          list = g_strsplit (text, ";", -1);
      } else if (g_key_file_has_key (reader->file, levels[i], "properties", NULL)) {
        list = g_key_file_get_string_list (reader->file, levels[i], "properties", NULL, NULL);
      }
      for (guint k = 0; list && list[k]; k++) {
        gchar *item = g_strstrip (list[k]);
        if (*item == '\0')
          continue;
        if (!strchr (item, '=') || item[0] == '=') {
          set_error (error, reader, &at, "properties", "\"%s\" is not PROPERTY=VALUE "
              "(separate several with ';')", item);
          g_strfreev (list);
          g_ptr_array_add (properties, NULL);
          g_strfreev ((gchar **) g_ptr_array_free (properties, FALSE));
          goto failed;
        }
        g_ptr_array_add (properties, g_strdup (item));
      }
      g_strfreev (list);
    }
  }
  g_ptr_array_add (properties, NULL);
  camera->properties = (gchar **) g_ptr_array_free (properties, FALSE);
  return camera;

failed:
  camera_config_free (camera);
  return NULL;
}

void
camera_config_free (CameraConfig * camera)
{
  if (camera == NULL)
    return;
  g_free (camera->id);
  g_free (camera->uri);
  g_free (camera->prompt);
  g_free (camera->model);
  g_strfreev (camera->properties);
  g_free (camera->device_class);
  g_free (camera);
}

GPtrArray *
camera_config_load (const gchar * path, const gchar * const *defaults, GError ** error)
{
  Reader reader = { 0 };
  gchar *contents = NULL;
  gsize length;
  GError *local = NULL;
  GPtrArray *cameras = NULL;
  gchar **groups = NULL;

  reader.path = path;
  reader.lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  reader.defaults = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; defaults && defaults[i]; i++) {
    const gchar *eq = strchr (defaults[i], '=');
    gchar *key;
    if (eq == NULL || eq == defaults[i]) {
      g_set_error (error, CAMERA_CONFIG_ERROR, 0, "--camera-default needs KEY=VALUE, not "
          "\"%s\"", defaults[i]);
      goto done;
    }
    key = g_strndup (defaults[i], eq - defaults[i]);
    if (!g_strv_contains (camera_keys, key) || g_str_equal (key, "uri")) {
      g_set_error (error, CAMERA_CONFIG_ERROR, 0, "--camera-default %s: unknown key", key);
      g_free (key);
      goto done;
    }
    g_hash_table_insert (reader.defaults, key, g_strdup (eq + 1));
  }
  if (!g_file_get_contents (path, &contents, &length, &local)) {
    g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s", local->message);
    g_error_free (local);
    goto done;
  }
  {
    gchar *absolute = g_canonicalize_filename (path, NULL);
    reader.dir = g_path_get_dirname (absolute);
    g_free (absolute);
  }
  if (!scan (&reader, contents, error))
    goto done;
  reader.file = g_key_file_new ();
  if (!g_key_file_load_from_data (reader.file, contents, length, G_KEY_FILE_NONE, &local)) {
    /* scan() accepted every line: what is left is, e.g., text that is not UTF-8. */
    g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s: %s", path, local->message);
    g_error_free (local);
    goto done;
  }
  groups = g_key_file_get_groups (reader.file, NULL);
  cameras = g_ptr_array_new_with_free_func ((GDestroyNotify) camera_config_free);
  for (guint i = 0; groups[i]; i++) {
    CameraConfig *camera;
    if (!check_keys (&reader, groups[i], &local)) {
      g_propagate_error (error, local);
      g_clear_pointer (&cameras, g_ptr_array_unref);
      goto done;
    }
    if (g_str_equal (groups[i], DEFAULTS_GROUP))
      continue;
    /* read_camera tests *error: it needs a real GError location. */
    camera = read_camera (&reader, groups[i], &local);
    if (camera == NULL) {
      g_propagate_error (error, local);
      g_clear_pointer (&cameras, g_ptr_array_unref);
      goto done;
    }
    g_ptr_array_add (cameras, camera);
  }
  if (cameras->len == 0) {
    g_set_error (error, CAMERA_CONFIG_ERROR, 0, "%s: no cameras (one [ID] group per camera, "
        "with at least uri = ...)", path);
    g_clear_pointer (&cameras, g_ptr_array_unref);
  }

done:
  g_strfreev (groups);
  if (reader.file)
    g_key_file_free (reader.file);
  g_hash_table_unref (reader.lines);
  g_hash_table_unref (reader.defaults);
  g_free (reader.dir);
  g_free (contents);
  return cameras;
}

gchar **
camera_config_describe (const CameraConfig * camera)
{
  GPtrArray *argv = g_ptr_array_new ();
  const gchar *uri = camera->uri;

#define ADD(...) g_ptr_array_add (argv, g_strdup_printf (__VA_ARGS__))
  if (g_str_has_prefix (uri, "rtsp://") || g_str_has_prefix (uri, "rtsps://")) {
    ADD ("rtspsrc");
    ADD ("name=%s-src", camera->id);
    ADD ("location=%s", uri);
    ADD ("protocols=tcp");
    ADD ("latency=200");
    ADD ("%s-src.", camera->id);
    ADD ("!");
    ADD ("application/x-rtp,media=video");
    ADD ("!");
    ADD ("decodebin");
  } else if (g_str_equal (uri, "test") || g_str_has_prefix (uri, "test:")) {
    const gchar *pattern = uri[4] == ':' && uri[5] ? uri + 5 : "ball";
    ADD ("videotestsrc");
    ADD ("is-live=true");
    ADD ("pattern=%s", pattern);
    ADD ("!");
    ADD ("video/x-raw,width=320,height=240,framerate=10/1");
  } else {
    ADD ("filesrc");
    ADD ("location=%s", uri);
    ADD ("!");
    ADD ("decodebin");
  }
  ADD ("!");
  ADD ("videoconvert");
  ADD ("!");
  ADD ("slowfastmllm");
  ADD ("name=%s", camera->id);
  ADD ("source-id=%s", camera->id);
  ADD ("model-location=%s", camera->model);
  /* No prompt here: slowfast-launch sets it in code, so it arrives verbatim. */
  if (camera->alert) {
    ADD ("alert-raise-after=%u", camera->raise_after);
    ADD ("alert-clear-after=%u", camera->clear_after);
  }
  if (camera->window_frames)
    ADD ("window-frames=%u", camera->window_frames);
  if (camera->hop_frames)
    ADD ("hop-frames=%u", camera->hop_frames);
  if (camera->sample_fps >= 0) {
    gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
    ADD ("sample-fps=%s", g_ascii_dtostr (buf, sizeof buf, camera->sample_fps));
  }
  if (camera->max_new_tokens)
    ADD ("max-new-tokens=%u", camera->max_new_tokens);
  for (guint i = 0; camera->properties && camera->properties[i]; i++)
    ADD ("%s", camera->properties[i]);
  /* Only the answers matter: the video ends in a fakesink, text_src stays unlinked. */
  ADD ("!");
  ADD ("fakesink");
  ADD ("sync=false");
  ADD ("async=false");
#undef ADD
  g_ptr_array_add (argv, NULL);
  return (gchar **) g_ptr_array_free (argv, FALSE);
}
