/* The camera list file (pipelines/camera-config.c): the sample pipelines/cameras.example.ini
 * parses into the settings it shows and the pipeline surveillance.sh would build; precedence is
 * camera > [defaults] > --camera-default; every malformed file is rejected with a message that
 * names the file, the line and the key.
 *   test_camera_config SOURCE_ROOT */
#include "camera-config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(condition, ...) do {                                            \
    if (!(condition)) {                                                       \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #condition);   \
      fprintf (stderr, __VA_ARGS__);                                          \
      fputc ('\n', stderr);                                                   \
      exit (1);                                                               \
    }                                                                         \
  } while (0)

static gchar *work;             /* a temporary directory: the model dir and the test files */
static gchar *model;

static CameraConfig *
camera_named (GPtrArray * cameras, const gchar * id)
{
  for (guint i = 0; i < cameras->len; i++) {
    CameraConfig *c = g_ptr_array_index (cameras, i);
    if (g_str_equal (c->id, id))
      return c;
  }
  CHECK (FALSE, "no camera %s", id);
  return NULL;
}

static gboolean
has_token (gchar ** argv, const gchar * token)
{
  return g_strv_contains ((const gchar * const *) argv, token);
}

static gchar *
write_file (const gchar * name, const gchar * contents)
{
  gchar *path = g_build_filename (work, name, NULL);
  CHECK (g_file_set_contents (path, contents, -1, NULL), "%s", path);
  return path;
}

/* The file must be rejected with "PATH:LINE:" and each of the words in the message. */
static void
expect_error (const gchar * contents, guint line, const gchar * const *words)
{
  static guint n;
  gchar *name = g_strdup_printf ("bad%u.ini", ++n);
  gchar *path = write_file (name, contents);
  const gchar *defaults[] = { NULL, NULL };
  gchar *model_default = g_strdup_printf ("model=%s", model);
  GError *error = NULL;
  GPtrArray *cameras;
  gchar *where = g_strdup_printf ("%s:%u:", path, line);

  defaults[0] = model_default;
  cameras = camera_config_load (path, defaults, &error);
  CHECK (cameras == NULL, "%s was accepted:\n%s", name, contents);
  CHECK (error != NULL, "no error");
  CHECK (line == 0 || g_str_has_prefix (error->message, where), "%s: \"%s\" does not start "
      "with \"%s\"", name, error->message, where);
  for (guint i = 0; words && words[i]; i++)
    CHECK (strstr (error->message, words[i]), "%s: \"%s\" does not name \"%s\"", name,
        error->message, words[i]);
  printf ("rejected as expected: %s\n", error->message);
  g_error_free (error);
  g_free (where);
  g_free (model_default);
  g_free (path);
  g_free (name);
}

#define WORDS(...) ((const gchar * const[]) { __VA_ARGS__, NULL })

int
main (int argc, char **argv)
{
  gchar *sample, *model_default, *clip, *path;
  const gchar *defaults[3] = { NULL, NULL, NULL };
  GError *error = NULL;
  GPtrArray *cameras;
  CameraConfig *c;
  gchar **tokens;

  CHECK (argc == 2, "usage: test_camera_config SOURCE_ROOT");
  work = g_dir_make_tmp ("camera-config-XXXXXX", NULL);
  model = g_build_filename (work, "model", NULL);
  g_mkdir (model, 0755);
  model_default = g_strdup_printf ("model=%s", model);

  /* The sample: its model line is commented out, the command line gives one. */
  sample = g_build_filename (argv[1], "pipelines", "cameras.example.ini", NULL);
  defaults[0] = model_default;
  defaults[1] = "max-new-tokens=99";    /* below [defaults]' 32: must not win */
  cameras = camera_config_load (sample, defaults, &error);
  CHECK (cameras != NULL, "%s", error->message);
  CHECK (cameras->len == 3, "%u cameras", cameras->len);
  CHECK (g_str_equal (((CameraConfig *) g_ptr_array_index (cameras, 0))->id, "door"),
      "file order");

  c = camera_named (cameras, "door");
  CHECK (g_str_equal (c->uri, "rtsp://192.168.1.20:554/stream1"), "%s", c->uri);
  CHECK (c->alert && g_str_equal (c->prompt, "Is there a person at the door? Answer yes or no."),
      "%s", c->prompt);
  CHECK (c->raise_after == 2 && c->clear_after == 3, "%u %u", c->raise_after, c->clear_after);
  CHECK (c->sample_fps == 4 && c->window_frames == 64 && c->hop_frames == 16, "window");
  CHECK (c->max_new_tokens == 32, "%u", c->max_new_tokens);
  CHECK (g_str_equal (c->device_class, "occupancy"), "%s", c->device_class);
  CHECK (g_str_equal (c->model, model), "%s", c->model);
  tokens = camera_config_describe (c);
  {
    gchar *joined = g_strjoinv (" ", tokens);
    printf ("door: %s\n", joined);
    g_free (joined);
  }
  CHECK (g_str_equal (tokens[0], "rtspsrc"), "%s", tokens[0]);
  CHECK (has_token (tokens, "location=rtsp://192.168.1.20:554/stream1"), "location");
  CHECK (has_token (tokens, "protocols=tcp") && has_token (tokens, "door-src."), "rtsp");
  CHECK (has_token (tokens, "slowfastmllm") && has_token (tokens, "name=door")
      && has_token (tokens, "source-id=door"), "element");
  /* The prompt is set in code by slowfast-launch, never parsed from the description. */
  for (guint t = 0; tokens[t]; t++)
    CHECK (!g_str_has_prefix (tokens[t], "prompt="), "a prompt token: %s", tokens[t]);
  CHECK (has_token (tokens, "alert-raise-after=2") && has_token (tokens, "alert-clear-after=3"),
      "alert props");
  CHECK (has_token (tokens, "window-frames=64") && has_token (tokens, "hop-frames=16")
      && has_token (tokens, "sample-fps=4") && has_token (tokens, "max-new-tokens=32"), "window");
  CHECK (has_token (tokens, "temperature=0") && has_token (tokens, "leaky=auto"), "properties");
  CHECK (g_str_equal (tokens[g_strv_length (tokens) - 3], "fakesink"), "ends in a fakesink");
  g_strfreev (tokens);

  c = camera_named (cameras, "yard");
  CHECK (!c->alert && g_str_equal (c->prompt, "Describe what the people and vehicles in this "
          "video are doing."), "%s", c->prompt);
  CHECK (c->hop_frames == 8, "the camera's hop wins over [defaults]: %u", c->hop_frames);
  CHECK (c->device_class == NULL, "no device class");
  tokens = camera_config_describe (c);
  CHECK (!has_token (tokens, "alert-raise-after=2"), "narration has no alert");
  CHECK (has_token (tokens, "hop-frames=8"), "hop");
  g_strfreev (tokens);

  c = camera_named (cameras, "test-ball");
  CHECK (c->alert && c->raise_after == 1 && c->clear_after == 1, "test-ball alert");
  CHECK (g_str_equal (c->device_class, "motion"), "%s", c->device_class);
  tokens = camera_config_describe (c);
  CHECK (g_str_equal (tokens[0], "videotestsrc") && has_token (tokens, "pattern=ball")
      && has_token (tokens, "is-live=true"), "test source");
  g_strfreev (tokens);
  g_ptr_array_unref (cameras);

  /* Files relative to the camera file; --camera-default below [defaults]; built-in defaults. */
  clip = write_file ("clip.mkv", "not really a video");
  path = write_file ("ok.ini",
      "# a comment\n"
      "[defaults]\n"
      "  window-frames = 8\n"
      "[cam_1]\n"
      "uri = clip.mkv\n"
      "[cam-2]\n"
      "uri = file://clip.mkv\n"
      "condition = Is it raining?\n"
      "window-frames = 12\n");
  defaults[1] = "window-frames=99";
  defaults[2] = NULL;
  cameras = camera_config_load (path, defaults, &error);
  CHECK (cameras != NULL, "%s", error->message);
  c = camera_named (cameras, "cam_1");
  CHECK (g_str_equal (c->uri, clip), "%s", c->uri);
  CHECK (c->window_frames == 8, "%u", c->window_frames);
  CHECK (!c->alert && g_str_has_prefix (c->prompt, "Describe"), "default prompt");
  CHECK (c->sample_fps < 0 && c->hop_frames == 0, "element defaults left alone");
  tokens = camera_config_describe (c);
  CHECK (g_str_equal (tokens[0], "filesrc") && has_token (tokens, "decodebin"), "file source");
  g_strfreev (tokens);
  c = camera_named (cameras, "cam-2");
  CHECK (c->alert && c->raise_after == 2 && c->clear_after == 2, "default counts");
  CHECK (c->window_frames == 12, "%u", c->window_frames);
  g_ptr_array_unref (cameras);
  g_free (path);

  /* Malformed files: the message starts with FILE:LINE: and names the key. */
  expect_error ("[door]\nuri = test\nrais-after = 2\n", 3, WORDS ("[door]", "rais-after",
          "unknown key"));
  expect_error ("[door]\nuri = test\ncondition = Yes?\n\nraise-after = two\n", 5,
      WORDS ("raise-after", "\"two\""));
  expect_error ("[door]\nuri = test\ncondition = Yes?\nclear-after = 0\n", 4,
      WORDS ("clear-after"));
  expect_error ("[door]\nprompt = What happens?\n", 1, WORDS ("[door]", "uri", "missing"));
  expect_error ("[door]\nuri = test\nthis line has no equals sign\n", 3, WORDS ("this line"));
  expect_error ("[door]\nuri = test\n[yard]\nuri = test\n[door]\nuri = test\n", 5,
      WORDS ("[door]", "line 1"));
  expect_error ("[door]\nuri = test\nprompt = a\nprompt = b\n", 4, WORDS ("prompt", "twice",
          "line 3"));
  expect_error ("[door]\nuri = test\nprompt = a\ncondition = b?\n", 4, WORDS ("condition",
          "not both"));
  expect_error ("[door]\nuri = test\nraise-after = 2\n", 3, WORDS ("raise-after",
          "condition"));
  expect_error ("# cameras\n[front door]\nuri = test\n", 2, WORDS ("[front door]", "id"));
  expect_error ("[door]\nuri = missing.mkv\n", 2, WORDS ("uri", "missing.mkv"));
  expect_error ("[door]\nuri = http://example.com/a.mp4\n", 2, WORDS ("uri", "rtsp://"));
  expect_error ("[door]\nuri = test\nsample-fps = fast\n", 3, WORDS ("sample-fps", "fast"));
  expect_error ("[door]\nuri = test\nproperties = temperature=0;leaky\n", 3,
      WORDS ("properties", "leaky"));
  expect_error ("uri = test\n[door]\n", 1, WORDS ("uri", "before"));
  expect_error ("[defaults]\nuri = test\n[door]\nuri = test\n", 2, WORDS ("[defaults]", "uri"));
  expect_error ("[defaults]\nwindow-frames = 0\n[door]\nuri = test\n", 2,
      WORDS ("[defaults]", "window-frames"));
  expect_error ("[door\nuri = test\n", 1, WORDS ("[door"));
  expect_error ("[door]\nuri = test\nmodel = no/such/dir\n", 3, WORDS ("model", "no/such/dir"));
  expect_error ("# nothing but defaults\n[defaults]\nhop-frames = 4\n", 0,
      WORDS ("no cameras"));

  /* No model anywhere: the camera's group line, key "model". */
  path = write_file ("nomodel.ini", "[door]\nuri = test\n");
  cameras = camera_config_load (path, NULL, &error);
  CHECK (cameras == NULL && strstr (error->message, ":1: [door] model:"), "%s",
      error ? error->message : "accepted");
  g_clear_error (&error);
  /* A bad --camera-default. */
  defaults[0] = "colour=red";
  defaults[1] = NULL;
  cameras = camera_config_load (path, defaults, &error);
  CHECK (cameras == NULL && strstr (error->message, "--camera-default colour"), "%s",
      error ? error->message : "accepted");
  g_clear_error (&error);
  /* A missing file. */
  cameras = camera_config_load ("/nonexistent/cameras.ini", NULL, &error);
  CHECK (cameras == NULL && strstr (error->message, "/nonexistent/cameras.ini"), "%s",
      error ? error->message : "accepted");
  g_clear_error (&error);
  g_free (path);
  g_free (clip);
  g_free (sample);
  g_free (model_default);

  {
    gchar *command = g_strdup_printf ("rm -rf '%s'", work);
    CHECK (system (command) == 0, "cleanup");
    g_free (command);
  }
  printf ("ok\n");
  return 0;
}
