// tests/filter/traits7_b2b_test.cc: the shipped conf/rules/75-genres-b2b.rules on messages we
// write ourselves: every business genre meta fires on a message of the genre it describes (a
// factory or freight forwarder introducing itself, offshore developers, designers and
// translators, merchant accounts, attendee lists for sale, directory and who's-who listings,
// domain-name slamming, fast business funding, office services, hosting and trade-show
// invitations sent to strangers) and stays quiet on the nearest legitimate business mail (a
// supplier's quotation to its customer, a forwarder's booking, an agency's client newsletter, a
// translator's invoice, a processor's statement and its "no setup fees", a conference badge, a
// chamber's directory, a registrar's renewal notice, a bank's business newsletter, a phone bill,
// a host's renewal, a fair writing to last year's exhibitor); ordinary wordings that share one
// trait with a genre, and legitimate mail a first version matched, stay quiet; a genre with the
// opt-out apparatus or from a free-mail address fires the combination metas; helpers never
// appear in a verdict; one genre alone is delivered. A failure names the rule and prints the
// verdict or the message.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits7B2bTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// Every id of 75-genres-b2b.rules that can appear in a verdict (helpers cannot).
const char* const kAllB2b[] = {
    "B2B_FACTORY",   "B2B_OUTSOURCE",  "B2B_MERCHANT",   "B2B_LEADS",
    "B2B_DIRECTORY", "B2B_NAME_SLAM",  "B2B_FUNDING",    "B2B_OFFICE",
    "B2B_HOSTING",   "B2B_TRADE_SHOW", "B2B_AND_OPTOUT", "B2B_FROM_FREEMAIL",
};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllB2b, what); }

// One genre: the spam form that must fire `id`, and the nearest legitimate message that must
// fire nothing of this file and be delivered.
struct Case {
  const char* id;
  const char* spam_body;
  const char* legit_body;
};

const Case kCases[] = {
    {"B2B_FACTORY",
     "Dear Purchasing Manager,\nWe are a professional manufacturer of LED panel lights in Shenzhen. OEM/ODM orders are welcome, MOQ 100 pcs, FOB Shenzhen price on request. Free samples are available.\nBest regards, Lily",
     "Dear Ms. Tanaka,\nThank you for order 4471. As agreed, the FOB Shenzhen price is USD 3.20 per piece with an MOQ of 500 pcs; payment terms: T/T 30% deposit. The pre-production samples ship on Friday.\nBest regards, Lily"},
    {"B2B_FACTORY",
     "Dear Sir/Madam,\nSince founded in 1998, Ningbo Bright Co., Ltd. has focused on manufacturing garden tools. We offer competitive prices and high quality, and we welcome you to visit our factory.",
     "Hello Ken,\nWe visited the Ningbo plant last week. Their garden tools are good quality and the prices are competitive; I suggest we ask for a second quotation before the board meeting."},
    {"B2B_FACTORY",
     "Hello friend,\nThis is Lily from Xiamen Sunrise Industry Co., Ltd. Our main products are stainless steel cookware and kitchen tools. OEM orders are welcome. Should any of these items be of interest to you, please let me know.",
     "Hello Lily,\nOur main products this season are the cookware sets you supplied last year; please send the updated price list and the lead time for 2,000 sets."},
    {"B2B_OUTSOURCE",
     "Hi,\nYour website has some errors that keep it off the first page. We are a web design company with 8 years of experience; would you be interested in redesigning it?",
     "Hi,\nThe contractor found some errors in the checkout page of our website; the web design company we hired last year will fix them under the warranty."},
    {"B2B_FACTORY",
     "Dear Sir/Madam,\nWe are a professional freight forwarder based in Shenzhen, China. FCL/LCL by sea, air freight and DDP door to door service to the USA and Europe.",
     "Dear Ms. Ito,\nYour FCL/LCL bookings for week 12 are confirmed; the container leaves Shenzhen on Tuesday and the bill of lading follows by e-mail."},
    {"B2B_OUTSOURCE",
     "Hello,\nOur team of 200 translators covers 40 languages, only $0.06 per word, at a fraction of the cost of local agencies.",
     "Hello,\nOur team of 12 translators finished the manual; the invoice at $0.12 per word for 18,400 words is attached."},
    {"B2B_OUTSOURCE",
     "Your business deserves a professional logo. Our designers will create a custom logo for only $99, with unlimited revisions.",
     "The logo design studio sent three drafts for the new brand; we choose one at Friday's meeting and pay their invoice after that."},
    {"B2B_OUTSOURCE",
     "Hello,\nI noticed your website is not mobile friendly. We are an offshore software development company with our team of 120 developers in Pune. Hire dedicated PHP developers starting at $15/hour, at a fraction of the cost of a local agency.",
     "Dear clients,\nThis quarter our team of 40 developers shipped the new booking app for the city library. Thank you for trusting us; invoices for December go out on the 5th as usual."},
    {"B2B_MERCHANT",
     "Accept credit cards today!\nNo set up fees. All credit types accepted. Retail rates as low as 1.60%. 99% of our applicants are approved. We will beat anybody's deal by 15%.",
     "Your merchant account statement for October is ready. You accepted 412 card payments; the processing rate on your plan is 2.9% plus 30 cents. No action is needed."},
    {"B2B_MERCHANT",
     "Get a merchant account approved within 48 hours, for any business. Bad credit? 95% of applicants are approved.",
     "Start accepting credit cards online today: no setup fees, no monthly fees, and payouts to your bank in two days. Read the pricing page for details."},
    {"B2B_MERCHANT",
     "Lower your credit card processing fees: we offer a free statement analysis and we will beat your current rate.",
     "From 1 March we are lowering your processing rate from 2.9% to 2.7%. Your next statement will show the new rate; nothing changes in your terminal."},
    {"B2B_LEADS",
     "Hi,\nWould you be interested in acquiring the attendees list of MedTech Expo 2025? We have 45,000 verified contacts; each record includes contact name, title, email, phone number. Please let me know your target audience so I can send you the counts and pricing.\nRegards, Emma",
     "Hi,\nYour badge for MedTech Expo 2025 is ready. The attendee list in the event app lets you message other registered attendees; exhibitors never receive your e-mail address unless you scan your badge at their stand."},
    {"B2B_DIRECTORY",
     "Dear business owner,\nPlease update your company details free of charge in the World Trade Register. By signing and returning this form you place an order; the annual fee is EUR 995 for a minimum period of three years.",
     "Dear member,\nPlease verify your listing in the member directory before 31 January. Membership dues for 2026 are invoiced separately in January."},
    {"B2B_DIRECTORY",
     "Congratulations! You have been selected for inclusion in the 2026 edition of Who's Who among executives and professionals. Reply to confirm your biography.",
     "Our alumni magazine has a new who's who page: send us a line about your career and we will print it in the spring issue."},
    {"B2B_NAME_SLAM",
     "Dear CEO,\nWe are a domain name registration organization in Shanghai. We received a formal application from Hengda Trading Ltd to register \"yourbrand\" as their internet keyword and China (CN) domain names. We need to confirm whether this company is your business partner or distributor.",
     "Your domain example.com expires on 3 March 2026. It renews automatically for USD 12.99 per year with the card on file; to cancel auto-renewal, sign in to your account."},
    {"B2B_NAME_SLAM",
     "Dear Manager,\nWe received an application from Sunway Holdings to register \"yourbrand\" as their brand name and domain names (yourbrand.cn, yourbrand.asia). If you do not reply within 7 workdays we will unconditionally approve it.",
     "The committee will unconditionally approve the budget once the auditors sign; the application for the new domain name of the shop is with the registrar."},
    {"B2B_NAME_SLAM",
     "DOMAIN NAME EXPIRATION NOTICE for yourbrand.com. Failure to complete your search engine registration by the expiration date may result in the loss of your online listing. This is not a bill.",
     "Expiration notice: the TLS certificate for mail.example.com expires in 14 days. The ACME client will renew it tonight; no action is needed."},
    {"B2B_FUNDING",
     "Need working capital? Get up to $250,000 for your business with funds in your account within 24 hours, even if the bank said no. One-page application, no collateral needed.",
     "Our small business line of credit now has a lower rate. Apply at any branch; decisions usually take five business days and depend on your accounts."},
    {"B2B_OFFICE",
     "Conference calls at only 18 cents per minute, including long distance! No setup fees, no contracts. Connect up to 100 participants.",
     "Your calls this month: 214 minutes at 4.5 cents per minute, total $9.63. The invoice is attached; thank you for being a customer."},
    {"B2B_OFFICE",
     "Promotional pens imprinted with your logo: 500 pieces, free artwork, ships in 5 days.",
     "The pens imprinted with your logo were delivered to reception this morning; please sign the delivery note and return it to us."},
    {"B2B_HOSTING",
     "Dear webmaster,\nBusiness hosting from only $4.95 per month: 10 mailboxes, 50 GB of space, free SSL. Reply today.",
     "Your hosting plan renews at $9.95 per month on 1 December. Your card ending in 4242 will be charged; you can change plans in the control panel."},
    {"B2B_TRADE_SHOW",
     "Dear Sir/Madam,\nCould you please forward this mail to the concerned person in your organisation? Exhibitions India invites you to participate in the 12th Convergence Expo in New Delhi.",
     "Dear Mr. Sato,\nThank you for exhibiting with us last year. Stand bookings for the 2026 fair open on 1 March; your account manager will call you next week."},
};

TEST_F(Traits7B2bTest, EachGenreFiresOnItsSpamAndStaysQuietOnTheNearestLegitimateMail) {
  for (const Case& c : kCases) {
    const Verdict spam = scan(testing::text_letter(c.spam_body, "Business proposal"));
    EXPECT_TRUE(spam.has(c.id)) << c.id << " missed:\n" << c.spam_body << "\n" << spam.to_text();
    expect_quiet(scan(testing::text_letter(c.legit_body, "Your account")), std::string(c.id) + " legit: " + c.legit_body);
  }
}

// Ordinary business wording that shares one trait with a genre (the second trait is what the
// genre adds), and legitimate mail that a first version of the rules matched: each must fire
// nothing of this file.
TEST_F(Traits7B2bTest, OrdinaryBusinessWordingIsQuiet) {
  const char* const kOrdinary[] = {
      "Dear Sir/Madam,\nI am writing to complain about the late delivery of order 5521. Please forward this to the concerned person.",
      "We are a leading manufacturer of dental chairs, and this newsletter tells our customers about the new model.",
      "Free samples are available at our stand B12; come and see the new fabrics.",
      "The new laptops cost a fraction of the price of last year's and our team of 12 engineers likes them.",
      "Working capital was tight in the third quarter; the board approved the business loan from our bank.",
      "Our company accepts all major credit cards online and by phone.",
      "No setup fees, no contracts: the new phone plan for our office starts in May.",
      "The exhibition opens on Monday; the stand is ready and the booth staff have their badges.",
      "Hosting costs rose to $40 per month after the upgrade, see the attached invoice.",
      "This is not a bill: your statement shows a zero balance.",
      // A trademark watch service: another applicant and a deadline in business days.
      "Trademark watch: the office received an application from Acme Ltd to register ACMEX as a trademark in class 9. If you wish to oppose it, tell us within 10 business days and we will file the opposition.",
      // A registrar's reminder says "failure to renew" and "this is not a bill".
      "Your domain example.com expires on 3 March. Failure to renew by the expiration date may stop your web site and mail. This is not a bill; the card on file will be charged.",
      // A paid directory the company ordered, with its annual fee.
      "Please verify your listing in the Osaka Exporters Directory. The annual fee of $450 for your listing will be charged in January.",
      // A colleague's question to a partner with developers.
      "Would you be interested in building the prototype with our team of 5 developers? We could start in April.",
      // Sales talk inside a company: leads, price and cost.
      "We need more qualified leads next quarter; let's go over price and cost with finance on Tuesday.",
  };
  for (const char* body : kOrdinary) expect_quiet(scan(testing::text_letter(body, "Note")), body);
}

TEST_F(Traits7B2bTest, GenreWithOptOutApparatusFiresTheCombination) {
  const Verdict v = scan(testing::text_letter(
      "Accept credit cards today! All credit types accepted, 99% of our applicants are approved.\n"
      "To be removed from our list, reply with REMOVE in the subject.",
      "Merchant account"));
  EXPECT_TRUE(v.has("B2B_MERCHANT")) << v.to_text();
  EXPECT_TRUE(v.has("B2B_AND_OPTOUT")) << v.to_text();
  const Verdict alone = scan(testing::text_letter("Accept credit cards today! All credit types accepted.", "Merchant account"));
  EXPECT_TRUE(alone.has("B2B_MERCHANT")) << alone.to_text();
  EXPECT_FALSE(alone.has("B2B_AND_OPTOUT")) << alone.to_text();
}

TEST_F(Traits7B2bTest, GenreFromFreeMailFiresTheCombination) {
  const std::string body = "Accept credit cards today! All credit types accepted.";
  const Verdict freemail = scan(testing::text_letter(body, "Merchant account", "Sales <merchantdesk2291@yahoo.com>"));
  EXPECT_TRUE(freemail.has("B2B_MERCHANT")) << freemail.to_text();
  EXPECT_TRUE(freemail.has("B2B_FROM_FREEMAIL")) << freemail.to_text();
  const Verdict own = scan(testing::text_letter(body, "Merchant account", "Sales <sales@payments.example>"));
  EXPECT_TRUE(own.has("B2B_MERCHANT")) << own.to_text();
  EXPECT_FALSE(own.has("B2B_FROM_FREEMAIL")) << own.to_text();
  // A friend writing from free mail about an ordinary business matter: no genre, no meta.
  expect_quiet(scan(testing::text_letter("Our shop accepts credit cards now, come and see us on Saturday.", "News",
                            "Ken <ken.sato@gmail.com>")),
               "friend from free mail");
}

TEST_F(Traits7B2bTest, HelpersNeverAppearAndOneGenreAloneIsDelivered) {
  const Verdict v = scan(testing::text_letter(kCases[0].spam_body, "Business proposal"));
  ASSERT_TRUE(v.has("B2B_FACTORY")) << v.to_text();
  for (const auto& c : v.contributions) EXPECT_NE(c.id.rfind("__B2B_", 0), 0u) << c.id;
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
}

}  // namespace
}  // namespace tsubame::filter
