// tests/filter/traits8_export_test.cc: the shipped conf/rules/79-export-trade.rules on messages
// we write ourselves: the export trade's cold letter in English (a factory introducing itself
// with its trade terms, an exporter looking for agents, an Indian maker with its catalogue) and
// in Chinese (in the body, and in the subject with a factory town's address) fires EXPORT_PITCH,
// also with a sender at a Chinese mail provider as one of its traits
// (and EXPORT_PITCH_MANY on the full formula) or EXPORT_ZH_PITCH; a supplier's reply to its
// buyer, its note on an order and a market report with the same trade words stay quiet; a
// spam genre of 69-languages with the bulk list's opt-out in German, Turkish or Chinese fires
// LANG_LIST_AND_PITCH, while the same opt-out in an ordinary newsletter does not; mass mailing
// and address lists sold in Russian, Spanish and Turkish fire LANG_BULK_MAIL_SALE, a shop's
// newsletter, a club's mailing and a directory do not; German adult
// advertising in explicit words fires DE_ADULT_EXPLICIT, a school's letter with such a word
// does not; helpers never appear in a verdict. A failure names the rule and prints the
// verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits8ExportTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// Every id of 79-export-trade.rules that can appear in a verdict (helpers cannot).
const char* const kAllExport[] = {
    "EXPORT_PITCH",        "EXPORT_PITCH_MANY", "EXPORT_ZH_PITCH",
    "LANG_LIST_AND_PITCH", "LANG_BULK_MAIL_SALE", "DE_ADULT_EXPLICIT",
};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllExport, what); }

// The letter of testing::text_letter with the header fields of a reply to a buyer's message.
std::string reply_letter(const std::string& body, const std::string& subject) {
  std::string raw = testing::text_letter(body, subject);
  const std::string at = "MIME-Version: 1.0\r\n";
  raw.insert(raw.find(at), "In-Reply-To: <4471@buyer.example>\r\nReferences: <4471@buyer.example>\r\n");
  return raw;
}

struct FireCase {
  const char* ids;  // space-separated ids that must all fire
  const char* subject;
  const char* body;
};

const FireCase kSpam[] = {
    {"EXPORT_PITCH EXPORT_PITCH_MANY", "LED panel lights",
     "Dear Purchasing Manager,\nGlad to hear that you're in the market for LED lights. We are a professional "
     "manufacturer of LED panel lights in Shenzhen, China. Our products have been exported to more than 60 "
     "countries. OEM/ODM orders are welcome and samples are available for your testing.\nBest regards,\n"
     "Lily Chen, Sales Manager\nTel: +86-755-2345678"},
    {"EXPORT_PITCH", "Handbags and backpacks",
     "Hello friend,\nWe got your email address from Alibaba. Ningbo Sunny Bags is a leading Chinese supplier of "
     "handbags and backpacks. We are looking for agents in your country. Welcome to visit our website "
     "www.sunnybags.example for our full range.\nAmy"},
    {"EXPORT_PITCH EXPORT_PITCH_MANY", "Textile machinery",
     "Dear Sir/Madam,\nWe are one of the leading manufacturers and exporters of textile machinery from India. "
     "Our catalogue and price list are available on request. Quality is our first priority, and customized "
     "designs are welcome.\nRegards, Ravi"},
    {"EXPORT_PITCH", "Garden tools",
     "Hi,\nWe're a leading supplier of garden tools. Our products sell well in Europe and America, and "
     "customized logos are acceptable. Contact us for our catalogue.\nJoe"},
    {"EXPORT_ZH_PITCH", "LED照明",
     "尊敬的客户：\n本公司专业生产LED照明灯具，产品远销欧美。欢迎来电垂询！诚招各地代理。\n电话：0760-2345678"},
    {"EXPORT_ZH_PITCH", "Sunrise lighting 您的满意是我们追求的目标",
     "WEBSITE: www.lighting.example\nTEL: 00-86-760-2345350\nADD: ROOM 401, NO.19 XINXING ROAD, GUZHEN, "
     "ZHONGSHAN, GUANGDONG, CHINA"},
    {"LANG_LIST_AND_PITCH DE_ADULT_EXPLICIT", "Neu im Handel",
     "Die neue Ausgabe ist da! Hunderte private Sexkontakte und geile Hausfrauen, die es kaum erwarten können, "
     "mit dir zu ficken.\nSolltest du an unserem Newsletter kein Interesse mehr haben, dann trage dich bitte "
     "hier aus: http://kontakte.example/aus"},
    {"LANG_LIST_AND_PITCH", "Bonus",
     "Deneme bonusu veren en iyi site! Canlı bahis ve casino oyunları burada.\nE-posta listemizden çıkmak için "
     "tıklayınız."},
    {"LANG_LIST_AND_PITCH EXPORT_ZH_PITCH", "厨具", "本公司专业生产不锈钢厨具，质优价廉，诚招各地代理。\n如需退订请回复。"},
    {"LANG_BULK_MAIL_SALE", "Реклама",
     "Массовая рассылка по базам e-mail адресов! Базы e-mail адресов России, 5 миллионов адресов."},
    {"LANG_BULK_MAIL_SALE", "Publicidad",
     "Envío masivo de correos a millones de emails. Bases de datos de emails a la venta."},
    {"LANG_BULK_MAIL_SALE", "Reklam", "Toplu e-posta gönderimi ile 5 milyon e-posta adresine ulaşın!"},
};

TEST_F(Traits8ExportTest, EachRuleFiresOnItsGenre) {
  for (const FireCase& c : kSpam) {
    const Verdict v = scan(testing::text_letter(c.body, c.subject));
    std::string ids = c.ids;
    for (size_t pos = 0; pos < ids.size();) {
      size_t end = ids.find(' ', pos);
      if (end == std::string::npos) end = ids.size();
      const std::string id = ids.substr(pos, end - pos);
      EXPECT_TRUE(v.has(id)) << id << " missed:\n" << c.body << "\n" << v.to_text();
      pos = end + 1;
    }
  }
}

// The nearest legitimate mail of each genre: fires nothing of this file and is delivered.
TEST_F(Traits8ExportTest, NearestLegitimateMailIsQuiet) {
  struct Legit {
    const char* subject;
    const char* body;
  };
  const Legit kLegit[] = {
      // A supplier's note on its customer's order: trade terms, samples, customised logos and
      // a +86 telephone, but no introduction and no cold approach.
      {"Order 4471",
       "Dear Ms. Tanaka,\nThe FOB Shenzhen price for order 4471 is USD 3.20 per piece with an MOQ of 500 pcs. "
       "Samples are available for your testing next week; customized logos are acceptable at no extra cost.\n"
       "Lily\nTel: +86-755-2345678"},
      // A market report: makers in China, exports, certificates, catalogues, nobody introducing itself.
      {"Market report",
       "Market report, week 12\nSuppliers in China raised prices again this quarter. Chinese manufacturers said "
       "their products are exported to more than 50 countries, and most are CE and RoHS certified. Catalogues "
       "are available on request from the trade office."},
      // A colleague quoting a new vendor's brochure.
      {"Vendor",
       "Hi team,\nWe're a leading supplier of garden tools, says the brochure of the new vendor. Their products "
       "sell well in Europe and America; I asked them for a quotation.\nJoe"},
      // A Chinese supplier's shipping notice with a call.
      {"发货通知", "李总：\n您上周订购的灯具已发货，运单号见附件。有问题欢迎来电。\n王经理"},
      // A German garden newsletter's opt-out, no genre.
      {"Gartenbrief Oktober",
       "Liebe Leserinnen und Leser,\nim neuen Heft lesen Sie alles über den Herbst im Garten.\nNewsletter "
       "abbestellen: klicken Sie hier."},
      // A school's letter with explicit words but no adult advertising.
      {"Elternabend",
       "Liebe Eltern,\nim Aufklärungsunterricht der 9. Klasse wurde auch über Analsex, Verhütung und "
       "Schimpfwörter wie Schlampe gesprochen. Fragen beantworten wir gern am Elternabend."},
      // A Turkish shop's newsletter with the list apparatus.
      {"Yeni sezon",
       "Yeni sezon ürünlerimiz mağazalarımızda.\nBu e-posta ali@ornek.example adresine gönderilmiştir. "
       "Listemizden çıkmak için tıklayınız."},
      // A Russian shop's newsletter, a German club's mailing, a French directory: mailing and
      // addresses without mass mailing or lists for sale.
      {"Новости",
       "Вы подписаны на рассылку новостей нашего магазина. Чтобы отписаться от рассылки, нажмите здесь."},
      {"Versand",
       "Unser Newsletter-Versand an die 3.000 Abonnenten läuft am Montag; bitte die E-Mail-Adressen der neuen "
       "Mitglieder bis Freitag eintragen."},
      {"Annuaire",
       "Nous avons reçu des millions de visites cette année ; merci de mettre à jour vos adresses e-mail dans "
       "l'annuaire."},
      // A Chinese technical newsletter with 退订.
      {"技术周刊", "本周技术周刊：新版本发布说明。\n如需退订请点击这里。"},
  };
  for (const Legit& l : kLegit) expect_quiet(scan(testing::text_letter(l.body, l.subject)), l.body);
}

// A supplier answering its buyer writes the genre's words and introduces itself; as a reply
// (In-Reply-To, References) it is no cold letter. The same text sent cold fires.
TEST_F(Traits8ExportTest, ReplyToABuyerIsNoColdLetter) {
  const std::string body =
      "Dear Mr. Weber,\nGlad to hear that you are in the market for LED panels. We are a professional "
      "manufacturer of LED panels; the FOB Shenzhen price is USD 8.50 per piece, MOQ 200 pcs, and samples are "
      "available for your testing.\nBest regards, Lily\nTel: +86-755-2345678";
  const Verdict reply = scan(reply_letter(body, "Re: LED panel inquiry"));
  EXPECT_FALSE(reply.has("EXPORT_PITCH")) << reply.to_text();
  EXPECT_FALSE(reply.has("EXPORT_PITCH_MANY")) << reply.to_text();
  const Verdict cold = scan(testing::text_letter(body, "LED panels"));
  EXPECT_TRUE(cold.has("EXPORT_PITCH")) << cold.to_text();

  const std::string zh = "王经理您好：\n本公司主要产品的报价已附上，欢迎来电。\n李";
  const Verdict zh_reply = scan(reply_letter(zh, "回复：报价"));
  EXPECT_FALSE(zh_reply.has("EXPORT_ZH_PITCH")) << zh_reply.to_text();
}

// A sender at a Chinese mail provider is a trait of the letter: the same two traits fire the
// meta from 163.com and not from the company's own domain.
TEST_F(Traits8ExportTest, SenderAtAChineseProviderIsATrait) {
  const std::string body =
      "Dear Sir,\nWe are a professional manufacturer of bicycle parts. OEM/ODM orders are welcome.\nTom";
  const Verdict cn = scan(testing::text_letter(body, "Bicycle parts", "Tom <tom.sales@163.com>"));
  EXPECT_TRUE(cn.has("EXPORT_PITCH")) << cn.to_text();
  const Verdict own = scan(testing::text_letter(body, "Bicycle parts", "Tom <tom@bikeparts.example>"));
  EXPECT_FALSE(own.has("EXPORT_PITCH")) << own.to_text();
}

// The bulk list's opt-out next to its own opt-out wording (LANG_OPTOUT_BULK) is not a genre:
// the Turkish "ÇIKAR tuşuna basınız" sentence alone does not fire the combination.
TEST_F(Traits8ExportTest, OptOutWordingIsNotAGenre) {
  const Verdict v = scan(testing::text_letter(
      "Çeviri yazılımı 39 $ + KDV.\nE-posta adres listemizden çıkmak için ÇIKAR tuşuna basınız.", "Yazılım"));
  EXPECT_TRUE(v.has("LANG_OPTOUT_BULK")) << v.to_text();
  EXPECT_FALSE(v.has("LANG_LIST_AND_PITCH")) << v.to_text();
}

TEST_F(Traits8ExportTest, HelpersNeverAppear) {
  const Verdict v = scan(testing::text_letter(kSpam[0].body, kSpam[0].subject));
  ASSERT_TRUE(v.has("EXPORT_PITCH")) << v.to_text();
  for (const auto& c : v.contributions) {
    EXPECT_NE(c.id.rfind("__EXP_", 0), 0u) << c.id;
    EXPECT_NE(c.id.rfind("__ZH_", 0), 0u) << c.id;
  }
}

}  // namespace
}  // namespace tsubame::filter
