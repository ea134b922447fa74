/* A bounded, priority-aware queue of MQTT messages waiting for the broker (slowfast-launch
 * --mqtt). Messages leave in the order they came; when it is full, the oldest message of the
 * lowest priority present is dropped (answers first, alerts last) and counted. Not thread-safe:
 * the caller holds its lock. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  MQTT_PRIORITY_ANSWER,         /* slowfast-answer: dropped first */
  MQTT_PRIORITY_OTHER,          /* slowfast-dropped, status, errors */
  MQTT_PRIORITY_ALERT,          /* slowfast-alert and the alert state: dropped last */
  MQTT_PRIORITY_COUNT
} MqttPriority;

typedef struct
{
  guint64 seq;                  /* arrival order, set by mqtt_outbox_push */
  MqttPriority priority;
  gchar *topic;
  gchar *payload;
  gsize payload_len;
  gint qos;
  gboolean retain;
  gboolean control;             /* regenerated on each connection, never queued again */
} MqttMessage;

typedef struct _MqttOutbox MqttOutbox;

MqttMessage *mqtt_message_new (MqttPriority priority, const gchar * topic, const gchar * payload,
    gint qos, gboolean retain);
void mqtt_message_free (MqttMessage * message);

MqttOutbox *mqtt_outbox_new (guint capacity);
void mqtt_outbox_free (MqttOutbox * outbox);
guint mqtt_outbox_get_capacity (MqttOutbox * outbox);
guint mqtt_outbox_get_length (MqttOutbox * outbox);

/* Takes the message; returns how many were dropped to make room (0 or 1; the dropped one may be
 * the new message itself when nothing of lower priority is queued). */
guint mqtt_outbox_push (MqttOutbox * outbox, MqttMessage * message);

/* Puts back a message popped earlier (it was in flight when the connection dropped), in its
 * place by sequence number; may drop, as push does. */
guint mqtt_outbox_requeue (MqttOutbox * outbox, MqttMessage * message);

/* The oldest message, or NULL; the caller owns it. */
MqttMessage *mqtt_outbox_pop (MqttOutbox * outbox);

/* Is a message for this topic queued? */
gboolean mqtt_outbox_has_topic (MqttOutbox * outbox, const gchar * topic);

/* Messages dropped so far, per priority (totals since creation). */
guint64 mqtt_outbox_get_dropped (MqttOutbox * outbox, MqttPriority priority);

G_END_DECLS
