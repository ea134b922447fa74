/* The outbox of slowfast-launch --mqtt (mqtt-outbox.h). One FIFO per priority, each message
 * numbered on arrival: popping takes the smallest number among the heads, so the overall order
 * is kept, and dropping takes the head of the lowest non-empty priority, so both are O(1). */
#include "mqtt-outbox.h"

#include <string.h>

struct _MqttOutbox
{
  GQueue queues[MQTT_PRIORITY_COUNT];
  guint capacity;
  guint length;
  guint64 next_seq;
  guint64 dropped[MQTT_PRIORITY_COUNT];
};

MqttMessage *
mqtt_message_new (MqttPriority priority, const gchar * topic, const gchar * payload, gint qos,
    gboolean retain)
{
  MqttMessage *message = g_new0 (MqttMessage, 1);

  g_return_val_if_fail (priority < MQTT_PRIORITY_COUNT, NULL);
  message->priority = priority;
  message->topic = g_strdup (topic);
  message->payload = g_strdup (payload);
  message->payload_len = strlen (payload);
  message->qos = qos;
  message->retain = retain;
  return message;
}

void
mqtt_message_free (MqttMessage * message)
{
  if (message == NULL)
    return;
  g_free (message->topic);
  g_free (message->payload);
  g_free (message);
}

MqttOutbox *
mqtt_outbox_new (guint capacity)
{
  MqttOutbox *outbox = g_new0 (MqttOutbox, 1);
  guint i;

  for (i = 0; i < MQTT_PRIORITY_COUNT; i++)
    g_queue_init (&outbox->queues[i]);
  outbox->capacity = MAX (capacity, 1);
  return outbox;
}

void
mqtt_outbox_free (MqttOutbox * outbox)
{
  guint i;

  if (outbox == NULL)
    return;
  for (i = 0; i < MQTT_PRIORITY_COUNT; i++)
    g_queue_clear_full (&outbox->queues[i], (GDestroyNotify) mqtt_message_free);
  g_free (outbox);
}

guint
mqtt_outbox_get_capacity (MqttOutbox * outbox)
{
  return outbox->capacity;
}

guint
mqtt_outbox_get_length (MqttOutbox * outbox)
{
  return outbox->length;
}

guint64
mqtt_outbox_get_dropped (MqttOutbox * outbox, MqttPriority priority)
{
  g_return_val_if_fail (priority < MQTT_PRIORITY_COUNT, 0);
  return outbox->dropped[priority];
}

static guint
trim (MqttOutbox * outbox)
{
  guint dropped = 0, i;

  while (outbox->length > outbox->capacity) {
    for (i = 0; i < MQTT_PRIORITY_COUNT; i++) {
      if (!g_queue_is_empty (&outbox->queues[i])) {
        mqtt_message_free (g_queue_pop_head (&outbox->queues[i]));
        outbox->dropped[i]++;
        outbox->length--;
        dropped++;
        break;
      }
    }
  }
  return dropped;
}

guint
mqtt_outbox_push (MqttOutbox * outbox, MqttMessage * message)
{
  message->seq = outbox->next_seq++;
  g_queue_push_tail (&outbox->queues[message->priority], message);
  outbox->length++;
  return trim (outbox);
}

static gint
compare_seq (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const MqttMessage *ma = a, *mb = b;
  (void) user_data;
  return ma->seq < mb->seq ? -1 : ma->seq > mb->seq ? 1 : 0;
}

guint
mqtt_outbox_requeue (MqttOutbox * outbox, MqttMessage * message)
{
  /* A message in flight is older than every queued one of its priority: it goes in at (or near)
   * the head, so the sorted insert is cheap. */
  g_queue_insert_sorted (&outbox->queues[message->priority], message, compare_seq, NULL);
  outbox->length++;
  return trim (outbox);
}

MqttMessage *
mqtt_outbox_pop (MqttOutbox * outbox)
{
  MqttMessage *oldest = NULL;
  guint i, from = 0;

  for (i = 0; i < MQTT_PRIORITY_COUNT; i++) {
    MqttMessage *head = g_queue_peek_head (&outbox->queues[i]);
    if (head && (oldest == NULL || head->seq < oldest->seq)) {
      oldest = head;
      from = i;
    }
  }
  if (oldest == NULL)
    return NULL;
  g_queue_pop_head (&outbox->queues[from]);
  outbox->length--;
  return oldest;
}

gboolean
mqtt_outbox_has_topic (MqttOutbox * outbox, const gchar * topic)
{
  guint i;

  for (i = 0; i < MQTT_PRIORITY_COUNT; i++)
    for (GList * l = outbox->queues[i].head; l; l = l->next)
      if (g_str_equal (((MqttMessage *) l->data)->topic, topic))
        return TRUE;
  return FALSE;
}
