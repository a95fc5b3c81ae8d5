// imapd/sort.cc: RFC 5256 SORT and THREAD over stored summaries (see sort.h). Pure; no
// failure paths: missing fields sort as empty strings / date 0.
#include "imapd/sort.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include "common/bytes.h"

namespace tsubame::imap {

namespace {

std::string upper(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}
bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool istarts(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && iequals(s.substr(0, p.size()), p);
}

// subj-blob = "[" *BLOBCHAR "]" *WSP; returns the end, or npos.
size_t blob_at(std::string_view s, size_t pos) {
  if (pos >= s.size() || s[pos] != '[') return std::string_view::npos;
  size_t i = pos + 1;
  while (i < s.size() && s[i] != ']' && s[i] != '[') ++i;
  if (i >= s.size() || s[i] != ']') return std::string_view::npos;
  ++i;
  while (i < s.size() && is_wsp(s[i])) ++i;
  return i;
}

// subj-leader = (*subj-blob subj-refwd) / WSP; subj-refwd = ("re" / ("fw" ["d"])) *WSP
// [subj-blob] ":". Returns the length of the leader at the start, or 0.
size_t leader(std::string_view s) {
  if (!s.empty() && is_wsp(s[0])) return 1;
  size_t p = 0;
  while (true) {
    size_t e = blob_at(s, p);
    if (e == std::string_view::npos) break;
    p = e;
  }
  std::string_view r = s.substr(p);
  size_t n;
  if (istarts(r, "re")) n = 2;
  else if (istarts(r, "fwd")) n = 3;
  else if (istarts(r, "fw")) n = 2;
  else return 0;
  p += n;
  while (p < s.size() && is_wsp(s[p])) ++p;
  size_t e = blob_at(s, p);
  if (e != std::string_view::npos) p = e;
  if (p < s.size() && s[p] == ':') return p + 1;
  return 0;
}

std::string first_mailbox(const std::vector<MailAddress>& list, bool display) {
  for (const auto& a : list) {
    if (!a.mailbox || !a.host) continue;  // group markers
    if (display) {  // RFC 5957 §3: the display name, else the address
      if (a.name && !a.name->empty()) return upper(*a.name);
      return upper(*a.mailbox + "@" + *a.host);
    }
    return upper(*a.mailbox);  // RFC 5256 §3: the addr-mailbox of the first address
  }
  return {};
}

int64_t sent_date(const SortEntry& e) {
  // RFC 5256 §3 DATE: the Date header; if missing or invalid, the internal date.
  if (e.summary && e.summary->sent_date != 0) return e.summary->sent_date;
  return e.internal_date;
}

std::string subject_of(const SortEntry& e) {
  return e.summary && e.summary->envelope.subject ? *e.summary->envelope.subject : std::string();
}

}  // namespace

std::string base_subject(std::string_view in) {
  // (1) whitespace runs become one space.
  std::string s;
  for (char c : in) {
    if (c == '\r' || c == '\n') continue;
    if (is_wsp(c)) {
      if (!s.empty() && s.back() == ' ') continue;
      s += ' ';
    } else {
      s += c;
    }
  }
  while (true) {
    // (2) trailing "(fwd)" and whitespace
    while (true) {
      if (!s.empty() && s.back() == ' ') { s.pop_back(); continue; }
      if (s.size() >= 5 && iequals(std::string_view(s).substr(s.size() - 5), "(fwd)")) {
        s.resize(s.size() - 5);
        continue;
      }
      break;
    }
    // (3)-(5) leaders and leading blobs
    while (true) {
      size_t n = leader(s);
      if (n) { s.erase(0, n); continue; }
      size_t e = blob_at(s, 0);
      if (e != std::string::npos && e < s.size()) { s.erase(0, e); continue; }
      break;
    }
    // (6) "[fwd: ... ]"
    if (istarts(s, "[fwd:") && !s.empty() && s.back() == ']') {
      s = s.substr(5, s.size() - 6);
      continue;
    }
    break;
  }
  return upper(s);
}

std::vector<uint32_t> sort_messages(std::vector<SortEntry> msgs,
                                    const std::vector<SortCriterion>& criteria) {
  struct Keyed {
    const SortEntry* e;
    std::vector<std::string> text;  // per criterion (empty for numeric keys)
  };
  using K = SortCriterion::Key;
  std::vector<Keyed> keyed;
  for (const auto& m : msgs) {
    Keyed k{&m, {}};
    for (const auto& c : criteria) {
      const Envelope* env = m.summary ? &m.summary->envelope : nullptr;
      switch (c.key) {
        case K::kCc: k.text.push_back(env ? first_mailbox(env->cc, false) : ""); break;
        case K::kFrom: k.text.push_back(env ? first_mailbox(env->from, false) : ""); break;
        case K::kTo: k.text.push_back(env ? first_mailbox(env->to, false) : ""); break;
        case K::kDisplayFrom: k.text.push_back(env ? first_mailbox(env->from, true) : ""); break;
        case K::kDisplayTo: k.text.push_back(env ? first_mailbox(env->to, true) : ""); break;
        case K::kSubject: k.text.push_back(base_subject(subject_of(m))); break;
        default: k.text.emplace_back(); break;
      }
    }
    keyed.push_back(std::move(k));
  }
  auto cmp = [&](const Keyed& a, const Keyed& b) {
    for (size_t i = 0; i < criteria.size(); ++i) {
      int r = 0;
      switch (criteria[i].key) {
        case K::kArrival:
          r = a.e->internal_date < b.e->internal_date ? -1 : a.e->internal_date > b.e->internal_date;
          break;
        case K::kDate: {
          int64_t x = sent_date(*a.e), y = sent_date(*b.e);
          r = x < y ? -1 : x > y;
          break;
        }
        case K::kSize: r = a.e->size < b.e->size ? -1 : a.e->size > b.e->size; break;
        default: r = a.text[i].compare(b.text[i]); r = r < 0 ? -1 : r > 0; break;
      }
      if (criteria[i].reverse) r = -r;
      if (r) return r < 0;
    }
    return a.e->seq < b.e->seq;  // RFC 5256 §3: ties in sequence order
  };
  std::sort(keyed.begin(), keyed.end(), cmp);
  std::vector<uint32_t> out;
  for (const auto& k : keyed) out.push_back(k.e->id);
  return out;
}

namespace {

struct Node {
  const SortEntry* msg = nullptr;  // null: a dummy container (RFC 5256 §4 REFERENCES)
  Node* parent = nullptr;
  std::vector<Node*> children;
};

int64_t node_date(const Node* n) {
  if (n->msg) return sent_date(*n->msg);
  return n->children.empty() ? 0 : node_date(n->children.front());
}
uint32_t node_seq(const Node* n) {
  if (n->msg) return n->msg->seq;
  return n->children.empty() ? 0 : node_seq(n->children.front());
}

void sort_level(std::vector<Node*>& level) {
  for (Node* n : level) sort_level(n->children);
  std::stable_sort(level.begin(), level.end(), [](const Node* a, const Node* b) {
    int64_t x = node_date(a), y = node_date(b);
    if (x != y) return x < y;
    return node_seq(a) < node_seq(b);
  });
}

// "3 6 (4 23)(44 7 96)": one child continues the chain, several are each parenthesised.
void render(const Node* n, std::string& out) {
  if (n->msg) out += std::to_string(n->msg->id);
  if (n->children.size() == 1 && n->msg) {
    out += ' ';
    render(n->children[0], out);
    return;
  }
  if (n->children.size() == 1) {
    render(n->children[0], out);
    return;
  }
  if (!n->children.empty() && n->msg) out += ' ';
  for (const Node* c : n->children) {
    out += '(';
    render(c, out);
    out += ')';
  }
}

std::string render_roots(const std::vector<Node*>& roots) {
  std::string out;
  for (const Node* r : roots) {
    out += '(';
    render(r, out);
    out += ')';
  }
  return out;
}

bool is_descendant(const Node* maybe_child, const Node* of) {
  for (const Node* p = maybe_child; p; p = p->parent)
    if (p == of) return true;
  return false;
}

void unlink(Node* n) {
  if (!n->parent) return;
  auto& ch = n->parent->children;
  ch.erase(std::remove(ch.begin(), ch.end(), n), ch.end());
  n->parent = nullptr;
}

void link(Node* parent, Node* child) {
  unlink(child);
  child->parent = parent;
  parent->children.push_back(child);
}

}  // namespace

std::string thread_orderedsubject(std::vector<SortEntry> msgs) {
  // RFC 5256 §4 ORDEREDSUBJECT: group by base subject, each group sorted by date; the first
  // message is the parent, the others its children; threads in order of their first date.
  std::map<std::string, std::vector<const SortEntry*>> groups;
  for (const auto& m : msgs) groups[base_subject(subject_of(m))].push_back(&m);
  std::vector<std::unique_ptr<Node>> pool;
  std::vector<Node*> roots;
  for (auto& [subject, list] : groups) {
    std::stable_sort(list.begin(), list.end(), [](const SortEntry* a, const SortEntry* b) {
      int64_t x = sent_date(*a), y = sent_date(*b);
      return x != y ? x < y : a->seq < b->seq;
    });
    pool.push_back(std::make_unique<Node>());
    Node* root = pool.back().get();
    root->msg = list[0];
    for (size_t i = 1; i < list.size(); ++i) {
      pool.push_back(std::make_unique<Node>());
      pool.back()->msg = list[i];
      link(root, pool.back().get());
    }
    roots.push_back(root);
  }
  std::stable_sort(roots.begin(), roots.end(), [](const Node* a, const Node* b) {
    int64_t x = node_date(a), y = node_date(b);
    return x != y ? x < y : node_seq(a) < node_seq(b);
  });
  return render_roots(roots);
}

std::string thread_references(std::vector<SortEntry> msgs) {
  std::vector<std::unique_ptr<Node>> pool;
  std::unordered_map<std::string, Node*> by_id;
  auto container = [&](const std::string& id) {
    auto it = by_id.find(id);
    if (it != by_id.end()) return it->second;
    pool.push_back(std::make_unique<Node>());
    by_id.emplace(id, pool.back().get());
    return pool.back().get();
  };
  size_t unique = 0;
  // (1) containers from Message-ID, References (or In-Reply-To)
  for (const auto& m : msgs) {
    std::string id = m.summary && m.summary->envelope.message_id ? *m.summary->envelope.message_id
                                                                  : std::string();
    if (id.empty() || (by_id.count(id) && by_id[id]->msg))  // missing or duplicate
      id = "\x01unique-" + std::to_string(unique++);
    Node* self = container(id);
    self->msg = &m;
    std::vector<std::string> refs;
    if (m.summary) refs = m.summary->references;
    if (refs.empty() && m.summary && m.summary->envelope.in_reply_to) {
      std::string irt = *m.summary->envelope.in_reply_to;
      size_t a = irt.find('<'), b = irt.find('>', a == std::string::npos ? 0 : a);
      if (a != std::string::npos && b != std::string::npos) refs.push_back(irt.substr(a, b - a + 1));
    }
    Node* prev = nullptr;
    for (const auto& r : refs) {
      Node* cur = container(r);
      // (1B) link each reference to the one before it, unless already parented or a loop
      if (prev && !cur->parent && cur != prev && !is_descendant(prev, cur)) link(prev, cur);
      prev = cur;
    }
    // (1C) the message's parent is the last reference (breaking any earlier link)
    if (prev && prev != self && !is_descendant(prev, self)) link(prev, self);
    else if (!prev) unlink(self);
  }
  // (2) root set
  std::vector<Node*> roots;
  for (auto& n : pool)
    if (!n->parent) roots.push_back(n.get());
  // (4) prune dummies
  std::function<void(std::vector<Node*>&, bool)> prune = [&](std::vector<Node*>& level,
                                                            bool is_root) {
    std::vector<Node*> out;
    for (Node* n : level) {
      prune(n->children, false);
      if (n->msg) {
        out.push_back(n);
      } else if (n->children.empty()) {
        continue;  // dummy without children: drop
      } else if (is_root && n->children.size() > 1) {
        out.push_back(n);  // keep a root dummy that holds several threads together
      } else {
        for (Node* c : n->children) {
          c->parent = n->parent;
          out.push_back(c);  // promote children
        }
        n->children.clear();
      }
    }
    level = std::move(out);
  };
  prune(roots, true);
  for (Node* r : roots) r->parent = nullptr;
  // (5) group roots by base subject
  auto root_subject_entry = [](const Node* n) -> const SortEntry* {
    if (n->msg) return n->msg;
    return n->children.empty() ? nullptr : n->children.front()->msg;
  };
  auto is_reply = [](const SortEntry* e) {
    std::string s = upper(subject_of(*e));
    return s.rfind("RE", 0) == 0 || s.rfind("FW", 0) == 0 || s.rfind("[FWD:", 0) == 0;
  };
  std::unordered_map<std::string, Node*> subjects;
  for (Node* r : roots) {
    const SortEntry* e = root_subject_entry(r);
    if (!e) continue;
    std::string subj = base_subject(subject_of(*e));
    if (subj.empty()) continue;
    auto it = subjects.find(subj);
    if (it == subjects.end()) {
      subjects.emplace(subj, r);
    } else {
      Node* old = it->second;
      if ((!r->msg && old->msg) ||
          (old->msg && is_reply(old->msg) && r->msg && !is_reply(r->msg)))
        it->second = r;
    }
  }
  std::vector<Node*> dummies;
  for (Node* r : roots) {
    if (r->parent) continue;  // already merged under another root
    const SortEntry* e = root_subject_entry(r);
    std::string subj = e ? base_subject(subject_of(*e)) : std::string();
    auto it = subj.empty() ? subjects.end() : subjects.find(subj);
    if (it == subjects.end() || it->second == r) continue;
    Node* t = it->second;
    if (!t->msg && !r->msg) {
      for (Node* c : std::vector<Node*>(r->children)) link(t, c);
    } else if (!t->msg) {
      link(t, r);
    } else if (r->msg && is_reply(r->msg) && !is_reply(t->msg)) {
      link(t, r);
    } else {
      pool.push_back(std::make_unique<Node>());
      Node* d = pool.back().get();
      link(d, t);
      link(d, r);
      it->second = d;
      dummies.push_back(d);
    }
  }
  std::vector<Node*> merged;
  for (Node* r : roots)
    if (!r->parent && (r->msg || !r->children.empty())) merged.push_back(r);
  for (Node* d : dummies)
    if (!d->parent) merged.push_back(d);
  // (6) sort every level by date
  sort_level(merged);
  return render_roots(merged);
}

}  // namespace tsubame::imap
