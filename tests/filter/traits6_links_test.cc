// tests/filter/traits6_links_test.cc: the shipped conf/rules/70-links-html.rules on messages
// we write ourselves: every rule fires on the trait it describes (text glued outside the
// HTML document, link addresses with plain letters written as %-escapes, words written as
// numeric character references, an image address that reports an e-mail address, a form
// asking for a phone number or a postal address, and the meta for two signs) and stays
// quiet on the nearest legitimate form (a list footer after </html>, an open pixel after it,
// a DOCTYPE or XML declaration before <html>, quoted source code, %20 and an encoded
// destination in a tracker's query, an address encoded against harvesters, accented
// letters and typographic quotes as references, an open pixel with an opaque id, a retina
// image name, a search or subscribe box, one sign alone). A failure names the rule and
// prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

const std::string kHeaders =
    "From: Shop <news@shop.example>\r\nTo: bob@ours.example\r\n"
    "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.9@shop.example>\r\n"
    "Subject: Offer\r\nMIME-Version: 1.0\r\n";

// A plain-text message with the given body.
std::string text_message(const std::string& body) {
  return kHeaders + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body;
}

// An HTML-only message whose body is `body`, exactly as given (no document added).
std::string html_raw(const std::string& body, const std::string& encoding = "7bit") {
  return kHeaders + "Content-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: " +
         encoding + "\r\n\r\n" + body;
}

// An HTML-only message with `inner` inside a whole document.
std::string html_message(const std::string& inner, const std::string& encoding = "7bit") {
  return html_raw("<html><head><title>Offer</title></head><body>" + inner +
                      "</body></html>\r\n",
                  encoding);
}

// multipart/alternative with the given plain and HTML part bodies, as given.
std::string alternative(const std::string& plain, const std::string& html) {
  return kHeaders + "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
         "This is a multi-part message in MIME format.\r\n\r\n"
         "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + plain +
         "\r\n--b1\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + html +
         "\r\n--b1--\r\n";
}

// A newsletter page with enough text to read (HTML_LITTLE_TEXT stays quiet).
const std::string kPage =
    "<html><head><title>Offer</title></head><body><p>Our autumn sale starts today. Coats, "
    "boots and scarves from this season's collection are reduced until the end of the "
    "month, and members collect double points on every order placed in the shop or on "
    "the website. Opening hours are unchanged over the holiday weekend.</p>"
    "<a href=\"https://shop.example/sale\">Shop now</a></body></html>";

class Traits6LinksTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

const char* const kAllTraits6[] = {"HTML_TEXT_OUTSIDE_DOCUMENT", "URL_PCT_ENCODED_PLAIN",
                                   "HTML_ENTITY_WORD",           "IMG_ADDRESS_IN_QUERY",
                                   "HTML_FORM_CONTACT_FIELDS",   "HTML_BUILT_SEVERAL"};

TEST_F(Traits6LinksTest, OrdinaryMessagesHitNoTrait) {
  for (const std::string& raw : {
           text_message("See you on Tuesday.\r\nAlice\r\n"),
           html_raw(kPage + "\r\n"),
           alternative("Our autumn sale starts today.\r\nhttps://shop.example/sale\r\n",
                       kPage),
           html_message("<img src=\"https://cdn.shop.example/hero.jpg\" alt=\"\">"
                        "<p>Caf&eacute; &amp; bar &#8211; open late</p>"),
       }) {
    Verdict v = scan(raw);
    testing::expect_quiet(v, kAllTraits6);
  }
}

// ---- HTML_TEXT_OUTSIDE_DOCUMENT ----

TEST_F(Traits6LinksTest, TokenAfterTheEndOfTheDocument) {
  for (const std::string& tail : {
           std::string("\r\n [NKIYs5]\r\n\r\n"),                     // a bracketed tag
           std::string("3606uLdz7-798Gxne6717WLiQ1-104\r\n"),        // a per-copy serial
           std::string("\r\negfbehkrtejpgtuyveahpeibbraqstvnwa\r\n"),  // random letters
           std::string("tuckers\r\n\r\n\r\n"),                       // the recipient's name
           std::string("**********\r\n"),
           std::string("22"),                                        // no final line break
       }) {
    Verdict v = scan(html_raw(kPage + "\r\n" + tail));
    EXPECT_TRUE(v.has("HTML_TEXT_OUTSIDE_DOCUMENT")) << tail << "\n" << v.to_text();
    // One trait alone stays far below the junk threshold.
    EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  }
  // In the HTML part of a multipart message: the token, then the closing boundary.
  Verdict v = scan(alternative("Our autumn sale starts today.", kPage + "\r\n4199lrjl7\r\n"));
  EXPECT_TRUE(v.has("HTML_TEXT_OUTSIDE_DOCUMENT")) << v.to_text();
}

TEST_F(Traits6LinksTest, TextOrTagsBeforeTheDocument) {
  for (const std::string& head : {
           std::string("Dear ricardo1 ,\r\n\r\n"),  // a greeting with the recipient's name
           std::string("iieo\r\n"),                 // a random tag
           std::string("<HR>\r\n"),
           std::string("<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html\">\r\n"),
           std::string("<FONT SIZE=1>To be removed click <A HREF=\"http://r.example/\">here"
                       "</A></FONT>\r\n"),
       }) {
    Verdict v = scan(html_raw(head + kPage + "\r\n"));
    EXPECT_TRUE(v.has("HTML_TEXT_OUTSIDE_DOCUMENT")) << head << "\n" << v.to_text();
  }
}

TEST_F(Traits6LinksTest, WhatEditorsAndListsWriteAroundTheDocumentIsQuiet) {
  for (const std::string& raw : {
           // A list manager's footer starts with a separator line.
           html_raw(kPage + "\r\n\r\n-------------------------------------------------------\r\n"
                            "This list is sponsored by Example\r\n"
                            "https://lists.example.org/listinfo/users\r\n"),
           html_raw(kPage + "\r\n______________________________________________\r\n"
                            "users mailing list\r\n"),
           // An open pixel appended after </html> by a sending service is a tag.
           html_raw(kPage + "\r\n<img src=\"https://t.esp.example/o/8f3a9c.gif\" width=1>\r\n"),
           // What may lawfully come before <html>: a DOCTYPE, an XML declaration, a comment.
           html_raw("<!DOCTYPE html>\r\n" + kPage),
           html_raw("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!DOCTYPE html PUBLIC "
                    "\"-//W3C//DTD XHTML 1.0 Strict//EN\">\r\n" + kPage),
           html_raw("<!-- generated by Mailer 4 -->\r\n" + kPage),
           html_raw("\r\n\r\n   " + kPage + "\r\n\r\n\r\n"),
           // A multipart message whose preamble comes before the HTML part.
           alternative("Our autumn sale starts today.", kPage),
       }) {
    Verdict v = scan(raw);
    EXPECT_FALSE(v.has("HTML_TEXT_OUTSIDE_DOCUMENT")) << raw << "\n" << v.to_text();
  }
}

TEST_F(Traits6LinksTest, QuotedSourceCodeIsQuiet) {
  const std::string snippet =
      "Why does this page render blank?\r\n\r\ncat > index.html <<EOF\r\n<html>\r\n"
      "<body><p>Hello</p></body>\r\n</html>\r\nEOF\r\n";
  for (const std::string& raw : {
           // A plain-text message: no HTML part, whatever follows the snippet.
           text_message(snippet),
           text_message("Here is the page:\r\n\r\n<html><body>Hi</body></html>\r\n\r\n"
                        "Thanks,\r\n-- \r\nAlice\r\n"),
           text_message("<html><body>Hi</body></html>\r\nsolved\r\n"),
           // The same question written in a mail program that also sends HTML: the plain
           // part holds the here-document's end.
           alternative(snippet,
                       "<html><body><pre>cat &gt; index.html &lt;&lt;EOF\r\n&lt;/html&gt;\r\n"
                       "EOF</pre></body></html>"),
           // ... or a closing word before the signature.
           alternative("Here is the page:\r\n\r\n<html><body>Hi</body></html>\r\n\r\n"
                       "Thanks,\r\n-- \r\nAlice",
                       "<html><body><p>Here is the page:</p><pre>&lt;html&gt;&lt;body&gt;Hi"
                       "&lt;/body&gt;&lt;/html&gt;</pre><p>Thanks,</p></body></html>"),
       }) {
    Verdict v = scan(raw);
    EXPECT_FALSE(v.has("HTML_TEXT_OUTSIDE_DOCUMENT")) << raw << "\n" << v.to_text();
  }
}

// ---- URL_PCT_ENCODED_PLAIN ----

TEST_F(Traits6LinksTest, PlainLettersWrittenAsPercentEscapes) {
  for (const std::string& inner : {
           std::string("<a href=\"http://%31%30%31%31%30%31%31%31/\">Enter</a>"),
           std::string("<img src=\"http://www.%43%4f%6d%6f-%56e%6e.com/ad.jpg\">"),
           std::string("<IMG SRC=http://pr%65view.pics.example/logo.jpg>"),
           std::string("<a href=\"http://deals.example/pe%72%73o%6E%61l/\">Go</a>"),
           std::string("<form action=\"http://f.example/s%75bmit.cgi\"><input></form>"),
       }) {
    Verdict v = scan(html_message(inner));
    EXPECT_TRUE(v.has("URL_PCT_ENCODED_PLAIN")) << inner << "\n" << v.to_text();
    EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  }
  // Quoted-printable writes the attribute's '=' as =3D.
  Verdict v = scan(html_message("<a href=3D\"http://w%77%77%2Eterra.example/x/\">Go</a>",
                                "quoted-printable"));
  EXPECT_TRUE(v.has("URL_PCT_ENCODED_PLAIN")) << v.to_text();
}

TEST_F(Traits6LinksTest, OrdinaryPercentEscapesAreQuiet) {
  for (const std::string& inner : {
           // A space, UTF-8 of an accented letter, a tilde some old tools encode.
           std::string("<a href=\"https://shop.example/Autumn%20flyer.pdf\">Flyer</a>"),
           std::string("<a href=\"https://shop.example/caf%C3%A9/menu\">Menu</a>"),
           std::string("<a href=\"http://www.uni.example/%7Ealice/\">Alice</a>"),
           // A click tracker encodes a whole destination in its query, letters and all.
           std::string("<a href=\"https://click.esp.example/r?u=https%3A%2F%2Fshop.example"
                       "%2F%53ale&e=%62ob\">Sale</a>"),
           // An anchor.
           std::string("<a href=\"https://shop.example/page#%41nchor\">Up</a>"),
       }) {
    Verdict v = scan(html_message(inner));
    EXPECT_FALSE(v.has("URL_PCT_ENCODED_PLAIN")) << inner << "\n" << v.to_text();
  }
  // Asking about such a link in a plain-text message (one of A's ham does): not an attribute.
  Verdict v = scan(text_message(
      "How do I turn\r\n   http://w%77%77%2Eo%70%74%6F%72%69um.n%65t/remove.html\r\n"
      "into a readable address?\r\n"));
  EXPECT_FALSE(v.has("URL_PCT_ENCODED_PLAIN")) << v.to_text();
}

// ---- HTML_ENTITY_WORD ----

TEST_F(Traits6LinksTest, WordsWrittenAsCharacterReferences) {
  for (const std::string& inner : {
           std::string("<p>Buy &#86;&#105;&#97;&#103;&#114;&#97; today</p>"),
           std::string("<p>V&#105;agr&#97; for less</p>"),
           std::string("<p>It is &#x66;&#x72;&#x65;&#x65; </p>"),
           std::string("<p>Get <b>&#67;&#65;&#83;&#72;</b> now</p>"),
           std::string("<p>Your P&#97;&#121;P&#x61;l account</p>"),  // a brand, for phishing
       }) {
    Verdict v = scan(html_message(inner));
    EXPECT_TRUE(v.has("HTML_ENTITY_WORD")) << inner << "\n" << v.to_text();
    EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  }
}

TEST_F(Traits6LinksTest, OrdinaryCharacterReferencesAreQuiet) {
  for (const std::string& inner : {
           // An address encoded against harvesters (A's ham newsletters do this).
           std::string("<p>Write to <a href=\"&#109;&#97;&#105;&#108;&#116;&#111;&#58;"
                       "&#116;&#111;&#110;&#121;&#64;shop.example\">&#116;&#111;&#110;&#121;"
                       "&#64;&#115;&#104;&#111;&#112;&#46;&#101;&#120;&#97;&#109;&#112;&#108;"
                       "&#101;</a> today</p>"),
           // Letters outside ASCII, punctuation, quotes and brackets.
           std::string("<p>Caf&#233; cr&#232;me &#8211; &#8220;the best&#8221; &#91;new&#93; "
                       "</p>"),
           // One reference in a word.
           std::string("<p>&#65;BC Widgets </p>"),
       }) {
    Verdict v = scan(html_message(inner));
    EXPECT_FALSE(v.has("HTML_ENTITY_WORD")) << inner << "\n" << v.to_text();
  }
}

// ---- IMG_ADDRESS_IN_QUERY ----

TEST_F(Traits6LinksTest, ImageThatReportsAnAddress) {
  for (const std::string& inner : {
           std::string("<img src=\"http://www.330w.example/open/open.php?"
                       "eid=bob@ours.example&oid=offer-0910\">"),
           std::string("<IMG SRC=\"http://tilw.example/counter.php?client=x&email=bob%40ours"
                       ".example&msgid=17\" width=1 height=1>"),
       }) {
    Verdict v = scan(html_message(inner));
    EXPECT_TRUE(v.has("IMG_ADDRESS_IN_QUERY")) << inner << "\n" << v.to_text();
    EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  }
  // Quoted-printable: src=3D"..." and eid=3D.
  Verdict v = scan(html_message("<img src=3D\"http://o.example/open.php?eid=3Dbob@ours.example"
                                "\">",
                                "quoted-printable"));
  EXPECT_TRUE(v.has("IMG_ADDRESS_IN_QUERY")) << v.to_text();
}

TEST_F(Traits6LinksTest, OtherImagesAndLinksWithAddressesAreQuiet) {
  for (const std::string& inner : {
           // An open pixel with an opaque id, as sending services write it.
           std::string("<img src=\"https://t.esp.example/o.gif?u=8f3a9c21&id=77b0\" width=1>"),
           // Retina image names, in the path or a resizer's query.
           std::string("<img src=\"https://cdn.shop.example/img/logo@2x.png\">"),
           std::string("<img src=\"https://img.shop.example/r?w=200&file=logo@2x.png\">"),
           // The subscriber's address in an unsubscribe link (a link, not an image).
           std::string("<a href=\"https://shop.example/unsub?email=bob@ours.example\">"
                       "Unsubscribe</a>"),
       }) {
    Verdict v = scan(html_message(inner));
    EXPECT_FALSE(v.has("IMG_ADDRESS_IN_QUERY")) << inner << "\n" << v.to_text();
  }
}

// ---- HTML_FORM_CONTACT_FIELDS ----

std::string form(const std::string& fields) {
  return "<form method=\"post\" action=\"http://leads.example/cgi-bin/mailform.pl\">" + fields +
         "<input type=\"submit\" value=\"Send\"></form>";
}

TEST_F(Traits6LinksTest, FormAskingForContactDetails) {
  for (const std::string& fields : {
           std::string("Name <input type=text name=\"contactname\"> Phone <input type=text "
                       "name=\"phone\">"),
           std::string("<INPUT NAME=\"Home_Phone\" SIZE=20>"),
           std::string("<input name='telephone'>"),
           std::string("<input type=\"text\" name=\"zipcode\" size=\"5\">"),
           std::string("<input name=\"street-address\"><input name=\"City\">"),
           std::string("<input type=text name=state size=2>"),
       }) {
    Verdict v = scan(html_message(form(fields)));
    EXPECT_TRUE(v.has("HTML_FORM_CONTACT_FIELDS")) << fields << "\n" << v.to_text();
    EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  }
  // Quoted-printable: name=3D"phone".
  Verdict v = scan(html_message(form("<input type=3D\"text\" name=3D\"phone\">"),
                                "quoted-printable"));
  EXPECT_TRUE(v.has("HTML_FORM_CONTACT_FIELDS")) << v.to_text();
}

TEST_F(Traits6LinksTest, SearchAndSubscribeBoxesAreQuiet) {
  for (const std::string& fields : {
           // A newsletter's search box and subscribe box (A's ham has both).
           std::string("<input type=\"text\" name=\"q\"><input type=\"hidden\" "
                       "name=\"topcat_search\" value=\"1\">"),
           std::string("<input type=\"text\" name=\"email_address\"><input type=\"radio\" "
                       "name=\"subscribe_op\" value=\"Add\">"),
           // Words that contain a field name without being one.
           std::string("<input type=\"hidden\" name=\"capacity202\" value=\"4\">"),
           std::string("<input name=\"statement_id\"><input name=\"citation\">"),
       }) {
    Verdict v = scan(html_message(form(fields)));
    EXPECT_FALSE(v.has("HTML_FORM_CONTACT_FIELDS")) << fields << "\n" << v.to_text();
  }
  // Field names in a plain-text message about a web form are not a form.
  Verdict v = scan(text_message("The signup page needs a phone field: name=\"phone\".\r\n"));
  EXPECT_FALSE(v.has("HTML_FORM_CONTACT_FIELDS")) << v.to_text();
}

// ---- HTML_BUILT_SEVERAL and together ----

TEST_F(Traits6LinksTest, OneSignIsNotSeveral) {
  // One trait of this round alone.
  Verdict v = scan(html_raw(kPage + "\r\n[NKIYs5]\r\n"));
  EXPECT_TRUE(v.has("HTML_TEXT_OUTSIDE_DOCUMENT")) << v.to_text();
  EXPECT_FALSE(v.has("HTML_BUILT_SEVERAL")) << v.to_text();
  // Older signs without one of this round's: a tag in a word and a decimal IP link.
  v = scan(html_message("<p>fr<b></b>ee</p><a href=\"http://3232235777/\">here</a>"));
  EXPECT_TRUE(v.has("OBFU_TAG_IN_WORD")) << v.to_text();
  EXPECT_TRUE(v.has("URL_IP_DECIMAL_OR_HEX")) << v.to_text();
  EXPECT_FALSE(v.has("HTML_BUILT_SEVERAL")) << v.to_text();
}

TEST_F(Traits6LinksTest, SeveralTraitsAddUp) {
  // A spamware page: a tag after </html>, an encoded host, a web bug with the address.
  Verdict v = scan(html_raw(
      "<html><body><a href=\"http://%31%30%31%31.example/\"><img src=\"http://o.example/"
      "open.php?eid=bob@ours.example\"></a></body></html>\r\n[Z5VYjkyD5dcyQ]\r\n"));
  for (const char* id : {"HTML_TEXT_OUTSIDE_DOCUMENT", "URL_PCT_ENCODED_PLAIN",
                         "IMG_ADDRESS_IN_QUERY"})
    EXPECT_TRUE(v.has(id)) << id << "\n" << v.to_text();
  EXPECT_TRUE(v.has("HTML_BUILT_SEVERAL")) << v.to_text();
  EXPECT_GE(v.score, 5.5) << v.to_text();
  // A form for contact details and an old sign, a tag inside a word.
  v = scan(html_message("<p>fr<b></b>ee quote</p>" + form("<input name=\"phone\">")));
  EXPECT_TRUE(v.has("HTML_BUILT_SEVERAL")) << v.to_text();
}

}  // namespace
}  // namespace tsubame::filter
