// tests/filter/traits7_sales_test.cc: the shipped conf/rules/74-sales-letter.rules on messages
// we write ourselves. Every trait of the direct-response sales letter is a helper that scores
// nothing, so each is tested through the metas: a persuasion trait (P.S., price anchoring,
// bonuses, risk reversal, scarcity, "as seen on TV", a testimonial signed with initials, long
// copy, "not sold in stores", OFFER_GUARANTEE) together with one fixed fulfilment trait fires
// SALES_MAIL_ORDER, and so does each fulfilment trait (order form, payment by post, S&H
// added, "free, you only pay shipping", "ordering is easy", a YES coupon) with one fixed
// persuasion trait; either side alone fires nothing. A full mail-order letter fires
// SALES_LETTER_FULL. The nearest legitimate messages stay quiet: a publisher's wanted
// invitation with P.S., bonuses and a risk-free trial, a retail newsletter, an invoice, a
// conference's fax-back registration, a bank's "24 hours a day", and ordinary wordings close
// to a trait, most of which a first version of a helper matched in A's ham or in installed
// documentation. A failure names the case and prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits7SalesTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// The ids of 74-sales-letter.rules that can appear in a verdict (helpers cannot).
const char* const kAllSales[] = {"SALES_MAIL_ORDER", "SALES_LETTER_FULL"};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllSales, what); }

// One trait of each side that the other side's cases are paired with.
const char* const kFulfilmentPartner = "Make checks payable to Acme Publishing, PO Box 12, Springfield.";
const char* const kPersuasionPartner = "Try it for two months. You risk nothing.";

// Persuasion: each text carries one trait and no fulfilment.
const char* const kPersuasion[] = {
    "Sincerely,\nJohn Carter\n\nP.S. Remember, the bonus report is yours only until Friday.",
    "The complete course is a $295 value, yours for only $39.95.",
    "The set sells for $120. Order this week and get FREE bonus #2: the audio edition.",
    "Try the course for a month. You risk nothing.",
    "Only 500 copies were printed.",
    "As seen on TV: the kitchen knife that never needs sharpening.",
    "\"It changed the way I sell!\"\n- J.S., Dallas TX",
    "Why am I making this incredible offer? Because I know you will come back for more.",
    "This book is not available in stores.",
    "Satisfaction guaranteed.",  // OFFER_GUARANTEE of 45-offers counts as risk reversal
};

// Fulfilment: each text carries one trait and no persuasion.
const char* const kFulfilment[] = {
    "Name: ______________ Phone: ______________ Fax: ______________",
    "Credit card #: ____________________",
    "Make checks payable to Acme Publishing.",
    "We accept check or money order.",
    "The manual is $39.95 plus $5 shipping and handling.",
    "The first lesson is free, you only pay $6.95 shipping and handling.",
    "Ordering is easy: fax this form to 555-0100.",
    "____ YES! I want the complete course.",
};

TEST_F(Traits7SalesTest, EachPersuasionTraitWithFulfilmentFiresMailOrder) {
  for (const char* p : kPersuasion) {
    Verdict v = scan(testing::text_letter(std::string(p) + "\n\n" + kFulfilmentPartner, "The course"));
    EXPECT_TRUE(v.has("SALES_MAIL_ORDER")) << "did not fire on: " << p << "\n" << v.to_text();
    // The trait alone is ordinary marketing.
    expect_quiet(scan(testing::text_letter(p, "The course")), p);
  }
}

TEST_F(Traits7SalesTest, EachFulfilmentTraitWithPersuasionFiresMailOrder) {
  for (const char* f : kFulfilment) {
    Verdict v = scan(testing::text_letter(std::string(kPersuasionPartner) + "\n\n" + f, "The course"));
    EXPECT_TRUE(v.has("SALES_MAIL_ORDER")) << "did not fire on: " << f << "\n" << v.to_text();
    expect_quiet(scan(testing::text_letter(f, "Your order")), f);
  }
}

TEST_F(Traits7SalesTest, FullMailOrderLetterFiresFull) {
  const std::string letter =
      "Dear Friend,\n\nWhy am I making this incredible offer? Because once you try my method you "
      "will never look back. The complete home-study course is a $295 value, yours for only "
      "$39.95. Order within the next 7 days and receive FREE bonus #1 and FREE bonus #2.\n\n"
      "You risk nothing: if you are not completely satisfied, return it for a full refund.\n\n"
      "Ordering is easy. Fill in the form and fax it to 555-0100, or mail it with your check or "
      "money order.\n\nName: ________________ Address: ________________\n"
      "City: ____________ State: ____ Zip: ______\n\n"
      "Sincerely,\nJohn Carter\n\nP.S. Remember, this offer will not be repeated. Order today!";
  Verdict v = scan(testing::text_letter(letter, "Your future"));
  EXPECT_TRUE(v.has("SALES_MAIL_ORDER")) << v.to_text();
  EXPECT_TRUE(v.has("SALES_LETTER_FULL")) << v.to_text();
}

// One mail-order letter with two traits stays far below the junk threshold.
TEST_F(Traits7SalesTest, TwoTraitsAloneAreNotJunk) {
  Verdict v = scan(testing::text_letter("The manual is a $60 value, yours for only $19.95.\nMake checks payable to Acme Publishing.", "Manual"));
  EXPECT_TRUE(v.has("SALES_MAIL_ORDER")) << v.to_text();
  EXPECT_FALSE(v.has("SALES_LETTER_FULL")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
}

// The nearest legitimate messages: persuasion without mail order, fulfilment without a pitch.
const char* const kLegitimate[][2] = {
    // A publisher's invitation to a reader who asked for a free report (A's Motley Fool letter
    // has this shape): P.S., free bonuses, a risk-free trial, keep the bonuses if you cancel,
    // but it sells through its web page.
    {"Dear Investor,\n\nThank you for requesting our free special report. You can try our "
     "newsletter for six full months 100% RISK-FREE. If we don't prove its worth to you, it "
     "doesn't cost you a dime.\n\nTo join us, simply click here: https://orders.publisher.example/join\n\n"
     "David & Tom\n\nP.S. Check out the FREE bonuses you get when you subscribe, all yours to "
     "keep, even if you cancel your trial subscription.",
     "Your free report"},
    // A retail newsletter the business subscribed to.
    {"Spring sale: the ergonomic chair, regular price $459, now only $329. Compare at $599 "
     "elsewhere. Free shipping on orders over $50. Shop now at https://shop.example/chairs",
     "Spring sale"},
    // An invoice.
    {"Invoice 1043 for the September retainer: $1,200, due in 30 days. Please make checks "
     "payable to Kyoto Design KK or pay by bank transfer to the account below.",
     "Invoice 1043"},
    // A conference's fax-back registration.
    {"Registration form for the regional logistics forum, 12 March.\n\nName: ______________ "
     "Company: ______________\nPhone: ______________ Fax: ______________\n\nThe fee is $450; "
     "we accept check or money order. Fax this form to 555-0199.",
     "Forum registration"},
    // A bank notice and a shop receipt.
    {"Your new card is on its way. If you did not request it, call us 24 hours a day, 7 days a "
     "week. Order #5521: subtotal $39.95, shipping & handling $5.00, total $44.95.",
     "Your card"},
};

TEST_F(Traits7SalesTest, NearestLegitimateMessageIsQuiet) {
  for (const auto& l : kLegitimate) expect_quiet(scan(testing::text_letter(l[0], l[1])), l[0]);
}

// Ordinary wordings close to a trait, each paired with a trait of the other side so that a
// match would fire SALES_MAIL_ORDER. Most matched a first version of a helper: "PS" without
// dots and "Psst" (A's ham), "keep ... even if", "limited to the first N octets", "What's the
// catch?", the FSF's assignment form, a bank's "24 hours a day, 7 days a week" (installed
// documentation), a catalogue's "order by phone"; the signatures matched a first draft.
const char* const kOrdinaryPersuasion[] = {
    "PS If the wireless carriers continue to price these services as stupidly as they do, MMS will never catch on.",
    "Psst... the free tier is enough for us, at that price.",
    "Fixed the dialog to keep the window visible even if the parent window is not.",
    "The checksum coverage is limited to the first 65535 octets.",
    "## What's the catch?\nCatch2 is a test framework for C++.",
    "Thanks,\n-- B.K. DeLong\nOpenCourseWare",
    "-- \nTerry W. Colvin, Sierra Vista, Arizona (USA)",
};

const char* const kOrdinaryFulfilment[] = {
    "I, ______________, a citizen of ______________, hereby assign my copyright.\nEmail address: ______________\nPostal address: ______________",
    "If you have questions about your statement, call us 24 hours a day, 7 days a week.",
    "Order by phone at 1-800-555-0100 or online.",
    "Free shipping on all orders this week.",
};

TEST_F(Traits7SalesTest, OrdinaryWordingDoesNotCountAsATrait) {
  for (const char* o : kOrdinaryPersuasion)
    expect_quiet(scan(testing::text_letter(std::string(o) + "\n\n" + kFulfilmentPartner, "Notes")), o);
  for (const char* o : kOrdinaryFulfilment)
    expect_quiet(scan(testing::text_letter(std::string(kPersuasionPartner) + "\n\n" + o, "Notes")), o);
}

// Helpers score nothing and never appear in a verdict.
TEST_F(Traits7SalesTest, HelpersNeverAppear) {
  for (const char* p : kPersuasion) {
    Verdict v = scan(testing::text_letter(std::string(p) + "\n\n" + kFulfilmentPartner, "The course"));
    for (const auto& contribution : v.contributions)
      EXPECT_NE(contribution.id.rfind("__SALES_", 0), 0u) << contribution.id;
  }
}

}  // namespace
}  // namespace tsubame::filter
