// imapd/sort.h: SORT and THREAD (RFC 5256, DISPLAYFROM/DISPLAYTO of RFC 5957) over the
// summaries the store keeps, without touching message bodies.
//
// Pure functions: given the messages that matched the search (with their summaries), they
// return the order or the thread tree. Nothing fails; a message without a summary sorts
// with empty strings and date 0, as RFC 5256 §3 prescribes for missing fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/message_summary.h"
#include "imapd/parser.h"

namespace tsubame::imap {

struct SortEntry {
  uint32_t id = 0;     // what the response shows: sequence number, or UID for UID SORT
  uint32_t seq = 0;    // message sequence number (final tie-break, RFC 5256 §3)
  int64_t internal_date = 0;
  uint64_t size = 0;
  const MessageSummary* summary = nullptr;  // may be null
};

// RFC 5256 §2.1: the base subject ("Re: [list] Fwd: Hello (fwd)" -> "HELLO"), upper-cased
// for the i;ascii-casemap comparison. Encoded-words are compared as they appear.
std::string base_subject(std::string_view subject);

// RFC 5256 §3 SORT: the ids in order.
std::vector<uint32_t> sort_messages(std::vector<SortEntry> msgs,
                                    const std::vector<SortCriterion>& criteria);

// RFC 5256 §4 THREAD=ORDEREDSUBJECT and THREAD=REFERENCES: the thread-list as sent after
// "* THREAD" (e.g. "(2)(3 6 (4 23)(44 7 96))"); empty when no message matched.
std::string thread_orderedsubject(std::vector<SortEntry> msgs);
std::string thread_references(std::vector<SortEntry> msgs);

}  // namespace tsubame::imap
