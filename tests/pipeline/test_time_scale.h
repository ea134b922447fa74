/* $SLOWFAST_TEST_TIME_SCALE (default 1): how many times longer a test's own time bounds are.
 * tests/stress/run_sanitizers.sh sets it, as sanitized code runs several times slower, and so
 * does a run under valgrind; meson's timeouts get the same factor through --timeout-multiplier.
 * Used by the pipeline tests (pipeline_test_util.h) and the element state torture. */
#pragma once

#include <glib.h>

#include <stdio.h>
#include <stdlib.h>

static inline double
test_time_scale (void)
{
  const gchar *text = g_getenv ("SLOWFAST_TEST_TIME_SCALE");
  gchar *end = NULL;
  double scale;

  if (text == NULL || *text == '\0')
    return 1.0;
  scale = g_ascii_strtod (text, &end);
  if (*end != '\0' || !(scale >= 1.0 && scale <= 100.0)) {
    fprintf (stderr, "SLOWFAST_TEST_TIME_SCALE='%s' is not a number from 1 to 100\n", text);
    exit (1);
  }
  return scale;
}
