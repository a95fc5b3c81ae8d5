// filter/rules.cc: parses conf/rules/*.rules (format in rules.h) into validated RuleDefs.
//
// The parser collects every problem it can find rather than stopping at the first, so
// `tsubame filter compile` shows a whole rule set's mistakes at once. Each problem is
// reported as "file:line: reason". Pattern syntax is not checked here (Hyperscan does
// that in engine.cc, with the same file:line form).
#include "filter/rules.h"


#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <hs/hs.h>

#include "common/bytes.h"
#include "common/crypto.h"

namespace tsubame::filter {

namespace {

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRuleIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool valid_header_name(std::string_view n) {
  // RFC 5322 §2.2: field-name = 1*ftext, printable US-ASCII except ':'.
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return c >= 33 && c <= 126 && c != ':'; });
}

std::string sha256_hex(std::string_view data) { return to_hex(crypto::sha256(data)); }

// Splits "keyword rest" at the first run of blanks.
std::pair<std::string_view, std::string_view> split_word(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
  return {s.substr(0, i), trim(s.substr(i))};
}

}  // namespace

std::string Scope::key() const {
  switch (kind) {
    case ScopeKind::kHeader: return "header:" + name;
    case ScopeKind::kSubject: return "subject";
    case ScopeKind::kFrom: return "from";
    case ScopeKind::kBody: return "body";
    case ScopeKind::kRawBody: return "rawbody";
    case ScopeKind::kHtml: return "html";
    case ScopeKind::kUrl: return "url";
    case ScopeKind::kAttachmentName: return "attachment-name";
    case ScopeKind::kAttachmentType: return "attachment-type";
    case ScopeKind::kCheck: return "check:" + name;
  }
  return "?";
}

Result<Scope> parse_scope(std::string_view text) {
  Scope s;
  text = trim(text);
  if (text.starts_with("header:")) {
    std::string_view name = text.substr(7);
    if (!valid_header_name(name)) return Status::invalid("bad header name in scope '" +
                                                         std::string(text) + "'");
    s.kind = ScopeKind::kHeader;
    s.name = to_lower(name);
    return s;
  }
  if (text.starts_with("check:")) {
    std::string_view name = text.substr(6);
    if (std::find(std::begin(kCheckNames), std::end(kCheckNames), name) == std::end(kCheckNames))
      return Status::invalid("unknown check '" + std::string(name) + "'");
    s.kind = ScopeKind::kCheck;
    s.name = std::string(name);
    return s;
  }
  static const std::pair<std::string_view, ScopeKind> kNames[] = {
      {"subject", ScopeKind::kSubject},
      {"from", ScopeKind::kFrom},
      {"body", ScopeKind::kBody},
      {"rawbody", ScopeKind::kRawBody},
      {"html", ScopeKind::kHtml},
      {"url", ScopeKind::kUrl},
      {"attachment-name", ScopeKind::kAttachmentName},
      {"attachment-type", ScopeKind::kAttachmentType},
  };
  for (const auto& [n, k] : kNames) {
    if (text == n) {
      s.kind = k;
      return s;
    }
  }
  return Status::invalid("unknown scope '" + std::string(text) + "'");
}

Result<unsigned> parse_flags(std::string_view letters) {
  unsigned f = 0;
  for (char c : letters) {
    switch (c) {
      case 'i': f |= HS_FLAG_CASELESS; break;
      case 's': f |= HS_FLAG_DOTALL; break;
      case 'm': f |= HS_FLAG_MULTILINE; break;
      case 'u': f |= HS_FLAG_UTF8; break;
      case 'p': f |= HS_FLAG_UCP; break;
      default: return Status::invalid(std::string("unknown flag '") + c + "'");
    }
  }
  if ((f & HS_FLAG_UCP) && !(f & HS_FLAG_UTF8))
    return Status::invalid("flag 'p' needs flag 'u'");
  return f;
}

const std::string& RuleDefs::id_at(size_t i) const {
  return i < rules.size() ? rules[i].id : metas[i - rules.size()].id;
}
double RuleDefs::score_at(size_t i) const {
  return i < rules.size() ? rules[i].score : metas[i - rules.size()].score;
}
const std::string& RuleDefs::description_at(size_t i) const {
  return i < rules.size() ? rules[i].description : metas[i - rules.size()].description;
}
bool RuleDefs::helper_at(size_t i) const {
  return i < rules.size() ? rules[i].helper() : metas[i - rules.size()].helper();
}
int RuleDefs::index_of(std::string_view id) const {
  for (size_t i = 0; i < size(); ++i)
    if (id_at(i) == id) return static_cast<int>(i);
  return -1;
}

void parse_rule_text(const RuleSource& src, RuleDefs& out, std::vector<std::string>& errors) {
  enum class Open { kNone, kRule, kMeta } open = Open::kNone;
  bool have_scope = false, have_match = false, have_score = false, have_describe = false;
  auto at = [&](int line) { return src.file + ":" + std::to_string(line) + ": "; };
  auto close_block = [&]() {
    if (open == Open::kRule) {
      Rule& r = out.rules.back();
      if (!have_scope) {
        errors.push_back(at(r.line) + "rule " + r.id + " has no scope");
      } else if (r.scope.kind == ScopeKind::kCheck) {
        if (have_match) errors.push_back(at(r.line) + "rule " + r.id + ": a check: scope takes no match");
      } else if (!have_match) {
        errors.push_back(at(r.line) + "rule " + r.id + " has no match");
      }
    }
    open = Open::kNone;
    have_scope = have_match = have_score = have_describe = false;
  };

  int line_no = 0;
  std::string_view rest = src.text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    bool indented = line[0] == ' ' || line[0] == '\t';

    if (!indented) {
      close_block();
      auto [kw, arg] = split_word(t);
      if (kw == "rule") {
        if (!valid_id(arg)) {
          errors.push_back(at(line_no) + "bad rule id '" + std::string(arg) + "' (want [A-Z0-9_]+)");
          continue;
        }
        Rule r;
        r.id = std::string(arg);
        r.file = src.file;
        r.line = line_no;
        out.rules.push_back(std::move(r));
        open = Open::kRule;
      } else if (kw == "meta") {
        size_t eq = arg.find('=');
        std::string_view id = trim(arg.substr(0, eq));
        if (eq == std::string_view::npos || !valid_id(id)) {
          errors.push_back(at(line_no) + "want 'meta ID = EXPRESSION'");
          continue;
        }
        // "==" right after the id would be a typo, not an assignment.
        std::string_view expr = trim(arg.substr(eq + 1));
        auto parsed = parse_meta(expr);
        if (!parsed) {
          errors.push_back(at(line_no) + "meta " + std::string(id) + ": " + parsed.status().message());
          continue;
        }
        MetaRule m;
        m.id = std::string(id);
        m.expression = std::string(expr);
        m.expr = std::move(parsed.value());
        m.file = src.file;
        m.line = line_no;
        out.metas.push_back(std::move(m));
        open = Open::kMeta;
      } else {
        errors.push_back(at(line_no) + "expected 'rule ID' or 'meta ID = ...', got '" +
                         std::string(kw) + "'");
      }
      continue;
    }

    if (open == Open::kNone) {
      errors.push_back(at(line_no) + "attribute outside a rule block");
      continue;
    }
    auto [key, value] = split_word(t);
    std::string& describe = open == Open::kRule ? out.rules.back().description
                                                : out.metas.back().description;
    double& score = open == Open::kRule ? out.rules.back().score : out.metas.back().score;
    if (key == "score") {
      if (have_score) errors.push_back(at(line_no) + "duplicate score");
      have_score = true;
      double v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || p != value.data() + value.size() || !std::isfinite(v) ||
          std::fabs(v) > 1000) {
        errors.push_back(at(line_no) + "bad score '" + std::string(value) + "'");
        continue;
      }
      score = v;
    } else if (key == "describe") {
      if (have_describe) errors.push_back(at(line_no) + "duplicate describe");
      have_describe = true;
      describe = std::string(value);
    } else if (key == "scope" && open == Open::kRule) {
      if (have_scope) errors.push_back(at(line_no) + "duplicate scope");
      auto s = parse_scope(value);
      if (!s) {
        errors.push_back(at(line_no) + s.status().message());
        continue;
      }
      have_scope = true;
      out.rules.back().scope = std::move(s.value());
    } else if (key == "match" && open == Open::kRule) {
      if (have_match) errors.push_back(at(line_no) + "duplicate match");
      have_match = true;
      size_t first = value.find('/'), last = value.rfind('/');
      if (first != 0 || last == first) {
        errors.push_back(at(line_no) + "match wants /EXPRESSION/FLAGS");
        continue;
      }
      std::string_view pattern = value.substr(1, last - 1);
      if (pattern.empty()) {
        errors.push_back(at(line_no) + "empty pattern");
        continue;
      }
      if (pattern.size() > kMaxPatternLength) {
        errors.push_back(at(line_no) + "pattern longer than " + std::to_string(kMaxPatternLength));
        continue;
      }
      auto f = parse_flags(value.substr(last + 1));
      if (!f) {
        errors.push_back(at(line_no) + f.status().message());
        continue;
      }
      Rule& r = out.rules.back();
      r.pattern = std::string(pattern);
      r.flags = std::string(value.substr(last + 1));
      r.hs_flags = f.value();
    } else {
      errors.push_back(at(line_no) + "unknown attribute '" + std::string(key) + "'");
    }
  }
  close_block();
}

Result<RuleDefs> load_rule_sources(const std::vector<RuleSource>& sources) {
  RuleDefs defs;
  std::vector<std::string> errors;
  std::string hash_input = "tsubame-rules-v1\n";
  for (const auto& src : sources) {
    if (src.text.size() > kMaxRuleFileBytes) {
      errors.push_back(src.file + ":0: file larger than " + std::to_string(kMaxRuleFileBytes) +
                       " bytes");
      continue;
    }
    std::filesystem::path p(src.file);
    hash_input += p.filename().string() + "\n" + std::to_string(src.text.size()) + "\n" + src.text;
    parse_rule_text(src, defs, errors);
  }
  if (defs.size() > kMaxRules)
    errors.push_back("rule set has " + std::to_string(defs.size()) + " rules, more than " +
                     std::to_string(kMaxRules));

  // Ids unique across files.
  std::map<std::string, std::string, std::less<>> seen;
  std::vector<std::string> all_ids;
  for (size_t i = 0; i < defs.size(); ++i) {
    const std::string& id = defs.id_at(i);
    std::string where = i < defs.rules.size() ? defs.rules[i].where()
                                              : defs.metas[i - defs.rules.size()].where();
    auto [it, fresh] = seen.emplace(id, where);
    if (!fresh) errors.push_back(where + ": duplicate id " + id + " (first at " + it->second + ")");
    all_ids.push_back(id);
  }
  // Resolve meta expressions against all ids.
  std::map<std::string, int, std::less<>> index;
  for (size_t i = 0; i < all_ids.size(); ++i) index.emplace(all_ids[i], static_cast<int>(i));
  auto lookup = [&](std::string_view id) {
    auto it = index.find(id);
    return it == index.end() ? -1 : it->second;
  };
  bool resolved = true;
  for (size_t k = 0; k < defs.metas.size(); ++k) {
    MetaRule& m = defs.metas[k];
    Status s = m.expr.resolve(lookup, all_ids, static_cast<int>(defs.rules.size() + k));
    if (!s) {
      errors.push_back(m.where() + ": meta " + m.id + ": " + s.message());
      resolved = false;
    }
  }
  // Order metas so that a meta is evaluated after the metas it uses; reject cycles.
  if (resolved && errors.empty()) {
    const size_t nr = defs.rules.size(), nm = defs.metas.size();
    std::vector<int> state(nm, 0);  // 0 new, 1 visiting, 2 done
    std::vector<uint32_t> order;
    bool cycle = false;
    std::function<void(size_t)> visit = [&](size_t m) {
      if (state[m] == 2 || cycle) return;
      if (state[m] == 1) {
        errors.push_back(defs.metas[m].where() + ": meta " + defs.metas[m].id +
                         " depends on itself");
        cycle = true;
        return;
      }
      state[m] = 1;
      for (uint32_t dep : defs.metas[m].expr.dependencies())
        if (dep >= nr) visit(dep - nr);
      state[m] = 2;
      order.push_back(static_cast<uint32_t>(m));
    };
    for (size_t m = 0; m < nm && !cycle; ++m) visit(m);
    defs.meta_order = std::move(order);
  }
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    return Status::invalid(msg);
  }
  defs.content_hash = sha256_hex(hash_input);
  return defs;
}

Result<std::vector<RuleSource>> read_rule_sources(const std::filesystem::path& path) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      if (e.is_regular_file() && e.path().extension() == ".rules") files.push_back(e.path());
    }
    if (ec) return Status::io_error("cannot list " + path.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) return Status::not_found("no *.rules files in " + path.string());
  } else if (std::filesystem::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    return Status::not_found("rule path " + path.string() + " does not exist");
  }
  std::vector<RuleSource> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Status::io_error("cannot read " + f.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in.good() && !in.eof()) return Status::io_error("cannot read " + f.string());
    out.push_back({f.string(), ss.str()});
  }
  return out;
}

Result<RuleDefs> load_rule_path(const std::filesystem::path& path) {
  auto sources = read_rule_sources(path);
  if (!sources) return sources.status();
  return load_rule_sources(sources.value());
}

}  // namespace tsubame::filter
