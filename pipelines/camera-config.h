/* The camera list file of slowfast-launch --config and surveillance.sh --config: an INI file
 * (GKeyFile) with one [ID] group per camera and an optional [defaults] group. Errors name the
 * file, the line and the key. pipelines/cameras.example.ini shows every key. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CAMERA_CONFIG_ERROR (camera_config_error_quark ())
GQuark camera_config_error_quark (void);

typedef struct
{
  gchar *id;                    /* the group name: source id, element name, topic level */
  gchar *uri;                   /* rtsp[s]://..., test[:PATTERN], FILE or file://FILE */
  gchar *prompt;                /* the question asked about each window */
  gboolean alert;               /* the prompt is a yes/no condition */
  guint raise_after;            /* alert: consecutive yes to raise */
  guint clear_after;            /* alert: consecutive no to clear */
  gdouble sample_fps;           /* < 0: the element's default */
  guint window_frames;          /* 0: the element's default */
  guint hop_frames;
  guint max_new_tokens;
  gchar *model;
  gchar **properties;           /* other slowfastmllm properties, PROPERTY=VALUE */
  gchar *device_class;          /* Home Assistant binary_sensor device class, or NULL */
  guint line;                   /* the line of the group's header */
} CameraConfig;

void camera_config_free (CameraConfig * camera);

/* Reads the file; `defaults` (KEY=VALUE, may be NULL) come below the file's [defaults] group,
 * which comes below each camera's own keys. Returns CameraConfig in file order. */
GPtrArray *camera_config_load (const gchar * path, const gchar * const *defaults,
    GError ** error);

/* The camera's gst-launch description, one token per element of the array, the pipeline that
 * surveillance.sh builds for --source ID=URI, without the prompt: the caller sets
 * camera->prompt on the slowfastmllm element in code (the description parser would take its
 * backslashes as escapes and split it at tabs). */
gchar **camera_config_describe (const CameraConfig * camera);

G_END_DECLS
