// Alert mode: reading answers as yes/no and the raise/clear hysteresis.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alert.h"

namespace gstslowfast {
namespace {

using Change = AlertHysteresis::Change;

TEST(ReadVerdict, FirstWordCaseAndPunctuation) {
  EXPECT_EQ(read_verdict("Yes."), Verdict::Yes);
  EXPECT_EQ(read_verdict("yes"), Verdict::Yes);
  EXPECT_EQ(read_verdict("YES! There is a red circle."), Verdict::Yes);
  EXPECT_EQ(read_verdict("  \n\"Yes,\" a ball"), Verdict::Yes);
  EXPECT_EQ(read_verdict("No."), Verdict::No);
  EXPECT_EQ(read_verdict("no, nothing"), Verdict::No);
  EXPECT_EQ(read_verdict("\tNO"), Verdict::No);
  EXPECT_EQ(read_verdict("**No**"), Verdict::No);
}

TEST(ReadVerdict, AnythingElseIsNeither) {
  for (const char* answer : {"", "   ", ".", "Yeah.", "Nope", "y", "n", "Not yet", "yes-man",
                             "A ball. Yes.", "Noes", "yes/no", "Maybe"}) {
    EXPECT_EQ(read_verdict(answer), Verdict::Neither) << '"' << answer << '"';
  }
}

// Feeds a sequence written as y/n/? and returns the changes as R (raised), C (cleared), . (none).
std::string changes(AlertHysteresis& alert, const std::string& verdicts) {
  std::string out;
  for (char v : verdicts) {
    const Verdict verdict = v == 'y' ? Verdict::Yes : v == 'n' ? Verdict::No : Verdict::Neither;
    const Change change = alert.update(verdict);
    out += change == Change::Raised ? 'R' : change == Change::Cleared ? 'C' : '.';
  }
  return out;
}

TEST(AlertHysteresis, DisabledByDefault) {
  AlertHysteresis alert;
  EXPECT_FALSE(alert.enabled());
  EXPECT_EQ(changes(alert, "yyyyyynnnn"), "..........");
  EXPECT_FALSE(alert.raised());
}

TEST(AlertHysteresis, RaiseAfterConsecutiveYes) {
  AlertHysteresis alert(3, 2);
  EXPECT_EQ(changes(alert, "yyny"), "....");  // the No breaks the run
  EXPECT_EQ(alert.run(), 1u);
  EXPECT_EQ(changes(alert, "yy"), ".R");
  EXPECT_TRUE(alert.raised());
  EXPECT_EQ(alert.run(), 3u);
}

TEST(AlertHysteresis, ClearAfterConsecutiveNo) {
  AlertHysteresis alert(2, 3);
  EXPECT_EQ(changes(alert, "yy"), ".R");
  EXPECT_EQ(changes(alert, "nnynn"), ".....");  // the Yes breaks the run of No
  EXPECT_TRUE(alert.raised());
  EXPECT_EQ(changes(alert, "n"), "C");
  EXPECT_FALSE(alert.raised());
  EXPECT_EQ(alert.run(), 3u);
  // A new run starts after the change: two more Yes raise again, not one.
  EXPECT_EQ(changes(alert, "yy"), ".R");
}

TEST(AlertHysteresis, NeitherNeitherCountsNorResets) {
  AlertHysteresis alert(3, 2);
  EXPECT_EQ(changes(alert, "y?y??y"), ".....R");
  EXPECT_EQ(changes(alert, "n?n"), "..C");
  EXPECT_EQ(changes(alert, "????"), "....");
  EXPECT_FALSE(alert.raised());
}

TEST(AlertHysteresis, OneAndOneFollowsEveryAnswer) {
  AlertHysteresis alert(1, 1);
  EXPECT_EQ(changes(alert, "ynnyyn"), "RC.R.C");
}

TEST(AlertHysteresis, ClearAfterZeroCountsAsOne) {
  AlertHysteresis alert(1, 0);
  EXPECT_EQ(alert.clear_after(), 1u);
  EXPECT_EQ(changes(alert, "yn"), "RC");
}

TEST(AlertHysteresis, ConfigureResets) {
  AlertHysteresis alert(1, 5);
  EXPECT_EQ(changes(alert, "y"), "R");
  alert.configure(2, 1);
  EXPECT_FALSE(alert.raised());
  EXPECT_EQ(alert.run(), 0u);
  EXPECT_EQ(changes(alert, "yn"), "..");
  EXPECT_EQ(changes(alert, "yyn"), ".RC");
}

TEST(AlertHysteresis, LongRunsRaiseOnce) {
  AlertHysteresis alert(2, 2);
  EXPECT_EQ(changes(alert, "yyyyyyyy"), ".R......");
  EXPECT_EQ(changes(alert, "nnnnnn"), ".C....");
}

}  // namespace
}  // namespace gstslowfast
