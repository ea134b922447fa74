/* slowfast-launch --mqtt (mqtt-publish.h).
 *
 * One thread owns the libmosquitto client and runs its network loop (mosquitto_loop with a short
 * timeout); the main loop only appends to the outbox under a mutex. A new client is made for
 * every connection attempt: messages handed to the library but not yet acknowledged are tracked
 * here by message id and put back into the outbox when the connection drops, so the bounded
 * outbox is the only queue and nothing sits in the library's own unbounded one. The session is
 * persistent (clean session off, a fixed client id from the node name). */
#include "mqtt-publish.h"
#include "mqtt-outbox.h"

#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <mosquitto.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_PREFIX "slowfast-launch: mqtt: "
/* Messages handed to libmosquitto and not yet acknowledged: the library's default in-flight
 * window for MQTT 3.1.1. */
#define MAX_INFLIGHT 20
#define LOOP_TIMEOUT_MS 50
#define CONNACK_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define CLOSE_GRACE_US (2 * G_USEC_PER_SEC)

typedef struct
{
  gchar *id;                    /* the topic level */
  gboolean alert;
  gchar *device_class;
  gchar *state;                 /* last alert state queued, NULL before the first */
  gboolean announced;           /* discovery config sent on this connection */
} Camera;

struct _SlowfastMqtt
{
  /* Settings, fixed after slowfast_mqtt_new. */
  gchar *host;
  gint port;
  gboolean tls;
  gchar *prefix;
  gchar *broker;
  gchar *node;
  gchar *client_id;
  gchar *username;
  gchar *password;
  gchar *ca_file;
  gchar *cert_file;
  gchar *key_file;
  gint qos;
  gint keepalive;
  gboolean discovery;
  gchar *discovery_prefix;
  gchar *device_class;
  gdouble retry_max;
  gboolean quiet;
  gchar *status_topic;          /* PREFIX/<node>/status: online/offline, the last will */
  gchar *outbox_topic;          /* PREFIX/<node>/outbox: overflow reports */

  /* Shared with the main thread, under `lock`. */
  GMutex lock;
  GCond cond;
  MqttOutbox *outbox;
  GHashTable *cameras;          /* id -> Camera */
  GPtrArray *camera_order;      /* Camera, in the order added */
  gboolean closing;
  gint64 flush_deadline;        /* monotonic us, when closing */
  gboolean overflow_logged;     /* this outage's first drop was logged */
  gboolean finished;            /* the thread is done */
  gboolean unannounced;         /* a camera was added or changed since the last announcement */
  GThread *thread;

  /* The thread's own. */
  struct mosquitto *mosq;
  GHashTable *inflight;         /* mid -> MqttMessage */
  GHashTable *early_acks;       /* mids acknowledged before mosquitto_publish returned */
  GQueue control;               /* sent first on each connection: online, reports, discovery */
  gint connack;                 /* -1 until the CONNACK */
  gboolean connected;
  gboolean shut_down;           /* disconnected on purpose: the thread ends */
  gint failures;                /* connection attempts failed in a row */
  gchar *last_failure;
  guint64 reported_dropped[MQTT_PRIORITY_COUNT];
};

static void
log_line (SlowfastMqtt * mqtt, gboolean problem, const gchar * format, ...)
G_GNUC_PRINTF (3, 4);

static void
log_line (SlowfastMqtt * mqtt, gboolean problem, const gchar * format, ...)
{
  va_list args;
  gchar *text;

  if (mqtt->quiet && !problem)
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  /* One write per line: the main thread writes to stderr too. */
  fprintf (stderr, LOG_PREFIX "%s\n", text);
  g_free (text);
}

gchar *
slowfast_mqtt_topic_level (const gchar * name)
{
  gchar *level;

  if (name == NULL || *name == '\0')
    return g_strdup ("_");
  level = g_utf8_make_valid (name, -1);
  g_strdelimit (level, "/+#", '_');
  return level;
}

/* Home Assistant's node and object ids: letters, digits, '_' and '-'. */
static gchar *
discovery_id (const gchar * name)
{
  gchar *id = g_strdup (name);
  g_strcanon (id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", '_');
  return id;
}

/* ------------------------------------------------------------------------------------------ */
/* Options */

static gboolean
read_credentials (SlowfastMqtt * mqtt, const gchar * path, GError ** error)
{
  gchar *contents = NULL;
  gchar **lines;
  GStatBuf st;
  gboolean ok = TRUE;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return FALSE;
  if (g_stat (path, &st) == 0 && (st.st_mode & 0077))
    log_line (mqtt, TRUE, "warning: %s can be read by other users (chmod 600 it)", path);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; ok && lines[i]; i++) {
    gchar *line = g_strstrip (lines[i]);
    gchar *eq = strchr (line, '=');
    gchar *key, *value;

    if (*line == '\0' || *line == '#')
      continue;
    if (eq == NULL) {
      /* The line is not quoted: it may hold the password. */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "%s:%u: expected \"username = ...\" or \"password = ...\"", path, i + 1);
      ok = FALSE;
      break;
    }
    *eq = '\0';
    key = g_strstrip (line);
    value = g_strstrip (eq + 1);
    if (g_str_equal (key, "username") || g_str_equal (key, "user")) {
      g_free (mqtt->username);
      mqtt->username = g_strdup (value);
    } else if (g_str_equal (key, "password")) {
      g_free (mqtt->password);
      mqtt->password = g_strdup (value);
    } else {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "%s:%u: unknown key \"%s\" (username, password)", path, i + 1, key);
      ok = FALSE;
    }
  }
  /* Don't leave the password lying around in freed memory longer than needed. */
  memset (contents, 0, strlen (contents));
  g_free (contents);
  g_strfreev (lines);
  return ok;
}

static gboolean
parse_url (SlowfastMqtt * mqtt, const gchar * url, GError ** error)
{
  GUri *uri;
  const gchar *scheme, *path;
  gchar *prefix;

  uri = g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_PATH, error);
  if (uri == NULL) {
    g_prefix_error (error, "bad broker URL: ");
    return FALSE;
  }
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "mqtt") == 0 || g_ascii_strcasecmp (scheme, "tcp") == 0) {
    mqtt->tls = FALSE;
  } else if (g_ascii_strcasecmp (scheme, "mqtts") == 0 || g_ascii_strcasecmp (scheme, "ssl") == 0) {
    mqtt->tls = TRUE;
  } else {
    g_set_error (error, G_URI_ERROR, G_URI_ERROR_BAD_SCHEME,
        "bad broker URL: the scheme must be mqtt:// or mqtts://, not %s://", scheme);
    g_uri_unref (uri);
    return FALSE;
  }
  if (g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0') {
    g_set_error (error, G_URI_ERROR, G_URI_ERROR_BAD_HOST, "bad broker URL: no host");
    g_uri_unref (uri);
    return FALSE;
  }
  mqtt->host = g_strdup (g_uri_get_host (uri));
  mqtt->port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : (mqtt->tls ? 8883 : 1883);
  if (g_uri_get_user (uri))
    mqtt->username = g_uri_unescape_string (g_uri_get_user (uri), NULL);
  if (g_uri_get_password (uri)) {
    mqtt->password = g_uri_unescape_string (g_uri_get_password (uri), NULL);
    log_line (mqtt, TRUE, "warning: a password in the URL is visible to every user of this "
        "machine (ps); use --mqtt-credentials FILE");
  }
  path = g_uri_get_path (uri);
  prefix = g_uri_unescape_string (path ? path : "", NULL);
  if (prefix == NULL)
    prefix = g_strdup ("");
  /* "/site/a/" -> "site/a" */
  g_strstrip (prefix);
  while (prefix[0] == '/')
    memmove (prefix, prefix + 1, strlen (prefix));
  while (*prefix && prefix[strlen (prefix) - 1] == '/')
    prefix[strlen (prefix) - 1] = '\0';
  if (strpbrk (prefix, "+#")) {
    g_set_error (error, G_URI_ERROR, G_URI_ERROR_BAD_PATH,
        "bad broker URL: the topic prefix \"%s\" contains a wildcard (+ or #)", prefix);
    g_free (prefix);
    g_uri_unref (uri);
    return FALSE;
  }
  if (*prefix == '\0') {
    g_free (prefix);
    prefix = g_strdup ("slowfast");
  }
  mqtt->prefix = prefix;
  /* An IPv6 address is bracketed, as in the URL. */
  mqtt->broker = g_strdup_printf (strchr (mqtt->host, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
      mqtt->tls ? "mqtts" : "mqtt", mqtt->host, mqtt->port);
  g_uri_unref (uri);
  return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* The thread: callbacks (they run inside mosquitto_loop, in the thread) */

static void
on_connect (struct mosquitto *mosq, void *user_data, int rc)
{
  SlowfastMqtt *mqtt = user_data;
  (void) mosq;
  mqtt->connack = rc;
  mqtt->connected = rc == 0;
}

static void
on_disconnect (struct mosquitto *mosq, void *user_data, int rc)
{
  SlowfastMqtt *mqtt = user_data;
  (void) mosq;
  (void) rc;
  mqtt->connected = FALSE;
}

static void
on_publish (struct mosquitto *mosq, void *user_data, int mid)
{
  SlowfastMqtt *mqtt = user_data;
  (void) mosq;
  /* QoS 0 can be "published" inside mosquitto_publish, before the id is in the table. */
  if (!g_hash_table_remove (mqtt->inflight, GINT_TO_POINTER (mid)))
    g_hash_table_add (mqtt->early_acks, GINT_TO_POINTER (mid));
}

/* ------------------------------------------------------------------------------------------ */
/* The thread: messages */

static gchar *
topic_for (SlowfastMqtt * mqtt, const gchar * level, const gchar * suffix)
{
  return g_strconcat (mqtt->prefix, "/", level, "/", suffix, NULL);
}

gchar *
slowfast_json_to_string (JsonBuilder * builder)
{
  JsonGenerator *generator = json_generator_new ();
  JsonNode *root = json_builder_get_root (builder);
  gchar *text;

  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  json_node_unref (root);
  g_object_unref (generator);
  return text;
}

static void
add_member (JsonBuilder * builder, const gchar * name, const gchar * value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

static void
add_availability (SlowfastMqtt * mqtt, JsonBuilder * b, const gchar * id)
{
  gchar *device_id = g_strdup_printf ("slowfast_%s_%s", mqtt->node, id);

  add_member (b, "availability_topic", mqtt->status_topic);
  add_member (b, "payload_available", "online");
  add_member (b, "payload_not_available", "offline");
  json_builder_set_member_name (b, "device");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "identifiers");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, device_id);
  json_builder_end_array (b);
  add_member (b, "name", id);
  add_member (b, "manufacturer", "gst-slowfast");
  add_member (b, "model", "slowfastmllm");
  json_builder_end_object (b);
  g_free (device_id);
}

static void
queue_control (SlowfastMqtt * mqtt, const gchar * topic, const gchar * payload, gboolean retain)
{
  MqttMessage *message = mqtt_message_new (MQTT_PRIORITY_ALERT, topic, payload,
      MAX (mqtt->qos, 1), retain);
  message->control = TRUE;
  g_queue_push_tail (&mqtt->control, message);
}

/* Starts a discovery entity's config: its name, ids and state topic (CAMERA/STATE_LEVEL). */
static JsonBuilder *
begin_entity (SlowfastMqtt * mqtt, Camera * camera, const gchar * node_id, const gchar * object,
    const gchar * name, const gchar * state_level, gchar ** state_topic)
{
  JsonBuilder *b = json_builder_new ();
  gchar *unique = g_strdup_printf ("slowfast_%s_%s_%s", node_id, object, name);

  json_builder_begin_object (b);
  add_member (b, "name", name);
  add_member (b, "unique_id", unique);
  add_member (b, "object_id", unique);
  *state_topic = topic_for (mqtt, camera->id, state_level);
  add_member (b, "state_topic", *state_topic);
  g_free (unique);
  return b;
}

/* Ends the config and queues it, retained, on PREFIX/COMPONENT/NODE/OBJECT_NAME/config. */
static void
finish_entity (SlowfastMqtt * mqtt, Camera * camera, JsonBuilder * b, const gchar * component,
    const gchar * node_id, const gchar * object, const gchar * name, gchar * state_topic)
{
  gchar *payload, *topic;

  add_availability (mqtt, b, camera->id);
  json_builder_end_object (b);
  payload = slowfast_json_to_string (b);
  topic = g_strdup_printf ("%s/%s/%s/%s_%s/config", mqtt->discovery_prefix, component, node_id,
      object, name);
  queue_control (mqtt, topic, payload, TRUE);
  g_free (topic);
  g_free (payload);
  g_free (state_topic);
  g_object_unref (b);
}

/* Home Assistant MQTT discovery: a binary_sensor for the alert, a sensor for the last answer. */
static void
queue_discovery (SlowfastMqtt * mqtt, Camera * camera)
{
  gchar *node_id = discovery_id (mqtt->node);
  gchar *object = discovery_id (camera->id);
  JsonBuilder *b;
  gchar *state_topic;

  if (camera->alert) {
    b = begin_entity (mqtt, camera, node_id, object, "alert", "alert/state", &state_topic);
    add_member (b, "payload_on", "raised");
    add_member (b, "payload_off", "cleared");
    add_member (b, "device_class", camera->device_class ? camera->device_class
        : mqtt->device_class);
    finish_entity (mqtt, camera, b, "binary_sensor", node_id, object, "alert", state_topic);
  }

  b = begin_entity (mqtt, camera, node_id, object, "answer", "answer", &state_topic);
  /* A sensor's state holds at most 255 characters; the whole answer is in the attributes. */
  add_member (b, "value_template", "{{ value_json.text[:255] }}");
  add_member (b, "json_attributes_topic", state_topic);
  add_member (b, "icon", "mdi:cctv");
  finish_entity (mqtt, camera, b, "sensor", node_id, object, "answer", state_topic);
  g_free (node_id);
  g_free (object);
}

static gboolean
inflight_has_topic (SlowfastMqtt * mqtt, const gchar * topic)
{
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, mqtt->inflight);
  while (g_hash_table_iter_next (&it, NULL, &value))
    if (g_str_equal (((MqttMessage *) value)->topic, topic))
      return TRUE;
  return FALSE;
}

/* Right after the CONNACK: what every connection starts with. */
static void
on_connected (SlowfastMqtt * mqtt)
{
  guint64 delta[MQTT_PRIORITY_COUNT], total = 0;
  guint queued, i;

  g_mutex_lock (&mqtt->lock);
  for (i = 0; i < MQTT_PRIORITY_COUNT; i++) {
    delta[i] = mqtt_outbox_get_dropped (mqtt->outbox, i) - mqtt->reported_dropped[i];
    mqtt->reported_dropped[i] += delta[i];
    total += delta[i];
  }
  queued = mqtt_outbox_get_length (mqtt->outbox);
  mqtt->overflow_logged = FALSE;
  g_mutex_unlock (&mqtt->lock);

  if (mqtt->failures > 0)
    log_line (mqtt, TRUE, "connected to %s after %d failed attempt%s; %u message%s queued",
        mqtt->broker, mqtt->failures, mqtt->failures == 1 ? "" : "s", queued,
        queued == 1 ? "" : "s");
  else
    log_line (mqtt, FALSE, "connected to %s as %s (topics %s/...)", mqtt->broker, mqtt->node,
        mqtt->prefix);
  mqtt->failures = 0;
  g_clear_pointer (&mqtt->last_failure, g_free);

  queue_control (mqtt, mqtt->status_topic, "online", TRUE);
  if (total > 0) {
    JsonBuilder *b = json_builder_new ();
    gchar *payload;

    log_line (mqtt, TRUE, "the outbox (%u messages) overflowed while %s was unreachable: "
        "%" G_GUINT64_FORMAT " dropped (%" G_GUINT64_FORMAT " answers, %" G_GUINT64_FORMAT
        " alerts, %" G_GUINT64_FORMAT " other)", mqtt_outbox_get_capacity (mqtt->outbox),
        mqtt->broker, total, delta[MQTT_PRIORITY_ANSWER], delta[MQTT_PRIORITY_ALERT],
        delta[MQTT_PRIORITY_OTHER]);
    json_builder_begin_object (b);
    add_member (b, "type", "slowfast-outbox-overflow");
    add_member (b, "node", mqtt->node);
    json_builder_set_member_name (b, "outbox-size");
    json_builder_add_int_value (b, mqtt_outbox_get_capacity (mqtt->outbox));
    json_builder_set_member_name (b, "dropped");
    json_builder_add_int_value (b, total);
    json_builder_set_member_name (b, "dropped-answers");
    json_builder_add_int_value (b, delta[MQTT_PRIORITY_ANSWER]);
    json_builder_set_member_name (b, "dropped-alerts");
    json_builder_add_int_value (b, delta[MQTT_PRIORITY_ALERT]);
    json_builder_set_member_name (b, "dropped-other");
    json_builder_add_int_value (b, delta[MQTT_PRIORITY_OTHER]);
    json_builder_set_member_name (b, "dropped-total");
    json_builder_add_int_value (b, mqtt->reported_dropped[MQTT_PRIORITY_ANSWER]
        + mqtt->reported_dropped[MQTT_PRIORITY_ALERT]
        + mqtt->reported_dropped[MQTT_PRIORITY_OTHER]);
    json_builder_end_object (b);
    payload = slowfast_json_to_string (b);
    queue_control (mqtt, mqtt->outbox_topic, payload, FALSE);
    g_free (payload);
    g_object_unref (b);
  }

  g_mutex_lock (&mqtt->lock);
  for (i = 0; i < mqtt->camera_order->len; i++) {
    Camera *camera = g_ptr_array_index (mqtt->camera_order, i);
    gchar *state_topic;

    camera->announced = FALSE;
    mqtt->unannounced = TRUE;
    if (!camera->alert || camera->state == NULL)
      continue;
    /* The retained state again, for a broker that lost it; not when a newer state is still
     * queued: it would briefly show an old one. */
    state_topic = topic_for (mqtt, camera->id, "alert/state");
    if (!mqtt_outbox_has_topic (mqtt->outbox, state_topic)
        && !inflight_has_topic (mqtt, state_topic))
      queue_control (mqtt, state_topic, camera->state, TRUE);
    g_free (state_topic);
  }
  g_mutex_unlock (&mqtt->lock);
}

/* Discovery configs for the cameras not announced on this connection yet: they are added while
 * the pipelines are parsed, which may be after the connection is up. */
static void
announce (SlowfastMqtt * mqtt)
{
  g_mutex_lock (&mqtt->lock);
  if (mqtt->unannounced) {
    for (guint i = 0; i < mqtt->camera_order->len; i++) {
      Camera *camera = g_ptr_array_index (mqtt->camera_order, i);
      if (!camera->announced && mqtt->discovery)
        queue_discovery (mqtt, camera);
      camera->announced = TRUE;
    }
    mqtt->unannounced = FALSE;
  }
  g_mutex_unlock (&mqtt->lock);
}

/* Hands queued messages to libmosquitto while the in-flight window has room. */
static void
pump (SlowfastMqtt * mqtt)
{
  while (g_hash_table_size (mqtt->inflight) < MAX_INFLIGHT) {
    MqttMessage *message = g_queue_pop_head (&mqtt->control);
    int mid = 0, rc;

    if (message == NULL) {
      g_mutex_lock (&mqtt->lock);
      message = mqtt_outbox_pop (mqtt->outbox);
      g_mutex_unlock (&mqtt->lock);
    }
    if (message == NULL)
      return;
    rc = mosquitto_publish (mqtt->mosq, &mid, message->topic, (int) message->payload_len,
        message->payload, message->qos, message->retain);
    if (rc != MOSQ_ERR_SUCCESS) {
      /* The connection is going: put it back; the loop notices and reconnects. */
      if (message->control) {
        g_queue_push_head (&mqtt->control, message);
      } else {
        g_mutex_lock (&mqtt->lock);
        mqtt_outbox_requeue (mqtt->outbox, message);
        g_mutex_unlock (&mqtt->lock);
      }
      return;
    }
    if (g_hash_table_remove (mqtt->early_acks, GINT_TO_POINTER (mid)))
      mqtt_message_free (message);
    else
      g_hash_table_insert (mqtt->inflight, GINT_TO_POINTER (mid), message);
  }
}

static gint
compare_message_seq (gconstpointer a, gconstpointer b)
{
  const MqttMessage *ma = a, *mb = b;
  return ma->seq < mb->seq ? -1 : ma->seq > mb->seq ? 1 : 0;
}

/* The connection is gone: what was in flight goes back into the outbox, in order. The broker may
 * have received some of it before the acknowledgement was lost (QoS 1 is at least once). */
static void
requeue_inflight (SlowfastMqtt * mqtt)
{
  GList *messages = g_hash_table_get_values (mqtt->inflight);
  GList *l;

  g_hash_table_steal_all (mqtt->inflight);
  g_hash_table_remove_all (mqtt->early_acks);
  messages = g_list_sort (messages, compare_message_seq);
  g_mutex_lock (&mqtt->lock);
  for (l = messages; l; l = l->next) {
    MqttMessage *message = l->data;
    if (message->control)
      mqtt_message_free (message);
    else
      mqtt_outbox_requeue (mqtt->outbox, message);
  }
  g_mutex_unlock (&mqtt->lock);
  g_list_free (messages);
  g_queue_clear_full (&mqtt->control, (GDestroyNotify) mqtt_message_free);
}

static const gchar *
describe_rc (int rc, int saved_errno)
{
  switch (rc) {
    case MOSQ_ERR_ERRNO:
      return g_strerror (saved_errno);
    case MOSQ_ERR_EAI:
      return "the host name could not be resolved";
    case MOSQ_ERR_TLS:
      return "the TLS handshake failed (a broker certificate not signed by the CA of "
          "--mqtt-ca-file or not for this host name, or not a TLS port)";
    case MOSQ_ERR_NO_CONN:
    case MOSQ_ERR_CONN_LOST:
      return "the connection was lost";
    default:
      return mosquitto_strerror (rc);
  }
}

static void
connection_failed (SlowfastMqtt * mqtt, const gchar * why, gboolean was_connected,
    gdouble retry_in)
{
  mqtt->failures++;
  if (was_connected)
    log_line (mqtt, TRUE, "lost the connection to %s%s%s%s; reconnecting, answers and alerts "
        "are kept in the outbox meanwhile", mqtt->broker,
        g_str_equal (why, "the connection was lost") ? "" : " (",
        g_str_equal (why, "the connection was lost") ? "" : why,
        g_str_equal (why, "the connection was lost") ? "" : ")");
  else if (mqtt->last_failure == NULL || !g_str_equal (mqtt->last_failure, why)
      || retry_in >= mqtt->retry_max)
    log_line (mqtt, TRUE, "cannot connect to %s: %s; retrying in %.0f s", mqtt->broker, why,
        retry_in);
  g_free (mqtt->last_failure);
  mqtt->last_failure = g_strdup (why);
}

static struct mosquitto *
make_client (SlowfastMqtt * mqtt, gchar ** why)
{
  struct mosquitto *mosq = mosquitto_new (mqtt->client_id, false, mqtt);
  int rc;

  if (mosq == NULL) {
    *why = g_strdup (g_strerror (errno));
    return NULL;
  }
  mosquitto_int_option (mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_will_set (mosq, mqtt->status_topic, 7, "offline", 1, true);
  if (mqtt->username)
    mosquitto_username_pw_set (mosq, mqtt->username, mqtt->password);
  if (mqtt->tls) {
    rc = mosquitto_tls_set (mosq, mqtt->ca_file, mqtt->ca_file ? NULL : "/etc/ssl/certs",
        mqtt->cert_file, mqtt->key_file, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
      *why = g_strdup_printf ("TLS setup: %s", mosquitto_strerror (rc));
      mosquitto_destroy (mosq);
      return NULL;
    }
  }
  mosquitto_connect_callback_set (mosq, on_connect);
  mosquitto_disconnect_callback_set (mosq, on_disconnect);
  mosquitto_publish_callback_set (mosq, on_publish);
  return mosq;
}

static gboolean
closing_state (SlowfastMqtt * mqtt, gint64 * deadline, gboolean * empty)
{
  gboolean closing;

  g_mutex_lock (&mqtt->lock);
  closing = mqtt->closing;
  *deadline = mqtt->flush_deadline;
  *empty = mqtt_outbox_get_length (mqtt->outbox) == 0;
  g_mutex_unlock (&mqtt->lock);
  return closing;
}

/* Publishes "offline" and disconnects cleanly (a clean disconnect sends no last will). */
static void
shut_down (SlowfastMqtt * mqtt)
{
  int mid = 0;
  gint64 until = g_get_monotonic_time () + CLOSE_GRACE_US;

  if (mosquitto_publish (mqtt->mosq, &mid, mqtt->status_topic, 7, "offline", 1, true)
      == MOSQ_ERR_SUCCESS) {
    MqttMessage *message = mqtt_message_new (MQTT_PRIORITY_ALERT, mqtt->status_topic, "offline",
        1, TRUE);
    message->control = TRUE;
    g_hash_table_insert (mqtt->inflight, GINT_TO_POINTER (mid), message);
    while (g_hash_table_contains (mqtt->inflight, GINT_TO_POINTER (mid))
        && g_get_monotonic_time () < until
        && mosquitto_loop (mqtt->mosq, LOOP_TIMEOUT_MS, 1) == MOSQ_ERR_SUCCESS);
  }
  mosquitto_disconnect (mqtt->mosq);
  mosquitto_loop (mqtt->mosq, LOOP_TIMEOUT_MS, 1);
  mqtt->shut_down = TRUE;
}

/* One connection, from connect to its end; TRUE if it got as far as a CONNACK accepted. */
static gboolean
serve_connection (SlowfastMqtt * mqtt, gdouble retry_in)
{
  gchar *why = NULL;
  gint64 started, deadline;
  gboolean was_connected = FALSE, empty;
  int rc, saved_errno;

  mqtt->mosq = make_client (mqtt, &why);
  if (mqtt->mosq == NULL) {
    connection_failed (mqtt, why, FALSE, retry_in);
    g_free (why);
    return FALSE;
  }
  mqtt->connack = -1;
  mqtt->connected = FALSE;
  errno = 0;
  rc = mosquitto_connect (mqtt->mosq, mqtt->host, mqtt->port, mqtt->keepalive);
  saved_errno = errno;
  if (rc != MOSQ_ERR_SUCCESS) {
    connection_failed (mqtt, describe_rc (rc, saved_errno), FALSE, retry_in);
    goto done;
  }
  started = g_get_monotonic_time ();
  for (;;) {
    errno = 0;
    rc = mosquitto_loop (mqtt->mosq, LOOP_TIMEOUT_MS, 1);
    saved_errno = errno;
    if (mqtt->connack > 0) {
      static const gchar *const reasons[] = {
        NULL, "unacceptable protocol version", "client id rejected", "broker unavailable",
        "bad user name or password", "not authorised: check the user name and password",
      };
      gchar *refused = g_strdup_printf ("the broker refused the connection (%s)",
          mqtt->connack < (gint) G_N_ELEMENTS (reasons) ? reasons[mqtt->connack]
          : mosquitto_connack_string (mqtt->connack));
      connection_failed (mqtt, refused, FALSE, retry_in);
      g_free (refused);
      break;
    }
    if (rc != MOSQ_ERR_SUCCESS || (was_connected && !mqtt->connected)) {
      connection_failed (mqtt, describe_rc (rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_CONN_LOST : rc,
              saved_errno), was_connected, retry_in);
      break;
    }
    if (!mqtt->connected) {
      if (g_get_monotonic_time () - started > CONNACK_TIMEOUT_US) {
        connection_failed (mqtt, "no answer to CONNECT within 10 s", FALSE, retry_in);
        break;
      }
      if (closing_state (mqtt, &deadline, &empty) && g_get_monotonic_time () > deadline)
        break;
      continue;
    }
    if (!was_connected) {
      was_connected = TRUE;
      on_connected (mqtt);
    }
    announce (mqtt);
    pump (mqtt);
    if (closing_state (mqtt, &deadline, &empty)
        && ((empty && g_hash_table_size (mqtt->inflight) == 0
                && g_queue_is_empty (&mqtt->control))
            || g_get_monotonic_time () > deadline)) {
      shut_down (mqtt);
      break;
    }
  }
done:
  requeue_inflight (mqtt);
  mosquitto_destroy (mqtt->mosq);
  mqtt->mosq = NULL;
  mqtt->connected = FALSE;
  return was_connected;
}

static gpointer
run_thread (gpointer user_data)
{
  SlowfastMqtt *mqtt = user_data;
  gdouble backoff = 1;

  for (;;) {
    gint64 deadline, wake;
    gboolean empty;

    if (closing_state (mqtt, &deadline, &empty)
        && (empty || g_get_monotonic_time () > deadline))
      break;
    /* After a drop the first retry comes soon; failures in a row wait longer each time. */
    if (serve_connection (mqtt, backoff))
      backoff = 1;
    if (mqtt->shut_down)
      break;
    /* Back-off, cut short by slowfast_mqtt_close. */
    wake = g_get_monotonic_time () + (gint64) (backoff * G_USEC_PER_SEC);
    g_mutex_lock (&mqtt->lock);
    while (g_get_monotonic_time () < wake) {
      if (mqtt->closing && (mqtt_outbox_get_length (mqtt->outbox) == 0
              || g_get_monotonic_time () > mqtt->flush_deadline))
        break;
      g_cond_wait_until (&mqtt->cond, &mqtt->lock,
          mqtt->closing ? MIN (wake, mqtt->flush_deadline) : wake);
    }
    g_mutex_unlock (&mqtt->lock);
    if (mqtt->failures > 0)
      backoff = MIN (backoff * 2, mqtt->retry_max);
  }
  g_mutex_lock (&mqtt->lock);
  mqtt->finished = TRUE;
  g_cond_broadcast (&mqtt->cond);
  g_mutex_unlock (&mqtt->lock);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The main thread's side */

static void
free_camera (gpointer data)
{
  Camera *camera = data;
  g_free (camera->id);
  g_free (camera->device_class);
  g_free (camera->state);
  g_free (camera);
}

static void
free_settings (SlowfastMqtt * mqtt)
{
  g_free (mqtt->host);
  g_free (mqtt->prefix);
  g_free (mqtt->broker);
  g_free (mqtt->node);
  g_free (mqtt->client_id);
  g_free (mqtt->username);
  if (mqtt->password)
    memset (mqtt->password, 0, strlen (mqtt->password));
  g_free (mqtt->password);
  g_free (mqtt->ca_file);
  g_free (mqtt->cert_file);
  g_free (mqtt->key_file);
  g_free (mqtt->discovery_prefix);
  g_free (mqtt->device_class);
  g_free (mqtt->status_topic);
  g_free (mqtt->outbox_topic);
  g_free (mqtt->last_failure);
}

SlowfastMqtt *
slowfast_mqtt_new (const SlowfastMqttOptions * options, GError ** error)
{
  SlowfastMqtt *mqtt = g_new0 (SlowfastMqtt, 1);
  gchar *node_level;

  mqtt->quiet = options->quiet;
  if (!parse_url (mqtt, options->url, error))
    goto failed;
  if (options->username) {
    g_free (mqtt->username);
    mqtt->username = g_strdup (options->username);
  }
  if (options->password) {
    g_free (mqtt->password);
    mqtt->password = g_strdup (options->password);
  }
  if (options->credentials_file && !read_credentials (mqtt, options->credentials_file, error))
    goto failed;
  if (mqtt->password && !mqtt->username) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "a password needs a user name (--mqtt-user or username in the credentials file)");
    goto failed;
  }
  if (options->qos < 0 || options->qos > 2) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "--mqtt-qos must be 0, 1 or 2, not %d", options->qos);
    goto failed;
  }
  if ((options->ca_file || options->cert_file) && !mqtt->tls)
    log_line (mqtt, TRUE, "warning: TLS files are ignored for %s (use mqtts://)", mqtt->broker);
  if ((options->cert_file == NULL) != (options->key_file == NULL)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "--mqtt-cert and --mqtt-key go together");
    goto failed;
  }
  mqtt->ca_file = g_strdup (options->ca_file);
  mqtt->cert_file = g_strdup (options->cert_file);
  mqtt->key_file = g_strdup (options->key_file);
  mqtt->qos = options->qos;
  mqtt->keepalive = options->keepalive > 0 ? options->keepalive : 30;
  mqtt->discovery = options->discovery;
  mqtt->discovery_prefix = g_strdup (options->discovery_prefix ? options->discovery_prefix
      : "homeassistant");
  mqtt->device_class = g_strdup (options->device_class ? options->device_class : "occupancy");
  mqtt->retry_max = options->retry_max >= 1 ? options->retry_max : 30;
  node_level = slowfast_mqtt_topic_level (options->node && *options->node ? options->node
      : g_get_host_name ());
  mqtt->node = node_level;
  /* Fixed, so the broker finds this node's persistent session again after a restart. */
  mqtt->client_id = g_strdup_printf ("slowfast-%s", mqtt->node);
  mqtt->status_topic = topic_for (mqtt, mqtt->node, "status");
  mqtt->outbox_topic = topic_for (mqtt, mqtt->node, "outbox");

  g_mutex_init (&mqtt->lock);
  g_cond_init (&mqtt->cond);
  mqtt->outbox = mqtt_outbox_new (options->outbox_size > 0 ? options->outbox_size : 10000);
  mqtt->cameras = g_hash_table_new (g_str_hash, g_str_equal);
  mqtt->camera_order = g_ptr_array_new_with_free_func (free_camera);
  mqtt->inflight = g_hash_table_new_full (NULL, NULL, NULL,
      (GDestroyNotify) mqtt_message_free);
  mqtt->early_acks = g_hash_table_new (NULL, NULL);
  g_queue_init (&mqtt->control);

  mosquitto_lib_init ();
  mqtt->thread = g_thread_new ("mqtt", run_thread, mqtt);
  return mqtt;

failed:
  free_settings (mqtt);
  g_free (mqtt);
  return NULL;
}

const gchar *
slowfast_mqtt_get_broker (SlowfastMqtt * mqtt)
{
  return mqtt->broker;
}

static Camera *
get_camera (SlowfastMqtt * mqtt, const gchar * level)
{
  Camera *camera = g_hash_table_lookup (mqtt->cameras, level);

  if (camera == NULL) {
    camera = g_new0 (Camera, 1);
    camera->id = g_strdup (level);
    g_hash_table_insert (mqtt->cameras, camera->id, camera);
    g_ptr_array_add (mqtt->camera_order, camera);
  }
  return camera;
}

void
slowfast_mqtt_add_camera (SlowfastMqtt * mqtt, const gchar * source_id, gboolean alert,
    const gchar * device_class)
{
  gchar *level = slowfast_mqtt_topic_level (source_id);
  Camera *camera;

  g_mutex_lock (&mqtt->lock);
  camera = get_camera (mqtt, level);
  camera->alert = alert;
  if (device_class) {
    g_free (camera->device_class);
    camera->device_class = g_strdup (device_class);
  }
  camera->announced = FALSE;
  mqtt->unannounced = TRUE;
  g_mutex_unlock (&mqtt->lock);
  g_free (level);
}

static void
enqueue (SlowfastMqtt * mqtt, MqttPriority priority, gchar * topic, const gchar * payload,
    gboolean retain)
{
  guint dropped;

  /* Alerts and the alert state are never sent "at most once". */
  dropped = mqtt_outbox_push (mqtt->outbox, mqtt_message_new (priority, topic, payload,
          priority == MQTT_PRIORITY_ALERT ? MAX (mqtt->qos, 1) : mqtt->qos, retain));
  if (dropped && !mqtt->overflow_logged) {
    mqtt->overflow_logged = TRUE;
    log_line (mqtt, TRUE, "the outbox is full (%u messages, %s unreachable): dropping the "
        "oldest answers first, alerts last; the count is published once it is back",
        mqtt_outbox_get_capacity (mqtt->outbox), mqtt->broker);
  }
  g_free (topic);
}

void
slowfast_mqtt_publish (SlowfastMqtt * mqtt, const gchar * source_id, SlowfastMqttKind kind,
    const gchar * json)
{
  static const struct
  {
    const gchar *suffix;
    MqttPriority priority;
  } kinds[] = {
    [SLOWFAST_MQTT_ANSWER] = {"answer", MQTT_PRIORITY_ANSWER},
    [SLOWFAST_MQTT_ALERT] = {"alert", MQTT_PRIORITY_ALERT},
    [SLOWFAST_MQTT_DROPPED] = {"dropped", MQTT_PRIORITY_OTHER},
    [SLOWFAST_MQTT_STATUS] = {"status", MQTT_PRIORITY_OTHER},
  };
  gchar *level = slowfast_mqtt_topic_level (source_id);

  g_mutex_lock (&mqtt->lock);
  enqueue (mqtt, kinds[kind].priority, topic_for (mqtt, level, kinds[kind].suffix), json, FALSE);
  g_mutex_unlock (&mqtt->lock);
  g_free (level);
}

void
slowfast_mqtt_set_alert_state (SlowfastMqtt * mqtt, const gchar * source_id,
    const gchar * state)
{
  gchar *level = slowfast_mqtt_topic_level (source_id);
  Camera *camera;

  g_mutex_lock (&mqtt->lock);
  camera = get_camera (mqtt, level);
  camera->alert = TRUE;
  g_free (camera->state);
  camera->state = g_strdup (state);
  enqueue (mqtt, MQTT_PRIORITY_ALERT, topic_for (mqtt, level, "alert/state"), state, TRUE);
  g_mutex_unlock (&mqtt->lock);
  g_free (level);
}

void
slowfast_mqtt_close (SlowfastMqtt * mqtt, gdouble flush_seconds)
{
  gboolean finished;
  guint left;

  if (mqtt == NULL)
    return;
  g_mutex_lock (&mqtt->lock);
  mqtt->closing = TRUE;
  mqtt->flush_deadline = g_get_monotonic_time () + (gint64) (flush_seconds * G_USEC_PER_SEC);
  g_cond_broadcast (&mqtt->cond);
  /* The thread may sit in a blocking connect (DNS, an unanswered SYN): wait for it only so
   * long, then leave it to the process's exit. */
  while (!mqtt->finished) {
    if (!g_cond_wait_until (&mqtt->cond, &mqtt->lock, mqtt->flush_deadline + CLOSE_GRACE_US
            + CLOSE_GRACE_US))
      break;
  }
  finished = mqtt->finished;
  left = mqtt_outbox_get_length (mqtt->outbox);
  g_mutex_unlock (&mqtt->lock);
  if (left > 0)
    log_line (mqtt, TRUE, "%u message%s not delivered: no connection to %s", left,
        left == 1 ? "" : "s", mqtt->broker);
  if (!finished)
    return;                     /* the thread still uses everything */
  g_thread_join (mqtt->thread);
  mqtt_outbox_free (mqtt->outbox);
  g_hash_table_unref (mqtt->cameras);
  g_ptr_array_unref (mqtt->camera_order);
  g_hash_table_unref (mqtt->inflight);
  g_hash_table_unref (mqtt->early_acks);
  g_mutex_clear (&mqtt->lock);
  g_cond_clear (&mqtt->cond);
  free_settings (mqtt);
  g_free (mqtt);
  mosquitto_lib_cleanup ();
}
