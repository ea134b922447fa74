/* The outbox of slowfast-launch --mqtt (pipelines/mqtt-outbox.c) on its own: messages leave in
 * arrival order across priorities; a full outbox drops the oldest answer first, then the oldest
 * "other", alerts last, and counts each drop; messages put back after a lost connection keep
 * their place.
 *   test_mqtt_outbox */
#include "mqtt-outbox.h"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(condition, ...) do {                                            \
    if (!(condition)) {                                                       \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #condition);   \
      fprintf (stderr, __VA_ARGS__);                                          \
      fputc ('\n', stderr);                                                   \
      exit (1);                                                               \
    }                                                                         \
  } while (0)

static MqttMessage *
msg (MqttPriority priority, const gchar * name)
{
  return mqtt_message_new (priority, "t", name, 1, FALSE);
}

/* Pops everything, returns the payloads joined by ' '. */
static gchar *
drain (MqttOutbox * outbox)
{
  GString *out = g_string_new (NULL);
  MqttMessage *m;

  while ((m = mqtt_outbox_pop (outbox)) != NULL) {
    g_string_append_printf (out, "%s%s", out->len ? " " : "", m->payload);
    mqtt_message_free (m);
  }
  return g_string_free (out, FALSE);
}

int
main (void)
{
  MqttOutbox *outbox;
  gchar *order;
  MqttMessage *a, *b;

  /* Order across priorities; nothing dropped below capacity. */
  outbox = mqtt_outbox_new (10);
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a1"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L1"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_OTHER, "o1"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a2"));
  CHECK (mqtt_outbox_get_length (outbox) == 4, "%u", mqtt_outbox_get_length (outbox));
  order = drain (outbox);
  CHECK (g_str_equal (order, "a1 L1 o1 a2"), "%s", order);
  g_free (order);
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ANSWER) == 0, "dropped");
  mqtt_outbox_free (outbox);

  /* Overflow: answers go first (oldest first), then "other", alerts last. */
  outbox = mqtt_outbox_new (4);
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a1")) == 0, "a1");
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L1")) == 0, "L1");
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a2")) == 0, "a2");
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_OTHER, "o1")) == 0, "o1");
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L2")) == 1, "L2 drops one");
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a3")) == 1, "a3 drops one");
  /* a1 then a2 are gone; a3 is the only answer left. */
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L3")) == 1, "L3 drops one");
  /* ... a3 now, the last answer; with no answer left, L4 pushes out o1 ("other"). */
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L4")) == 1, "L4 drops one");
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ANSWER) == 3, "%" G_GUINT64_FORMAT,
      mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ANSWER));
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_OTHER) == 1, "%" G_GUINT64_FORMAT,
      mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_OTHER));
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ALERT) == 0, "an alert was dropped");
  CHECK (mqtt_outbox_has_topic (outbox, "t") && !mqtt_outbox_has_topic (outbox, "u"), "topic");
  order = drain (outbox);
  CHECK (g_str_equal (order, "L1 L2 L3 L4"), "%s", order);
  g_free (order);
  mqtt_outbox_free (outbox);

  /* No answer queued: the oldest "other" goes before any alert. */
  outbox = mqtt_outbox_new (2);
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_OTHER, "o1"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L1"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L2"));
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_OTHER) == 1, "other dropped");
  /* Only alerts: the oldest alert goes, and it is counted. */
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L3"));
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ALERT) == 1, "alert dropped");
  order = drain (outbox);
  CHECK (g_str_equal (order, "L2 L3"), "%s", order);
  g_free (order);
  /* A new answer into a full outbox of alerts is itself the one dropped. */
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L4"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L5"));
  CHECK (mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a9")) == 1, "a9");
  order = drain (outbox);
  CHECK (g_str_equal (order, "L4 L5"), "%s", order);
  g_free (order);
  mqtt_outbox_free (outbox);

  /* Requeue: messages in flight when the connection dropped go back before newer ones. */
  outbox = mqtt_outbox_new (10);
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a1"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, "L1"));
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a2"));
  a = mqtt_outbox_pop (outbox);
  b = mqtt_outbox_pop (outbox);
  CHECK (g_str_equal (a->payload, "a1") && g_str_equal (b->payload, "L1"), "pop order");
  mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, "a3"));
  mqtt_outbox_requeue (outbox, a);
  mqtt_outbox_requeue (outbox, b);
  order = drain (outbox);
  CHECK (g_str_equal (order, "a1 L1 a2 a3"), "%s", order);
  g_free (order);
  mqtt_outbox_free (outbox);

  /* A big outbox: 10000 answers and 10 alerts into 100 places keep the 10 alerts and the
   * newest 90 answers. */
  outbox = mqtt_outbox_new (100);
  for (guint i = 0; i < 10000; i++) {
    gchar *name = g_strdup_printf ("a%u", i);
    mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ANSWER, name));
    g_free (name);
    if (i % 1000 == 0) {
      name = g_strdup_printf ("L%u", i);
      mqtt_outbox_push (outbox, msg (MQTT_PRIORITY_ALERT, name));
      g_free (name);
    }
  }
  CHECK (mqtt_outbox_get_length (outbox) == 100, "%u", mqtt_outbox_get_length (outbox));
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ANSWER) == 10000 - 90, "%"
      G_GUINT64_FORMAT, mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ANSWER));
  CHECK (mqtt_outbox_get_dropped (outbox, MQTT_PRIORITY_ALERT) == 0, "alerts dropped");
  {
    MqttMessage *m;
    guint alerts = 0, answers = 0;
    while ((m = mqtt_outbox_pop (outbox)) != NULL) {
      if (m->priority == MQTT_PRIORITY_ALERT)
        alerts++;
      else {
        CHECK (answers > 0 || g_str_equal (m->payload, "a9910"), "first answer %s", m->payload);
        answers++;
      }
      mqtt_message_free (m);
    }
    CHECK (alerts == 10 && answers == 90, "%u alerts, %u answers", alerts, answers);
  }
  mqtt_outbox_free (outbox);
  printf ("ok\n");
  return 0;
}
