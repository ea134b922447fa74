/* slowfast-launch --mqtt: publishes answers, alerts and status on an MQTT broker through
 * libmosquitto, from a thread of its own so the pipelines and the main loop never wait for the
 * network. Every call below is cheap and never blocks on the broker: it queues into a bounded
 * outbox (mqtt-outbox.h) that the thread drains while connected. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct
{
  const gchar *url;             /* mqtt://[user@]host[:port][/prefix], mqtts://... */
  const gchar *ca_file;         /* mqtts: CA certificate(s); NULL = the system's */
  const gchar *cert_file;       /* mqtts: client certificate and key, optional */
  const gchar *key_file;
  const gchar *username;
  const gchar *password;
  const gchar *credentials_file;        /* "username = ..." / "password = ..." lines */
  const gchar *node;            /* NULL = the host name */
  gint qos;                     /* 0, 1 (default) or 2 */
  guint outbox_size;            /* messages kept while the broker is unreachable */
  gboolean discovery;           /* Home Assistant MQTT discovery */
  const gchar *discovery_prefix;        /* default "homeassistant" */
  const gchar *device_class;    /* binary_sensor device class, default "occupancy" */
  gdouble retry_max;            /* longest reconnect back-off, seconds */
  gint keepalive;               /* seconds */
  gboolean quiet;               /* no informational lines on stderr (problems still are) */
} SlowfastMqttOptions;

typedef enum
{
  SLOWFAST_MQTT_ANSWER,         /* PREFIX/<source>/answer */
  SLOWFAST_MQTT_ALERT,          /* PREFIX/<source>/alert */
  SLOWFAST_MQTT_DROPPED,        /* PREFIX/<source>/dropped */
  SLOWFAST_MQTT_STATUS,         /* PREFIX/<source>/status */
} SlowfastMqttKind;

typedef struct _SlowfastMqtt SlowfastMqtt;

/* Checks the options (URL, credentials file) and starts connecting in the background; NULL and
 * `error` on bad options. A broker that cannot be reached is not an error: it is retried. */
SlowfastMqtt *slowfast_mqtt_new (const SlowfastMqttOptions * options, GError ** error);

/* The broker as printed in messages: scheme, host and port, never the credentials. */
const gchar *slowfast_mqtt_get_broker (SlowfastMqtt * mqtt);

/* Turns a source id into one topic level ('/', '+', '#' would change the topic's meaning). */
gchar *slowfast_mqtt_topic_level (const gchar * name);

/* A camera: announced for Home Assistant discovery (with --mqtt-discovery), and with `alert` its
 * retained alert state is published again on every connection. device_class NULL = the
 * option's. Call again to change the settings. */
void slowfast_mqtt_add_camera (SlowfastMqtt * mqtt, const gchar * source_id, gboolean alert,
    const gchar * device_class);

/* Queues one JSON line for PREFIX/<source>/<kind>. */
void slowfast_mqtt_publish (SlowfastMqtt * mqtt, const gchar * source_id, SlowfastMqttKind kind,
    const gchar * json);

/* Queues the retained PREFIX/<source>/alert/state ("raised" or "cleared"). */
void slowfast_mqtt_set_alert_state (SlowfastMqtt * mqtt, const gchar * source_id,
    const gchar * state);

/* Delivers what is queued (waiting at most `flush_seconds` for the broker), publishes the node's
 * "offline", disconnects and frees everything. */
void slowfast_mqtt_close (SlowfastMqtt * mqtt, gdouble flush_seconds);

/* The finished object of `builder` as one line of JSON (the builder is kept): stdout's lines and
 * the MQTT payloads are made alike. */
gchar *slowfast_json_to_string (JsonBuilder * builder);

G_END_DECLS
