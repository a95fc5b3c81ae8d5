// tests/filter/mime_html_test.cc: HTML to text and link extraction (filter/html.h), alone
// and through parse_message (charset from <meta>, links whose text names another host).
#include <gtest/gtest.h>

#include "filter/html.h"
#include "filter/mime.h"

namespace tsubame::filter {
namespace {

TEST(Html, DropsScriptStyleCommentsAndHead) {
  HtmlText t = html_to_text(
      "<html><head><title>T</title><style>.x{}</style></head><body>"
      "<!-- hidden comment -->Visible<script>var a='<p>no</p>';</script> text"
      "<SCRIPT type=x>evil()</SCRIPT ><noscript>ns</noscript></body></html>");
  EXPECT_EQ(t.text, "Visible text");
}

TEST(Html, BlocksBecomeLinesAndWhitespaceCollapses) {
  HtmlText t = html_to_text("<div>one</div><p>two\n   three</p>four<br>five<br/>six<ul><li>a</li><li>b</li></ul>"
                            "<table><tr><td>c1</td><td>c2</td></tr></table>");
  EXPECT_EQ(t.text, "one\ntwo three\nfour\nfive\nsix\na\nb\nc1 c2");
}

TEST(Html, Entities) {
  EXPECT_EQ(decode_html_entities("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#x27; &euro;&#8364;&#x20AC;"),
            "a & b <c> \"d\" 'e' €€€");
  EXPECT_EQ(decode_html_entities("&nbsp;"), "\xC2\xA0");
  EXPECT_EQ(decode_html_entities("&#150;"), "–");            // C1 as Windows-1252 (HTML5)
  EXPECT_EQ(decode_html_entities("&#0;&#x110000;"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(decode_html_entities("&bogus; & &#; &#xZZ;"), "&bogus; & &#; &#xZZ;");
  EXPECT_EQ(decode_html_entities("&amp"), "&");              // legacy, no ';'
  EXPECT_EQ(html_to_text("P&#97;&#121;P&#x61;l").text, "PayPal");  // obfuscated word
}

TEST(Html, LinksWithVisibleText) {
  HtmlText t = html_to_text(
      "<a href=\"https://evil.example/x\">https://<b>www.bank.example</b>/login</a> "
      "<A HREF='http://a.example/?q=1&amp;r=2'>two</A> <a href=bare.example/p>three</a>"
      "<a name=anchor>no href</a><a href=\" \r\nhttp://spaced.example/ \">sp</a>"
      "<a href=\"http://img.example/\"><img src=\"http://cdn.example/i.png\" alt=\"Click\"></a>"
      "<form action=\"https://collect.example/post\"><input></form>"
      "<area href=\"http://map.example/\"><iframe src=\"http://frame.example/\"></iframe>"
      "<meta http-equiv=\"refresh\" content=\"0; url='http://redirect.example/'\">");
  ASSERT_EQ(t.links.size(), 10u);  // <a name> without href is not a link
  EXPECT_EQ(t.links[0].href, "https://evil.example/x");
  EXPECT_EQ(t.links[0].text, "https://www.bank.example/login");
  EXPECT_EQ(t.links[0].kind, HtmlLink::Kind::kAnchor);
  EXPECT_EQ(t.links[1].href, "http://a.example/?q=1&r=2");
  EXPECT_EQ(t.links[1].text, "two");
  EXPECT_EQ(t.links[2].href, "bare.example/p");
  EXPECT_EQ(t.links[3].href, "http://spaced.example/");
  EXPECT_EQ(t.links[4].href, "http://img.example/");
  EXPECT_EQ(t.links[4].text, "Click");  // image link: alt is its visible text
  EXPECT_EQ(t.links[5].kind, HtmlLink::Kind::kImage);
  EXPECT_EQ(t.links[5].href, "http://cdn.example/i.png");
  EXPECT_EQ(t.links[6].kind, HtmlLink::Kind::kForm);
  EXPECT_EQ(t.links[6].href, "https://collect.example/post");
  EXPECT_EQ(t.links[7].href, "http://map.example/");
  EXPECT_EQ(t.links[8].kind, HtmlLink::Kind::kOther);
  EXPECT_EQ(t.links[9].href, "http://redirect.example/");
}

TEST(Html, MalformedMarkupIsTolerated) {
  EXPECT_EQ(html_to_text("a < b and 1<2").text, "a < b and 1<2");
  EXPECT_EQ(html_to_text("x <y").text, "x");  // HTML5: "<y" opens a tag, EOF drops it
  EXPECT_EQ(html_to_text("<p>unclosed <b>bold <i>it").text, "unclosed bold it");
  EXPECT_EQ(html_to_text("text <!-- never closed").text, "text");
  EXPECT_EQ(html_to_text("<a href=\"unterminated>x").text, "");
  EXPECT_EQ(html_to_text("<script>never closed").text, "");
  EXPECT_EQ(html_to_text("").text, "");
  HtmlText nested = html_to_text("<a href=1>one<a href=2>two</a>");
  ASSERT_EQ(nested.links.size(), 2u);
  EXPECT_EQ(nested.links[0].text, "one");
  EXPECT_EQ(nested.links[1].text, "two");
}

TEST(Html, LinkCapIsReported) {
  std::string html;
  for (int i = 0; i < 50; ++i) html += "<a href=\"http://h" + std::to_string(i) + ".example/\">x</a>";
  HtmlText t = html_to_text(html, 10);
  EXPECT_EQ(t.links.size(), 10u);
  EXPECT_TRUE(t.links_truncated);
}

TEST(Html, LargeInputIsLinear) {
  // 2 MB of unclosed tags and stray '<' must finish (no quadratic rescans); a hang would
  // hit the test's timeout.
  std::string junk;
  while (junk.size() < 2'000'000) junk += "<a href='x' <b <<<&#&amp;<!-- ";
  HtmlText t = html_to_text(junk, 100);
  EXPECT_LE(t.links.size(), 100u);
}

TEST(Html, HiddenTextIsKeptApart) {
  HtmlText t = html_to_text(
      "<p>Visible offer</p><div style=\"display: none\">ham words <b>inside</b></div>"
      "<span style='font-size:0px'>tiny</span><span style='font-size:0.9em'>normal</span>"
      "<p hidden>attr</p><p style=\"VISIBILITY:hidden\">vis</p><p style='opacity:0;'>op</p>"
      "<div style='display:none'><a href='http://h.example/'>hidden link</a></div>after");
  EXPECT_EQ(t.text, "Visible offer\nnormal\nafter");
  EXPECT_EQ(t.hidden_text, "ham words inside tiny attr vis op hidden link");
  ASSERT_EQ(t.links.size(), 1u);  // links in hidden elements are still collected
  EXPECT_EQ(t.links[0].text, "");
  // An unclosed hidden <p> ends at the next <p> (implied end tag); void elements do not nest.
  HtmlText u = html_to_text("<p style='display:none'>x<br><img src=a><p>shown");
  EXPECT_EQ(u.text, "shown");
  EXPECT_EQ(u.hidden_text, "x");
}

TEST(Html, MetaCharset) {
  EXPECT_EQ(sniff_html_charset("<html><head><meta charset=\"Shift_JIS\">"), "shift_jis");
  EXPECT_EQ(sniff_html_charset("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=euc-jp\">"), "euc-jp");
  EXPECT_EQ(sniff_html_charset("<p>charset=utf-8</p>"), "");
}

TEST(HtmlMessage, CharsetFromMetaAndLinkTextNamingAnotherHost) {
  std::string msg =
      "Subject: Your account\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "<html><head><meta charset=\"shift_jis\"></head><body><p>\x82\xB1\x82\xF1</p>"
      "<a href=\"http://203.0.113.9/amazon/\">https://www.amazon.co.jp/</a></body></html>\r\n";
  auto r = parse_message(msg);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->body_text, "こん\nhttps://www.amazon.co.jp/");
  ASSERT_EQ(r->links.size(), 2u);
  EXPECT_EQ(r->links[0].href, "http://203.0.113.9/amazon/");
  EXPECT_EQ(r->links[1].href, "https://www.amazon.co.jp/");  // the URL as the reader sees it
  EXPECT_EQ(r->links[1].source, LinkSource::kPlainText);
  EXPECT_EQ(r->links[0].text, "https://www.amazon.co.jp/");
  EXPECT_EQ(r->links[0].source, LinkSource::kHtmlAnchor);
  EXPECT_TRUE(r->text_parts[0].html);
  EXPECT_FALSE(r->anomalies.has(Anomaly::kHtmlHiddenText));
}

TEST(HtmlMessage, HiddenTextSetsTheFlag) {
  auto r = parse_message("Content-Type: text/html\r\n\r\n<p>Buy</p><div style=display:none>meeting agenda</div>");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->body_text, "Buy");
  EXPECT_EQ(r->hidden_text, "meeting agenda");
  EXPECT_TRUE(r->anomalies.has(Anomaly::kHtmlHiddenText));
}

}  // namespace
}  // namespace tsubame::filter
