// tests/filter/traits7_consumer_test.cc: the shipped conf/rules/76-genres-consumer.rules on
// messages we write ourselves: every genre meta fires on a message of the consumer spam genre
// it describes (track erasers, people searches, seized-goods auctions, hosting offers, MLM
// and cash gifting, gifts for a survey, auto warranties, timeshare resale, real-estate
// riches, cash for notes and gold, resale rights, legal plans, quit smoking, anti-spam
// software, lottery systems, love spells, DVD copying, unclaimed-money finders, discount
// health cards, payday loans, trading robots, free goods for the postage, injury-lawsuit
// leads, miracle remedies) and stays quiet on the nearest legitimate message (a browser's
// help page, a hiring firm's screening offer, news of a police seizure, a dealer's warranty
// reminder, a resort's owner letter, a state treasurer's unclaimed-property notice, an ISP's
// filter notice ...); wordings close to a genre that a version of the rules matched stay
// quiet; two genres, or a genre with bulk mail's opt-out apparatus, fire the combination
// metas; helpers never appear in a verdict. A failure names the rule and prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits7ConsumerTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// Every id of 76-genres-consumer.rules that can appear in a verdict (helpers cannot).
const char* const kAllGenres[] = {
    "GENRE_TRACK_ERASER",      "GENRE_PEOPLE_SEARCH",     "GENRE_SEIZED_AUCTION",
    "GENRE_HOSTING_OFFER",     "GENRE_MLM",               "GENRE_SURVEY_GIFT",
    "GENRE_AUTO_WARRANTY",     "GENRE_TIMESHARE",         "GENRE_REAL_ESTATE",
    "GENRE_CASH_FOR_PAYMENTS", "GENRE_RESELL_RIGHTS",     "GENRE_LEGAL_PLAN",
    "GENRE_QUIT_SMOKING",      "GENRE_ANTISPAM_SOFTWARE", "GENRE_LOTTERY_SYSTEM",
    "GENRE_LOVE_SPELL",        "GENRE_COPY_DOWNLOAD",     "GENRE_UNCLAIMED_MONEY",
    "GENRE_HEALTH_CARD",       "GENRE_PAYDAY",            "GENRE_TRADING_ROBOT",
    "GENRE_FREE_PAY_SHIPPING", "GENRE_LAWSUIT_LEADS",     "GENRE_MIRACLE_REMEDY",
    "GENRE_CONSUMER_SEVERAL",  "GENRE_CONSUMER_AND_OPTOUT",
};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllGenres, what); }

// One genre: the spam form that must fire `id`, and the nearest legitimate message that must
// fire nothing of this file.
using Case = testing::LetterCase;

const Case kCases[] = {
    {"GENRE_TRACK_ERASER",
     "Did you know that your boss can easily see every web site you have ever visited? Erase your internet tracks today with one click.",
     "Protect your privacy",
     "To delete your browsing history, open Settings, choose Privacy and select Clear browsing data. Your employer's IT policy on monitoring is on the intranet.",
     "How to clear your history"},
    {"GENRE_PEOPLE_SEARCH",
     "Search criminal records, arrest records, marriage and divorce records in all 50 states. Run a background check on your date before you meet!",
     "Who are you dating?",
     "Our employment screening covers criminal records and education checks for your job applicants, in line with the Fair Credit Reporting Act.",
     "Pre-employment screening"},
    {"GENRE_PEOPLE_SEARCH",
     "Locate anyone by name, instantly. Unlimited searches for one low price.",
     "Find them now",
     "The parish archive holds birth, marriage and death records from 1850; appointments for the reading room are on Tuesdays.",
     "Archive opening hours"},
    {"GENRE_SEIZED_AUCTION",
     "Awesome deals on seized and unclaimed property the government auctions to the public. Cars from $100, jewelry, boats and more!",
     "FBI & IRS seized goods at 99% off!",
     "Police seized property worth $2 million in the raid on Tuesday; the court will decide on forfeiture next month.",
     "Raid in the harbour district"},
    {"GENRE_HOSTING_OFFER",
     "Web hosting from as little as $4.95 per month, with 10 e-mail accounts and 500 MB of space.",
     "Hosting for your business",
     "Your hosting account renews on 3 March at the annual price of your plan. No action is needed if your card on file is valid.",
     "Renewal reminder"},
    {"GENRE_MLM",
     "Join our pre-launch today and secure your position: get paid for every person who joins under you, plus commissions from spillover in the matrix!",
     "Be first",
     "Quarterly review: the new subsidy had spillover effects on neighbouring regions, and the sales team beat its target for new members who joined.",
     "Economics brief"},
    {"GENRE_MLM",
     "A POWERHOUSE gifting program you don't want to miss! Leverage $1,000 into $50,000 over and over again.",
     "Cash flow",
     "Our corporate gifting service delivers your holiday gifts to clients; the order deadline is 10 December.",
     "Holiday gifts"},
    {"GENRE_SURVEY_GIFT",
     "Get a free $500 Walmart gift card just for completing our short 2-minute survey!",
     "You have been chosen",
     "Thank you for shopping with us. Tell us about your visit in our survey for a chance to win a $100 gift card.",
     "How did we do?"},
    {"GENRE_SURVEY_GIFT",
     "Your free Apple laptop is waiting. Offer participation required: complete 2 sponsor offers to qualify.",
     "Reserved for you",
     "Reward points: redeem 5,000 points for a $50 gift card in the app. Points expire after two years.",
     "Your points balance"},
    {"GENRE_AUTO_WARRANTY",
     "Our records show your factory warranty may have expired. Protect yourself from costly repairs with an extended auto warranty. Final notice: call for a free quote.",
     "Vehicle warranty notice",
     "Your car's factory warranty ends in March. At your next service we can tell you about our manufacturer-backed service plan.",
     "Service reminder"},
    {"GENRE_TIMESHARE",
     "We have buyers waiting for your timeshare! Sell your timeshare fast; our resale experts handle everything.",
     "Timeshare owners",
     "Dear owner, your timeshare week 32 is confirmed. Maintenance fees for the coming year are due on 1 March; exchange requests open in January.",
     "Owner update"},
    {"GENRE_REAL_ESTATE",
     "Learn how to buy houses with no money down and pick up foreclosures for pennies on the dollar.",
     "Real estate seminar",
     "VA loans let veterans buy a home with no money down. Our counsellors can help you avoid foreclosure if you fall behind.",
     "Homebuyer newsletter"},
    {"GENRE_CASH_FOR_PAYMENTS",
     "Do you receive payments from a structured settlement or an annuity? Get cash now for your structured settlement!",
     "Lump sum today",
     "Your whole-life policy has a cash value of $12,400. You may borrow against it; ask your agent before you change the policy.",
     "Annual policy statement"},
    {"GENRE_CASH_FOR_PAYMENTS",
     "Cash for gold! Request your free prepaid envelope, mail in your old jewelry and get a check in 24 hours.",
     "Turn old gold into cash",
     "Gold prices rose again this week; our jewellers value old pieces in store by appointment.",
     "Market note"},
    {"GENRE_RESELL_RIGHTS",
     "You get master resale rights to 5 ebooks: keep 100% of the profits and sell them as many times as you like.",
     "Instant business",
     "Authors keep the rights to their own books. Our platform pays 70% of the list price on each sale of your ebook.",
     "Author newsletter"},
    {"GENRE_LEGAL_PLAN",
     "Have a lawyer on call for only $19 a month: legal protection for pennies a day!",
     "Are you protected?",
     "Open enrolment: the legal plan is one of this year's voluntary benefits; see the benefits portal for the details.",
     "Benefits enrolment"},
    {"GENRE_QUIT_SMOKING",
     "Our herbal stop-smoking spray works: stop smoking in 7 days, guaranteed, without cravings.",
     "Smoke-free at last",
     "If you can stay smoke-free for 28 days, you are five times more likely to quit for good. Ask your pharmacist about support.",
     "Quit this month"},
    {"GENRE_ANTISPAM_SOFTWARE",
     "Stop spam dead in its tracks! Our filter blocks junk e-mail forever. Download now for only $19.95.",
     "No more spam",
     "Our new filter blocks spam before it reaches your inbox. You can release held messages from the quarantine page.",
     "Mail service update"},
    {"GENRE_LOTTERY_SYSTEM",
     "The lotto wheeling system that lets you win the lottery again and again. Increase your chances of winning today!",
     "Win big",
     "The state lottery system raised $1.2 billion for schools last year, the auditor's report says.",
     "Lottery audit"},
    {"GENRE_LOVE_SPELL",
     "Dr. Okoro cast a powerful love spell for me and my husband came back within 48 hours. Contact him for your love spell.",
     "Testimony",
     "Our game's new spellcaster class arrives in the summer update, with twelve spells and a love potion quest.",
     "Summer update"},
    {"GENRE_COPY_DOWNLOAD",
     "Copy any DVD or Playstation game with this software. Never buy another DVD again!",
     "Backup your movies",
     "Your streaming plan includes unlimited films and series for $9.99 a month; cancel at any time.",
     "Your plan"},
    {"GENRE_COPY_DOWNLOAD",
     "Watch 3,000 satellite TV channels on your PC! No monthly fees, one-time download.",
     "TV for free",
     "Watch live TV on your computer with our app, included in your cable plan at no extra charge this month.",
     "New: TV everywhere"},
    {"GENRE_UNCLAIMED_MONEY",
     "Locate and claim your lost cash! Millions of people are eligible to claim unknown cash windfalls. The initial search is free.",
     "Do we have your money?",
     "The State Treasurer holds unclaimed property such as forgotten bank accounts. Search your name free of charge on the treasury website.",
     "Unclaimed property week"},
    {"GENRE_HEALTH_CARD",
     "Save 50% off prescription drugs and 30% off doctor visits. You cannot be turned down!",
     "Your health card",
     "Members save 20% off vision care at partner opticians. Your plan year begins on 1 January.",
     "Member benefits"},
    {"GENRE_PAYDAY",
     "Payday loans with no faxing and no credit check: get up to $1,500 before your next payday!",
     "Cash today",
     "Your payday is moving to the 25th from next month; the payroll team will confirm by e-mail.",
     "Payroll change"},
    {"GENRE_TRADING_ROBOT",
     "This forex robot trades for you on autopilot with a 92% win rate.",
     "Make money now",
     "Our market note: the euro fell against the dollar; the desk's trading algorithm limits positions by volatility.",
     "Markets today"},
    {"GENRE_FREE_PAY_SHIPPING",
     "Get your FREE teeth-whitening kit today. You only pay $4.95 shipping and handling!",
     "Your free kit",
     "Thank you for your order of the whitening kit ($24.00). Shipping: $4.95. Total: $28.95.",
     "Order confirmation"},
    {"GENRE_LAWSUIT_LEADS",
     "If you or a loved one was diagnosed with mesothelioma after exposure to asbestos, you may be entitled to financial compensation. Call for a free case review.",
     "Important legal notice",
     "If you or a loved one has been diagnosed with cancer, our support group meets on Thursdays. Class-action notice: if you purchased the product, you may be eligible for a payment.",
     "Patient support"},
    {"GENRE_MIRACLE_REMEDY",
     "Stop snoring tonight with our herbal throat spray. Order now, money-back guarantee!",
     "Sleep again",
     "Five tips to stop snoring: sleep on your side, avoid alcohol before bed, and see your doctor if it persists.",
     "Health newsletter"},
    {"GENRE_MIRACLE_REMEDY",
     "Regrow your lost hair in 90 days, guaranteed! Claim your free bottle today.",
     "Hair again",
     "Hair loss can follow stress or illness; most people regrow their hair within a year. Talk to your doctor.",
     "Ask the doctor"},
};

TEST_F(Traits7ConsumerTest, EachGenreFiresOnItsSpam) {
  testing::expect_each_fires(*filter_, kCases);
}

TEST_F(Traits7ConsumerTest, NearestLegitimateMessageIsQuiet) {
  testing::expect_each_legit_quiet(*filter_, kCases, kAllGenres);
}

// Every genre meta of the file has at least one spam case above.
TEST_F(Traits7ConsumerTest, EveryGenreHasACase) {
  for (const char* id : kAllGenres) {
    const std::string s(id);
    if (s == "GENRE_CONSUMER_SEVERAL" || s == "GENRE_CONSUMER_AND_OPTOUT") continue;
    bool found = false;
    for (const Case& c : kCases) found = found || s == c.id;
    EXPECT_TRUE(found) << id << " has no case";
  }
}

// Wordings close to a genre: most fired a version of a rule (a software-download newsletter's
// "Privacy Eraser", IT notices on monitoring, a directory that finds people instantly, a
// corporate gifting programme, an insurer's "do not cancel your policy", an ISP's filter
// notice, a resort's cancellation clause, a state's unclaimed-money notice, online poker
// software, economics' spillover, a webinar on a salary survey, a research study's gift
// card, the health timeline of quitting, housing news, a county clerk's records).
const char* const kOrdinary[][2] = {
    {"New this week on the download page: Privacy Eraser 1.68 and a history cleaner for Firefox.", "Downloads"},
    {"Please note that your employer can see which websites you visited on the company network.", "IT policy"},
    {"The new staff directory lets you find people instantly by name or department.", "Intranet"},
    {"Our corporate gifting program delivers to 40 countries.", "Gifts"},
    {"Do not cancel your policy before the new one is in force.", "Your insurance"},
    {"Tired of spam? Our free spam filter software now blocks spam automatically before it reaches your inbox.", "Service news"},
    {"You may cancel your timeshare contract within the five-day rescission period.", "Contract terms"},
    {"Billions of dollars in unclaimed money are waiting to be claimed; there may be money waiting in your name.", "Treasurer"},
    {"Experience the best poker software available, tested over 8 million hands.", "Poker"},
    {"Trade had spillover effects on the region, and the matrix of exposures is in the annex.", "Economics"},
    {"Join our free webinar on the results of this year's salary survey.", "Free webinar: 2025 salary survey results"},
    {"Research study: complete our survey and receive a $20 Amazon gift card for your time.", "Survey: $20 Amazon gift card for participants"},
    {"When you stop smoking heart rate drops in 20 minutes and your lungs begin to heal.", "Why quit"},
    {"Investors made millions from foreclosures during the crisis, the report says.", "Housing news"},
    {"The clerk's office keeps court records, marriage records and land deeds.", "County services"},
    {"Your employer may view all the pages you visited on company devices.", "Acceptable use"},
};

TEST_F(Traits7ConsumerTest, OrdinaryWordingCloseToAGenreIsQuiet) {
  for (const auto& o : kOrdinary) expect_quiet(scan(testing::text_letter(o[0], o[1])), o[0]);
}

TEST_F(Traits7ConsumerTest, TwoGenresFireSeveral) {
  Verdict v = scan(testing::text_letter(
      "1) Claim your $25 Kmart gift card! 2) Extended auto warranty: final notice, get a free quote.", "Offers"));
  EXPECT_TRUE(v.has("GENRE_SURVEY_GIFT")) << v.to_text();
  EXPECT_TRUE(v.has("GENRE_AUTO_WARRANTY")) << v.to_text();
  EXPECT_TRUE(v.has("GENRE_CONSUMER_SEVERAL")) << v.to_text();
  // A genre of this file with one of 71-genres-en counts too.
  Verdict mixed = scan(testing::text_letter(
      "Stop smoking in 7 days, guaranteed! Also: free government grants you never have to repay.", "Two offers"));
  EXPECT_TRUE(mixed.has("GENRE_QUIT_SMOKING")) << mixed.to_text();
  EXPECT_TRUE(mixed.has("GENRE_GRANTS")) << mixed.to_text();
  EXPECT_TRUE(mixed.has("GENRE_CONSUMER_SEVERAL")) << mixed.to_text();
}

TEST_F(Traits7ConsumerTest, GenreWithOptOutApparatusFiresCombination) {
  Verdict v = scan(testing::text_letter("Sell your timeshare fast!\nTo be removed from our list, please allow 48 hours for removal.",
                           "Timeshare owners"));
  EXPECT_TRUE(v.has("GENRE_TIMESHARE")) << v.to_text();
  EXPECT_TRUE(v.has("REMOVAL_DELAY")) << v.to_text();
  EXPECT_TRUE(v.has("GENRE_CONSUMER_AND_OPTOUT")) << v.to_text();
  EXPECT_FALSE(v.has("GENRE_CONSUMER_SEVERAL")) << v.to_text();
  // With a genre of 71-genres-en as well, its own GENRE_AND_OPTOUT counts the apparatus once.
  Verdict both = scan(testing::text_letter(
      "Call now for your free psychic reading! Sell your timeshare fast!\nTo be removed from our list, please allow 48 hours for removal.",
      "Your future"));
  EXPECT_TRUE(both.has("GENRE_PSYCHIC")) << both.to_text();
  EXPECT_TRUE(both.has("GENRE_TIMESHARE")) << both.to_text();
  EXPECT_TRUE(both.has("GENRE_AND_OPTOUT")) << both.to_text();
  EXPECT_FALSE(both.has("GENRE_CONSUMER_AND_OPTOUT")) << both.to_text();
}

// Helpers score nothing and never appear in a verdict.
TEST_F(Traits7ConsumerTest, HelpersNeverAppear) {
  for (const Case& c : kCases) {
    Verdict v = scan(testing::text_letter(c.spam_body, c.spam_subject));
    for (const auto& contribution : v.contributions)
      EXPECT_NE(contribution.id.rfind("__C_", 0), 0u) << contribution.id;
  }
}

// One genre alone stays below the junk threshold: the scores are modest on purpose.
TEST_F(Traits7ConsumerTest, OneGenreAloneIsNotJunk) {
  Verdict v = scan(testing::text_letter("We have buyers waiting for your timeshare.", "Owners"));
  EXPECT_TRUE(v.has("GENRE_TIMESHARE")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
}

}  // namespace
}  // namespace tsubame::filter
