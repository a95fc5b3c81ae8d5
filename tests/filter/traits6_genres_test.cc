// tests/filter/traits6_genres_test.cc: the shipped conf/rules/71-genres-en.rules on messages we
// write ourselves: every genre meta fires on a message of the English spam genre it describes
// (diplomas without study, HGH, enlargement, slimming patches, replica watches, OEM software,
// credit repair, quote come-ons, descramblers and spy software, cheap ink, bulk mail for hire,
// search-engine submission, free grants, psychics, penny-stock touts, envelope stuffing and
// chain letters, free vacations) and stays quiet on the nearest legitimate message (a
// registrar's replacement diploma, a clinical trial of growth hormone, a fitness club's
// results, a licence renewal at real prices, a bank statement, a financial-aid notice, a
// broker's research note ...); wordings close to a genre that a first version of the rules
// matched stay quiet; two genres, or a genre with the opt-out apparatus of 67-traits3, fire
// the combination metas; helpers never appear in a verdict. A failure names the rule and
// prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits6GenresTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// Every id of 71-genres-en.rules that can appear in a verdict (helpers cannot).
const char* const kAllGenres[] = {
    "GENRE_DIPLOMA", "GENRE_HGH", "GENRE_ENLARGE", "GENRE_WEIGHT_LOSS",
    "GENRE_REPLICA", "GENRE_OEM_SOFTWARE", "GENRE_CREDIT", "GENRE_QUOTE",
    "GENRE_DESCRAMBLER_SPY", "GENRE_INK_TONER", "GENRE_BULK_AD", "GENRE_WEB_TRAFFIC",
    "GENRE_GRANTS", "GENRE_PSYCHIC", "GENRE_PENNY_STOCK", "GENRE_WORK_HOME",
    "GENRE_SWEEPSTAKES", "GENRE_TOBACCO", "GENRE_SEVERAL", "GENRE_AND_OPTOUT",
};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllGenres, what); }

// One genre: the spam form that must fire `id`, and the nearest legitimate message that must
// fire nothing of this file.
using Case = testing::LetterCase;

const Case kCases[] = {
    {"GENRE_DIPLOMA",
     "Obtain a prosperous future! Diplomas from prestigious non-accredited universities based on your present knowledge and life experience. No required tests, classes, books, or interviews. Bachelors, masters, MBA, and doctorate (PhD) diplomas available in the field of your choice. No one is turned down. Call 1-212-555-0147 24 hours a day.",
     "Your future",
     "Dear graduate, the Registrar can mail a replacement copy of your university diploma for a fee of $30. Adult learners may earn credit for prior learning and life experience toward their degree; ask the admissions office about the assessment.",
     "Registrar: replacement diplomas"},
    {"GENRE_DIPLOMA",
     "Here is how to receive your university diploma. No exams, no classes. Call us anytime!",
     "Get a Bachelor's degree in 2 weeks",
     "Congratulations on finishing your thesis. You will receive your degree at the ceremony in June; the diploma is mailed afterwards.",
     "PhD defense in 3 weeks"},
    {"GENRE_HGH",
     "Remarkable discoveries about Human Growth Hormone (HGH): the fountain of youth. Look and feel 20 years younger, lose body fat while you build muscle.",
     "Free HGH trial",
     "Endocrinology update: the trial of human growth hormone therapy in children with short stature has closed its enrolment. Results are expected next year.",
     "Trial update"},
    {"GENRE_ENLARGE",
     "Our herbal pills will enlarge your penis 3 inches naturally. Satisfy your woman in bed every time.",
     "Be a man",
     "Urology clinic newsletter: erectile problems are common after fifty. Talk to your doctor before you buy supplements sold online; some contain hidden drugs.",
     "Clinic newsletter"},
    {"GENRE_WEIGHT_LOSS",
     "The new slimming patch: guaranteed to lose 10-12 lbs in 30 days without dieting or exercise!",
     "Slim down",
     "Our spring bootcamp helped members lose 10 pounds in 8 weeks with training three times a week and a sensible diet. Orlistat is not an appetite suppressant; ask your pharmacist before taking any diet pill.",
     "Bootcamp results"},
    {"GENRE_REPLICA",
     "Swiss replica watches of the best quality: Rolex watches from $199, Cartier and Breitling too.",
     "Luxury for less",
     "The museum shop now sells a replica of the Antikythera mechanism. Your Rolex Submariner service is complete; the invoice is $650.",
     "Museum shop"},
    {"GENRE_OEM_SOFTWARE",
     "Top software at low prices:\nWindows XP Professional $50\nOffice XP Pro $60\nAdobe Photoshop 7.0 $60\nMacromedia Studio MX $80\nDownload instantly.",
     "Software sale",
     "Volume licensing renewal: Windows Server 2022 Standard at $1,069 per core pack, Adobe Acrobat Pro at $239.88 per year. Please approve by Friday.",
     "Licence renewal"},
    {"GENRE_OEM_SOFTWARE",
     "Cheap OEM software download: all the programs you need.",
     "Softwares",
     "Our OEM software licensing terms for system builders are attached; please sign page 4.",
     "OEM agreement"},
    {"GENRE_CREDIT",
     "Bad credit? No problem! Guaranteed approval for an unsecured Visa card regardless of your credit history.",
     "Approved",
     "Your credit card statement is ready. You can check your credit report for free once a year. The best credit cards for bad credit in 2025 are reviewed in our guide. Prepaid plan: no credit check, no annual contract.",
     "Your statement"},
    {"GENRE_QUOTE",
     "Let lenders compete for your loan! Free mortgage quotes in seconds: fill out our short form and get rates from lenders near you.",
     "Lower your rate",
     "Hi Tom, I got three quotes for the office insurance; the broker thinks the rates will rise next year. Can we compare them on Monday?",
     "Insurance quotes"},
    {"GENRE_DESCRAMBLER_SPY",
     "Cable TV descrambler: watch all the pay-per-view movies for free!",
     "Free cable",
     "Your cable TV bill: the premium channels package is free for three months, then $10 a month. Our hidden cameras now cover the loading dock.",
     "Your bill"},
    {"GENRE_DESCRAMBLER_SPY",
     "Astounding new software lets you find out almost anything about anyone: your friends, your boss, your neighbours.",
     "Uncover the truth about anyone",
     "Background checks for new hires are done by the agency; HR will tell you what they found out about the candidate.",
     "Hiring"},
    {"GENRE_INK_TONER",
     "Tired of spending a fortune on printer cartridges? Refill your own inkjet cartridges for pennies.",
     "Ink",
     "Office supplies this week: save 20% on ink and toner cartridges with code SPRING.",
     "Weekly deals"},
    {"GENRE_BULK_AD",
     "We will send your ad to 2 million people for only $99! Fax broadcasting also available.",
     "Advertise",
     "Send your newsletter to 2,000 subscribers free each month. In the news: a breach exposed 500 million e-mail addresses.",
     "Monthly update"},
    {"GENRE_WEB_TRAFFIC",
     "We will submit your website to over 300,000 search engines and directories. Get top placement in all major search engines.",
     "Your site",
     "Agency report: organic traffic to the site grew 12% after the redesign, and we now rank first for 'kyoto ryokan'.",
     "Monthly SEO report"},
    {"GENRE_GRANTS",
     "Free government grants you never have to repay! Billions in grant money go unclaimed every year.",
     "Grants",
     "Financial aid: grants are money that you don't have to repay. The deadline for the state grant is March 1.",
     "Financial aid"},
    {"GENRE_PSYCHIC",
     "Call now for your free psychic reading! Talk to a live psychic tonight.",
     "Your future",
     "The Sunday edition has the horoscope, the crossword and two new puzzles.",
     "Sunday edition"},
    {"GENRE_PENNY_STOCK",
     "Symbol: ABCD. Current price: $0.12. 5-day target: $0.85. We were paid $5,000 by a third party for the dissemination of this report.",
     "Watch this one",
     "Quarterly research note: we keep our target price of $145 on the shares. The memset will explode if the offsets are wrong, as the patch notes say.",
     "Research note"},
    {"GENRE_WORK_HOME",
     "Earn $2 for every envelope you stuff! Remove the name in position 5 and put your name in the #1 position. This is legal and not a chain letter.",
     "Work at home",
     "Hi Mum, I'm stuffing envelopes for the school fair this weekend, and this is not a chain letter, just the rota.",
     "Weekend"},
    {"GENRE_TOBACCO",
     "We deliver 4 cartons of cigarettes or 40 pouches of rolling tobacco by registered air mail, direct to your door.",
     "Smokers",
     "The customs officers seized contraband cigarettes at the port. Remember that the office is a no-smoking building.",
     "Building notice"},
    {"GENRE_SWEEPSTAKES",
     "Congratulations! You have been selected to receive a free vacation certificate. Claim your cruise today.",
     "Notice",
     "Your airline miles: redeem your award travel before December. Redeem your gift certificate in any store.",
     "Miles"},
};

TEST_F(Traits6GenresTest, EachGenreFiresOnItsSpam) {
  testing::expect_each_fires(*filter_, kCases);
}

TEST_F(Traits6GenresTest, NearestLegitimateMessageIsQuiet) {
  testing::expect_each_legit_quiet(*filter_, kCases, kAllGenres);
}

// Every genre meta of the file has at least one spam case above.
TEST_F(Traits6GenresTest, EveryGenreHasACase) {
  for (const char* id : kAllGenres) {
    const std::string s(id);
    if (s == "GENRE_SEVERAL" || s == "GENRE_AND_OPTOUT") continue;
    bool found = false;
    for (const Case& c : kCases) found = found || s == c.id;
    EXPECT_TRUE(found) << id << " has no case";
  }
}

// Wordings close to a genre: most fired a first version of a rule (male enhancement in the
// news, an airline's complimentary upgrade, security news on bulletproof hosting and address
// harvesters, a sales agent's commission, a set-top box's descrambler, a university's "degree
// you deserve", a pharmacy leaflet on diet pills, news of counterfeit watches, a newsletter
// tool, a leak of 500 million addresses).
const char* const kOrdinary[][2] = {
    {"The FDA warned consumers about male enhancement products sold online that contain hidden drugs.",
     "Health news"},
    {"Congratulations, you have been selected to receive a complimentary upgrade on flight JL 5 tomorrow.",
     "Your upgrade"},
    {"Criminals rent bulletproof hosting for their botnets, and e-mail harvesters scrape addresses from web pages.",
     "Security digest"},
    {"As agreed, your commission is 10% of each transaction you close in the Kansai region.",
     "Your contract"},
    {"The CSA descrambler in the set-top box handles the control words.",
     "Set-top box design"},
    {"Penny stocks are risky. The option will double the read speed, and the old code will explode on large inputs.",
     "Notes"},
    {"Get your college degree online: the degree you deserve, on your schedule, from an accredited university.",
     "Evening programmes"},
    {"Regular exercise helps you lose weight; Orlistat is not an appetite suppressant. Ask your pharmacist about diet pills.",
     "Pharmacy leaflet"},
    {"Earn credit for life experience: our prior learning assessment counts your work toward a degree.",
     "Adult learners"},
    {"Compare quotes and rates from our partners in the app. Your policy renews on 1 April.",
     "Renewal"},
    {"Police seized counterfeit watches and fake handbags at the port; the Rolex Submariner service costs $650.",
     "Local news"},
    {"On the way back I bought duty-free cigarettes at the airport for my uncle.",
     "Trip"},
    {"Send your message to thousands of subscribers with our newsletter tool. A breach exposed 500 million e-mail addresses.",
     "Product news"},
};

TEST_F(Traits6GenresTest, OrdinaryWordingCloseToAGenreIsQuiet) {
  for (const auto& o : kOrdinary) expect_quiet(scan(testing::text_letter(o[0], o[1])), o[0]);
}

TEST_F(Traits6GenresTest, TwoGenresFireSeveral) {
  Verdict v = scan(testing::text_letter("HGH is the fountain of youth: look 20 years younger! Also: free government grants you never have to repay.", "Two offers"));
  EXPECT_TRUE(v.has("GENRE_HGH")) << v.to_text();
  EXPECT_TRUE(v.has("GENRE_GRANTS")) << v.to_text();
  EXPECT_TRUE(v.has("GENRE_SEVERAL")) << v.to_text();
  EXPECT_FALSE(v.has("GENRE_AND_OPTOUT")) << v.to_text();
}

TEST_F(Traits6GenresTest, GenreWithOptOutApparatusFiresCombination) {
  Verdict v = scan(testing::text_letter("Call now for your free psychic reading!\nTo be removed from our list, please allow 48 hours for removal.", "Your future"));
  EXPECT_TRUE(v.has("GENRE_PSYCHIC")) << v.to_text();
  EXPECT_TRUE(v.has("REMOVAL_DELAY")) << v.to_text();
  EXPECT_TRUE(v.has("GENRE_AND_OPTOUT")) << v.to_text();
  EXPECT_FALSE(v.has("GENRE_SEVERAL")) << v.to_text();
  // The opt-out apparatus alone is not a genre.
  Verdict alone = scan(testing::text_letter("Our spring catalogue is attached.\nTo be removed from our list, please allow 48 hours for removal.", "Catalogue"));
  EXPECT_TRUE(alone.has("REMOVAL_DELAY")) << alone.to_text();
  EXPECT_FALSE(alone.has("GENRE_AND_OPTOUT")) << alone.to_text();
}

// Helpers score nothing and never appear in a verdict.
TEST_F(Traits6GenresTest, HelpersNeverAppear) {
  for (const Case& c : kCases) {
    Verdict v = scan(testing::text_letter(c.spam_body, c.spam_subject));
    for (const auto& contribution : v.contributions)
      EXPECT_NE(contribution.id.rfind("__G_", 0), 0u) << contribution.id;
  }
}

// One genre alone stays below the junk threshold: the scores are modest on purpose.
TEST_F(Traits6GenresTest, OneGenreAloneIsNotJunk) {
  Verdict v = scan(testing::text_letter("Let lenders compete for your loan! Fill out our short form today.", "Rates"));
  EXPECT_TRUE(v.has("GENRE_QUOTE")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
}

}  // namespace
}  // namespace tsubame::filter
