// imapd/filter_glue.h: the session's MIME hooks built from the filter's single MIME parse
// (filter::parse_message). Header-only on purpose: tsubame_imapd does not link the filter;
// only the targets that include this header (tsubame-imapd, the tests) do.
// Failure: parse_message fails only on an internal fault; its Status is passed on, and the
// session then falls back (minimal summary for APPEND, raw octets for SEARCH).
#pragma once

#include <string_view>
#include <utility>

#include "common/message_summary.h"
#include "common/result.h"
#include "filter/mime.h"
#include "imapd/search_text.h"

namespace tsubame::imap {

// APPEND: the same summary delivery stores (architecture: "parse once").
inline Result<MessageSummary> filter_summarize(std::string_view raw) {
  auto p = filter::parse_message(raw);
  if (!p.is_ok()) return p.status();
  return std::move(p->summary);
}

// SEARCH: decoded header values and body text (RFC 9051 §6.4.4), nested messages included.
inline Result<SearchText> filter_extract_text(std::string_view raw) {
  auto p = filter::parse_message(raw);
  if (!p.is_ok()) return p.status();
  SearchText t;
  t.headers.reserve(p->headers.size());
  for (auto& h : p->headers) t.headers.emplace_back(std::move(h.name), std::move(h.value));
  t.body = std::move(p->body_text);
  // RFC 9051 §6.4.4: BODY (and TEXT) search the body, and the header of an attached
  // message/rfc822 is part of the outer message's body: its decoded fields join the body
  // text, one "Name: value" line each (the nested parts' text is in body_text already).
  for (const auto& n : p->nested) {
    for (const auto& h : n.headers.headers) {
      t.body += '\n';
      t.body += h.name;
      t.body += ": ";
      t.body += h.value;
    }
  }
  return t;
}

}  // namespace tsubame::imap
