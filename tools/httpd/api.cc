// tools/httpd/api.cc: request routing and the handlers of the JSON API (see api.h).
// Failure: every store error maps to an HTTP status; unexpected exceptions (e.g. from JSON
// building) are caught in handle() and answered 500, logged without personal data.
#include "tools/httpd/api.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "filter/filter.h"
#include "store/accounts.h"
#include "store/audit.h"
#include "store/queue.h"
#include "store/reports.h"
#include "store/settings.h"
#include "store/store.h"
#include "store/tokens.h"
#include "store/trace.h"
#include "tools/httpd/limits.h"
#include "common/webhook.h"

namespace tsubame::httpd {

using json = nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Response json_ok(int status, const json& j) {
  Response r;
  r.status = status;
  r.body = dump(j);
  return r;
}

Response from_status(const Status& s, const char* what) {
  switch (s.code()) {
    case Code::kNotFound: return json_error(404, std::string(what) + " not found");
    case Code::kInvalidArgument: return json_error(400, s.message());
    case Code::kPermissionDenied: return json_error(403, "forbidden");
    case Code::kLocked: return json_error(423, "locked");
    case Code::kUnavailable: return json_error(503, "try again later");
    default:
      log::sys().error("httpd: {}: {}", what, s.to_string());
      return json_error(500, "internal error");
  }
}

Response method_not_allowed(const char* allow) {
  Response r = json_error(405, "method not allowed");
  r.headers.emplace_back("Allow", allow);
  return r;
}

// Parses a JSON object body; nullopt (and `err` set) when it is not one.
std::optional<json> parse_object(const Request& req, Response& err) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    err = json_error(400, "body must be a JSON object");
    return std::nullopt;
  }
  return j;
}

std::optional<std::string> get_string(const json& j, const char* key, size_t max) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  std::string v = it->get<std::string>();
  if (v.empty() || v.size() > max) return std::nullopt;
  return v;
}

std::string format_address(const MailAddress& a) {
  std::string addr;
  if (a.mailbox) addr = *a.mailbox + (a.host ? "@" + *a.host : "");
  if (a.name && !a.name->empty()) return *a.name + " <" + addr + ">";
  return addr;
}

std::string format_addresses(const std::vector<MailAddress>& list) {
  std::string out;
  for (auto& a : list) {
    if (!a.host && !a.mailbox) continue;  // group end
    if (!out.empty()) out += ", ";
    out += format_address(a);
  }
  return out;
}

json flag_names(const store::Message& m) {
  json f = json::array();
  static const std::pair<uint32_t, const char*> names[] = {
      {store::kSeen, "\\Seen"}, {store::kAnswered, "\\Answered"}, {store::kFlagged, "\\Flagged"},
      {store::kDeleted, "\\Deleted"}, {store::kDraft, "\\Draft"}};
  for (auto& [bit, name] : names)
    if (m.flags & bit) f.push_back(name);
  for (auto& k : m.keywords) f.push_back(k);
  return f;
}

const char* reported_name(store::Reported r) {
  switch (r) {
    case store::Reported::kSpam: return "spam";
    case store::Reported::kHam: return "not-spam";
    default: return "";
  }
}

bool is_postmaster(std::string_view address) {
  size_t at = address.rfind('@');
  return at != std::string_view::npos && iequals(address.substr(0, at), "postmaster");
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

}  // namespace

Response json_error(int status, const std::string& message) {
  Response r;
  r.status = status;
  r.body = dump(json{{"error", message}});
  return r;
}

Result<std::unique_ptr<Api>> Api::create(store::Store& store, ApiOptions options,
                                         webhook::Sender* webhooks, Metrics& metrics) {
  std::unique_ptr<Api> api(new Api(store, std::move(options), webhooks, metrics));
  auto dummy = crypto::decoy_password_hash(api->options_.kdf);
  if (!dummy.is_ok()) return dummy.status();
  api->dummy_hash_ = *dummy;
  static const std::pair<const char*, const char*> files[] = {
      {"index.html", "text/html; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"}};
  for (auto& [name, type] : files) {
    std::ifstream in(std::filesystem::path(api->options_.www_dir) / name, std::ios::binary);
    if (!in) return Status::not_found("web page file " + api->options_.www_dir + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    api->static_files_["/" + std::string(name)] = {type, ss.str()};
  }
  api->static_files_["/"] = api->static_files_["/index.html"];
  return api;
}

Api::Api(store::Store& store, ApiOptions options, webhook::Sender* webhooks, Metrics& metrics)
    : store_(store),
      options_(std::move(options)),
      webhooks_(webhooks),
      metrics_(metrics),
      sessions_(options_.session_lifetime_ms) {
  accounts_ = std::make_unique<store::Accounts>(store_, options_.lockout);
  reports_ = std::make_unique<store::Reports>(store_);
}

Api::~Api() = default;

Response Api::handle(const Request& req) {
  Response r;
  try {
    r = route(req);
  } catch (const std::exception& e) {
    log::sys().error("httpd: {} {}: exception: {}", req.method, req.path, e.what());
    r = json_error(500, "internal error");
  }
  if (r.content_type == "application/json") r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Result<Session> Api::authenticate(const Request& req) {
  // RFC 6750 §2.1: Authorization: Bearer <token>
  std::string_view h = req.authorization;
  if (h.size() < 7 || !iequals(h.substr(0, 7), "Bearer ")) return Status::denied("no token");
  auto s = sessions_.lookup(trim(h.substr(7)), unix_now_ms());
  if (!s) return Status::denied("invalid or expired token");
  // A user disabled or deleted since login loses every session at once.
  auto u = store_.get_user(s->user_id);
  if (!u.is_ok() || u->disabled || u->deleted_at != 0) {
    sessions_.revoke_user(s->user_id);
    return Status::denied("account disabled");
  }
  return *s;
}

Response Api::route(const Request& req) {
  const std::string& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";

  if (auto it = static_files_.find(p); it != static_files_.end()) {
    if (!get) return method_not_allowed("GET, HEAD");
    Response r;
    r.content_type = it->second.content_type;
    r.body = it->second.body;
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  if (p == "/healthz") return get ? healthz() : method_not_allowed("GET, HEAD");
  if (p == "/metrics") return get ? metrics() : method_not_allowed("GET, HEAD");
  if (p == "/api/login") return post ? login(req) : method_not_allowed("POST");

  // Everything below needs a session. The method is checked first: 405 is about the
  // resource, not the caller.
  const char* allow = nullptr;
  bool want_post = false;
  std::optional<uint64_t> decide_id;
  if (p == "/api/logout" || p == "/api/report") {
    allow = "POST";
    want_post = true;
  } else if (p == "/api/me" || p == "/api/mailboxes" || p == "/api/messages" || p == "/api/quarantine") {
    allow = "GET, HEAD";
  } else if (p.size() > 23 && p.starts_with("/api/quarantine/") && p.ends_with("/decide")) {
    std::string_view id = std::string_view(p).substr(16, p.size() - 16 - 7);
    decide_id = parse_u64(id);
    if (!decide_id) return json_error(404, "not found");
    allow = "POST";
    want_post = true;
  } else {
    return json_error(404, "not found");
  }
  if (want_post ? !post : !get) return method_not_allowed(allow);

  auto s = authenticate(req);
  if (!s.is_ok()) {
    Response r = json_error(401, "authentication required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tsubame\", error=\"invalid_token\"");
    return r;
  }
  if (p == "/api/logout") return logout(req, *s);
  if (p == "/api/me") return me(*s);
  if (p == "/api/mailboxes") return mailboxes(*s);
  if (p == "/api/messages") return messages(req, *s);
  if (p == "/api/report") return report(req, *s);
  if (!s->admin) return json_error(403, "administrators only");
  if (p == "/api/quarantine") return quarantine(req, *s);
  return decide(req, *s, *decide_id);
}

Response Api::login(const Request& req) {
  Response err;
  auto body = parse_object(req, err);
  if (!body) return err;
  auto address = get_string(*body, "address", kMaxLoginField);
  auto password = get_string(*body, "password", kMaxLoginField);
  if (!address || !password) return json_error(400, "address and password (strings) are required");

  store::LoginEvent ev;
  ev.login = *address;
  ev.source_ip = req.peer_ip;
  ev.client_id = req.user_agent.substr(0, 200);
  ev.protocol = store::LoginProtocol::kHttp;
  // The lockout thresholds of the user's domain (tsubame security set), else the config's;
  // the lockout record itself is shared with smtpd and imapd (store/accounts.h).
  store::Accounts* accounts = accounts_.get();
  std::optional<store::Accounts> domain_accounts;
  auto record = [&](store::LoginResult result) -> Result<store::LoginOutcome> {
    ev.result = result;
    auto o = accounts->record_login(ev);
    if (!o.is_ok()) log::sys().error("httpd: login history: {}", o.status().to_string());
    return o;
  };
  const Response denied = json_error(401, "invalid address or password");

  auto user = store_.find_user(*address);
  if (!user.is_ok() && user.status().code() != Code::kNotFound) return from_status(user.status(), "user");
  if (!user.is_ok() || user->disabled || user->deleted_at != 0) {
    // Same work as a real check, so the answer's timing does not reveal the address exists.
    (void)crypto::verify_password(*password, dummy_hash_);
    ev.user_id = user.is_ok() ? user->id : 0;
    (void)record(user.is_ok() ? store::LoginResult::kDisabled : store::LoginResult::kUnknownUser);
    metrics_.login_failed++;
    return denied;
  }
  ev.user_id = user->id;
  auto lockout = store::domain_lockout(store_, user->domain_id, options_.lockout);
  if (!lockout.is_ok()) return from_status(lockout.status(), "lockout settings");
  domain_accounts.emplace(store_, *lockout);
  accounts = &*domain_accounts;
  auto locked = accounts->is_locked(user->id);
  if (!locked.is_ok()) return from_status(locked.status(), "lockout state");
  if (*locked) {
    // No password check while locked: guesses during the lock teach nothing.
    (void)record(store::LoginResult::kLocked);
    metrics_.login_locked++;
    return json_error(423, "account locked; try again later");
  }
  if (!crypto::verify_password(*password, user->password_hash)) {
    auto outcome = record(store::LoginResult::kBadPassword);
    metrics_.login_failed++;
    if (outcome.is_ok() && outcome->newly_locked && webhooks_) {
      webhooks_->publish(webhook::EventType::kAccountLocked,
                         {{"user", user->address},
                          {"locked_until_ms", outcome->locked_until_ms},
                          {"failures", outcome->failures},
                          {"protocol", "http"},
                          {"source_ip", req.peer_ip}});
    }
    return denied;
  }
  if (auto o = record(store::LoginResult::kSuccess); !o.is_ok())
    return json_error(500, "internal error");  // every web login must be in the history
  Session s;
  s.user_id = user->id;
  s.address = user->address;
  s.domain_id = user->domain_id;
  s.admin = is_postmaster(user->address);
  int64_t now = unix_now_ms();
  std::string token = sessions_.create(s, now);
  metrics_.login_success++;
  return json_ok(200, {{"token", token},
                       {"address", s.address},
                       {"admin", s.admin},
                       {"expires_ms", now + sessions_.lifetime_ms()}});
}

Response Api::logout(const Request& req, const Session&) {
  sessions_.revoke(trim(std::string_view(req.authorization).substr(7)));
  Response r;
  r.status = 204;
  return r;
}

Response Api::me(const Session& s) {
  return json_ok(200, {{"address", s.address}, {"admin", s.admin}, {"expires_ms", s.expires_ms}});
}

Response Api::mailboxes(const Session& s) {
  auto list = store_.list_mailboxes(s.user_id);
  if (!list.is_ok()) return from_status(list.status(), "mailboxes");
  json out = json::array();
  for (auto& m : *list) {
    out.push_back({{"name", m.name},
                   {"special", store::special_use_name(m.special)},
                   {"messages", m.messages},
                   {"unseen", m.unseen},
                   {"size", m.size},
                   {"uidvalidity", m.uidvalidity},
                   {"uidnext", m.uidnext}});
  }
  return json_ok(200, {{"mailboxes", out}});
}

Response Api::messages(const Request& req, const Session& s) {
  auto mq = req.query.find("mailbox");
  std::string name = mq == req.query.end() ? "INBOX" : mq->second;
  if (name.empty() || name.size() > store::kMaxMailboxNameBytes) return json_error(400, "bad mailbox name");
  size_t limit = kDefaultMessageListLimit;
  if (auto it = req.query.find("limit"); it != req.query.end()) {
    auto v = parse_u64(it->second);
    if (!v || *v == 0 || *v > kMaxMessageListLimit) return json_error(400, "limit must be 1..1000");
    limit = *v;
  }
  uint32_t before = UINT32_MAX;
  if (auto it = req.query.find("before"); it != req.query.end()) {
    auto v = parse_u64(it->second);
    if (!v || *v == 0 || *v > UINT32_MAX) return json_error(400, "before must be a UID");
    before = static_cast<uint32_t>(*v);
  }
  auto mbox = store_.find_mailbox(s.user_id, name);
  if (!mbox.is_ok()) return from_status(mbox.status(), "mailbox");
  auto list = store_.list_messages(mbox->id, 1, before == UINT32_MAX ? UINT32_MAX : before - 1);
  if (!list.is_ok()) return from_status(list.status(), "messages");
  json out = json::array();
  // Newest first.
  for (auto it = list->rbegin(); it != list->rend() && out.size() < limit; ++it) {
    const store::Message& m = *it;
    json item = {{"uid", m.uid},
                 {"size", m.size},
                 {"internal_date", m.internal_date},
                 {"flags", flag_names(m)},
                 {"reported", reported_name(m.reported)},
                 {"from", ""},
                 {"subject", ""},
                 {"date", ""}};
    // Headers only, from the stored summary: the body is never read here.
    if (auto sum = store_.read_summary(s.user_id, mbox->id, m.uid); sum.is_ok()) {
      item["from"] = format_addresses(sum->envelope.from);
      item["subject"] = sum->envelope.subject.value_or("");
      item["date"] = sum->envelope.date.value_or("");
    }
    out.push_back(std::move(item));
  }
  return json_ok(200, {{"mailbox", mbox->name}, {"uidvalidity", mbox->uidvalidity}, {"messages", out}});
}

Response Api::report(const Request& req, const Session& s) {
  Response err;
  auto body = parse_object(req, err);
  if (!body) return err;
  auto mailbox = get_string(*body, "mailbox", store::kMaxMailboxNameBytes);
  auto kind_s = get_string(*body, "kind", 16);
  auto uid_it = body->find("uid");
  if (!mailbox || !kind_s || uid_it == body->end() || !uid_it->is_number_unsigned() ||
      uid_it->get<uint64_t>() == 0 || uid_it->get<uint64_t>() > UINT32_MAX)
    return json_error(400, "mailbox (string), uid (number) and kind (spam|ham) are required");
  store::ReportKind kind;
  if (*kind_s == "spam") kind = store::ReportKind::kSpam;
  else if (*kind_s == "ham" || *kind_s == "not-spam") kind = store::ReportKind::kNotSpam;
  else return json_error(400, "kind must be spam or ham");
  std::string reason;
  if (auto r = body->find("reason"); r != body->end()) {
    if (!r->is_string() || r->get<std::string>().size() > kMaxReasonBytes)
      return json_error(400, "reason must be a string of at most 1024 bytes");
    reason = r->get<std::string>();
  }
  uint32_t uid = static_cast<uint32_t>(uid_it->get<uint64_t>());

  // Ownership: the mailbox is looked up among this user's own mailboxes only; anything else
  // is "not found" (never "forbidden", which would confirm it exists).
  auto mbox = store_.find_mailbox(s.user_id, *mailbox);
  if (!mbox.is_ok()) return from_status(mbox.status(), "message");
  auto msg = store_.get_message(mbox->id, uid);
  if (!msg.is_ok()) return from_status(msg.status(), "message");
  store::Reported want = kind == store::ReportKind::kSpam ? store::Reported::kSpam : store::Reported::kHam;
  if (msg->reported == want)  // idempotent: a repeated report changes nothing
    return json_ok(200, {{"duplicate", true}, {"kind", reported_name(want)}, {"uid", uid}});
  auto content = store_.read_message(s.user_id, mbox->id, uid);
  if (!content.is_ok()) return from_status(content.status(), "message");

  store::Report rep;
  rep.reporter = s.user_id;
  rep.mailbox_id = mbox->id;
  rep.uid = uid;
  rep.kind = kind;
  rep.reason = reason.empty() ? "reported from the web UI" : reason;
  rep.content = std::move(*content);
  auto id = reports_->add_report(rep);
  if (!id.is_ok()) return from_status(id.status(), "report");
  if (Status st = store_.set_reported(mbox->id, uid, want); !st.is_ok())
    log::sys().error("httpd: report {}: set_reported: {}", *id, st.to_string());
  store::AuditLog audit(store_);
  if (auto a = audit.append({s.address, "report.add", "report:" + std::to_string(*id),
                             std::string("kind=") + store::report_kind_name(kind) + " via=http ip=" + req.peer_ip});
      !a.is_ok())
    log::sys().error("httpd: report {}: audit: {}", *id, a.status().to_string());
  (kind == store::ReportKind::kSpam ? metrics_.reports_spam : metrics_.reports_ham)++;
  {
    std::lock_guard stats_lock(stats_mu_);
    stats_at_ms_ = 0;
  }
  if (webhooks_)
    webhooks_->publish(webhook::EventType::kSpamReported, {{"report_id", *id},
                                                            {"reporter", s.address},
                                                            {"mailbox", mbox->name},
                                                            {"uid", uid},
                                                            {"kind", store::report_kind_name(kind)}});
  return json_ok(201, {{"report_id", *id}, {"kind", store::report_kind_name(kind)}, {"uid", uid}});
}

Response Api::quarantine(const Request& req, const Session& s) {
  store::ReportFilter f;
  f.limit = kMaxQuarantineListLimit;
  std::string status = "open";
  if (auto it = req.query.find("status"); it != req.query.end()) status = it->second;
  if (status == "open") f.status = store::ReportStatus::kOpen;
  else if (status == "confirmed") f.status = store::ReportStatus::kConfirmed;
  else if (status == "false-report") f.status = store::ReportStatus::kFalseReport;
  else if (status != "all") return json_error(400, "status must be open, confirmed, false-report or all");
  auto list = reports_->list(f);
  if (!list.is_ok()) return from_status(list.status(), "reports");
  json out = json::array();
  std::map<uint64_t, std::optional<store::User>> users;  // reporter -> user (cache)
  for (auto& r : *list) {
    auto& u = users[r.reporter];
    if (!u) {
      auto got = store_.get_user(r.reporter);
      if (got.is_ok()) u = *got;
    }
    if (!u || u->domain_id != s.domain_id) continue;  // another domain's report
    json item = {{"id", r.id},
                 {"reporter", u->address},
                 {"kind", store::report_kind_name(r.kind)},
                 {"reason", r.reason},
                 {"time_ms", r.time_ms},
                 {"status", store::report_status_name(r.status)},
                 {"decided_by", r.decided_by},
                 {"decided_at_ms", r.decided_at_ms},
                 {"size", r.size},
                 {"uid", r.uid},
                 {"from", ""},
                 {"subject", ""}};
    // Headers of the reported message while the reporter still has it (metadata only).
    if (auto sum = store_.read_summary(r.reporter, r.mailbox_id, r.uid); sum.is_ok()) {
      item["from"] = format_addresses(sum->envelope.from);
      item["subject"] = sum->envelope.subject.value_or("");
    }
    out.push_back(std::move(item));
  }
  return json_ok(200, {{"reports", out}});
}

Result<filter::Filter*> Api::filter() {
  // Caller holds filter_mu_.
  if (!filter_) {
    filter::FilterOptions o = options_.filter;
    o.store = &store_;
    auto f = filter::Filter::open(std::move(o));
    if (!f.is_ok()) return f.status();
    filter_ = std::move(*f);
  }
  return filter_.get();
}

namespace {
enum class Trained { kNone, kSpam, kHam };
// What a report in this state has taught the classifier (the CLI's rule, tools/cmd_quarantine.cc).
Trained trained_as(store::ReportKind kind, store::ReportStatus status) {
  if (status == store::ReportStatus::kOpen) return Trained::kNone;
  bool spam_report = kind == store::ReportKind::kSpam;
  bool confirmed = status == store::ReportStatus::kConfirmed;
  return spam_report == confirmed ? Trained::kSpam : Trained::kHam;
}
}  // namespace

Response Api::decide(const Request& req, const Session& s, uint64_t id) {
  Response err;
  auto body = parse_object(req, err);
  if (!body) return err;
  auto decision = get_string(*body, "decision", 32);
  store::ReportStatus st;
  if (decision == "confirmed") st = store::ReportStatus::kConfirmed;
  else if (decision == "false-report") st = store::ReportStatus::kFalseReport;
  else return json_error(400, "decision must be confirmed or false-report");
  auto meta = reports_->get(id);
  if (!meta.is_ok()) return from_status(meta.status(), "report");
  auto reporter = store_.get_user(meta->reporter);
  if (!reporter.is_ok() || reporter->domain_id != s.domain_id) return json_error(404, "report not found");

  // One decision at a time, so that "what was it trained as" and the training agree.
  std::lock_guard lock(filter_mu_);
  auto rep = reports_->get(id);  // again, under the lock
  if (!rep.is_ok()) return from_status(rep.status(), "report");
  Trained before = trained_as(rep->kind, rep->status), after = trained_as(rep->kind, st);
  filter::Filter* f = nullptr;
  std::string content;
  if (before != after) {
    auto fr = filter();
    if (!fr.is_ok()) {
      log::sys().error("httpd: decide report {}: filter: {}", id, fr.status().to_string());
      return json_error(503, "the classifier is unavailable; nothing was decided");
    }
    f = *fr;
    auto viewed = reports_->view(id, s.address);  // the content, audit-logged
    if (!viewed.is_ok()) return from_status(viewed.status(), "report");
    content = std::move(viewed->content);
    if (before != Trained::kNone) {
      if (Status u = f->learn(content, before == Trained::kSpam, reporter->domain_id, -1); !u.is_ok())
        return from_status(u, "unlearn");
    }
    if (Status l = f->learn(content, after == Trained::kSpam, reporter->domain_id, +1); !l.is_ok()) {
      if (before != Trained::kNone) (void)f->learn(content, before == Trained::kSpam, reporter->domain_id, +1);
      return from_status(l, "learn");
    }
  }
  if (Status d = reports_->decide(id, st, s.address); !d.is_ok()) {
    if (f) {  // undo the training so the counts match the recorded decision
      (void)f->learn(content, after == Trained::kSpam, reporter->domain_id, -1);
      if (before != Trained::kNone) (void)f->learn(content, before == Trained::kSpam, reporter->domain_id, +1);
    }
    return from_status(d, "report");
  }
  metrics_.decisions++;
  {
    std::lock_guard stats_lock(stats_mu_);
    stats_at_ms_ = 0;  // counts changed: the next scrape recomputes
  }
  const char* trained = after == Trained::kSpam ? "spam" : "ham";
  if (webhooks_)
    webhooks_->publish(webhook::EventType::kQuarantineDecided,
                       {{"report_id", id},
                        {"decision", store::report_status_name(st)},
                        {"kind", store::report_kind_name(rep->kind)},
                        {"trained_as", trained},
                        {"decided_by", s.address}});
  return json_ok(200, {{"id", id},
                       {"status", store::report_status_name(st)},
                       {"decided_by", s.address},
                       {"trained_as", trained},
                       {"learned", before != after}});
}

Response Api::healthz() {
  auto d = store_.list_domains();
  if (!d.is_ok()) return json_error(503, "store unavailable");
  return json_ok(200, {{"status", "ok"}});
}

Response Api::metrics() {
  std::string store_part;
  {
    std::lock_guard lock(stats_mu_);
    int64_t now = unix_now_ms();
    if (stats_at_ms_ == 0 || now - stats_at_ms_ >= kStoreStatsCacheMs) {
      std::ostringstream o;
      bool ok = true;
      uint64_t domains = 0, users = 0, mailboxes = 0, messages = 0, bytes = 0;
      if (auto d = store_.list_domains(); d.is_ok()) domains = d->size(); else ok = false;
      if (auto us = store_.list_users(); us.is_ok()) {
        users = us->size();
        for (auto& u : *us) {
          auto mbs = store_.list_mailboxes(u.id);
          if (!mbs.is_ok()) continue;
          mailboxes += mbs->size();
          for (auto& m : *mbs) {
            messages += m.messages;
            bytes += m.size;
          }
        }
      } else {
        ok = false;
      }
      o << "# HELP tsubame_store_objects Objects in the store.\n# TYPE tsubame_store_objects gauge\n"
        << "tsubame_store_objects{kind=\"domains\"} " << domains << "\n"
        << "tsubame_store_objects{kind=\"users\"} " << users << "\n"
        << "tsubame_store_objects{kind=\"mailboxes\"} " << mailboxes << "\n"
        << "tsubame_store_objects{kind=\"messages\"} " << messages << "\n"
        << "# HELP tsubame_store_message_bytes Octets of all stored messages.\n"
           "# TYPE tsubame_store_message_bytes gauge\ntsubame_store_message_bytes " << bytes << "\n";
      store::OutboundQueue q(store_);
      store::QueueFilter qf;
      qf.limit = 1000000;
      if (auto entries = q.list(qf); entries.is_ok()) {
        size_t held = 0;
        for (auto& e : *entries) held += e.held ? 1 : 0;
        o << "# HELP tsubame_queue_size Outbound queue entries.\n# TYPE tsubame_queue_size gauge\n"
          << "tsubame_queue_size{state=\"all\"} " << entries->size() << "\n"
          << "tsubame_queue_size{state=\"held\"} " << held << "\n";
      } else {
        ok = false;
      }
      store::ReportFilter rf;
      rf.limit = 1000000;
      if (auto reps = reports_->list(rf); reps.is_ok()) {
        std::map<std::string, uint64_t> by;
        for (auto s : {store::ReportStatus::kOpen, store::ReportStatus::kConfirmed, store::ReportStatus::kFalseReport})
          by[store::report_status_name(s)] = 0;
        for (auto& r : *reps) by[store::report_status_name(r.status)]++;
        o << "# HELP tsubame_quarantine_reports Quarantine reports by status.\n"
             "# TYPE tsubame_quarantine_reports gauge\n";
        for (auto& [k, v] : by) o << "tsubame_quarantine_reports{status=\"" << k << "\"} " << v << "\n";
      } else {
        ok = false;
      }
      store::Trace trace(store_);
      store::TraceQuery tq;
      tq.since_ms = now - 24 * 3600 * 1000LL;
      tq.limit = 1000000;
      if (auto recs = trace.query(tq); recs.is_ok()) {
        std::map<std::pair<std::string, std::string>, uint64_t> by_status;
        std::map<std::string, uint64_t> by_action;
        for (auto& r : *recs) {
          by_status[{store::trace_direction_name(r.direction), store::trace_status_name(r.status)}]++;
          if (!r.action.empty()) by_action[r.action]++;
        }
        o << "# HELP tsubame_messages_24h Message trace records of the last 24 hours (in = received, out = sent).\n"
             "# TYPE tsubame_messages_24h gauge\n";
        for (auto& [k, v] : by_status)
          o << "tsubame_messages_24h{direction=\"" << k.first << "\",status=\"" << k.second << "\"} " << v << "\n";
        o << "# HELP tsubame_verdicts_24h Filter verdicts of the last 24 hours by action.\n"
             "# TYPE tsubame_verdicts_24h gauge\n";
        for (auto& [k, v] : by_action) o << "tsubame_verdicts_24h{action=\"" << k << "\"} " << v << "\n";
      } else {
        ok = false;
      }
      if (auto t = store::token_totals(store_, 0); t.is_ok()) {
        o << "# HELP tsubame_classifier_messages Messages the classifier has learned (global scope).\n"
             "# TYPE tsubame_classifier_messages gauge\n"
          << "tsubame_classifier_messages{class=\"spam\"} " << t->spam << "\n"
          << "tsubame_classifier_messages{class=\"ham\"} " << t->ham << "\n";
      } else {
        ok = false;
      }
      o << "# HELP tsubame_store_stats_ok 1 if every store count above could be read.\n"
           "# TYPE tsubame_store_stats_ok gauge\ntsubame_store_stats_ok " << (ok ? 1 : 0) << "\n";
      stats_text_ = o.str();
      stats_at_ms_ = now;
    }
    store_part = stats_text_;
  }
  std::ostringstream o;
  o << metrics_.render_own();
  o << "# HELP tsubame_httpd_sessions Live web sessions.\n# TYPE tsubame_httpd_sessions gauge\n"
    << "tsubame_httpd_sessions " << sessions_.size() << "\n";
  if (webhooks_) {
    auto w = webhooks_->stats();
    o << "# HELP tsubame_webhook_events_total Webhook events by outcome.\n"
         "# TYPE tsubame_webhook_events_total counter\n"
      << "tsubame_webhook_events_total{outcome=\"published\"} " << w.published << "\n"
      << "tsubame_webhook_events_total{outcome=\"delivered\"} " << w.delivered << "\n"
      << "tsubame_webhook_events_total{outcome=\"attempt_failed\"} " << w.attempts_failed << "\n"
      << "tsubame_webhook_events_total{outcome=\"gave_up\"} " << w.gave_up << "\n"
      << "tsubame_webhook_events_total{outcome=\"dropped\"} " << w.dropped << "\n"
      << "# HELP tsubame_webhook_pending Webhook deliveries waiting.\n# TYPE tsubame_webhook_pending gauge\n"
      << "tsubame_webhook_pending " << w.pending << "\n";
  }
  o << store_part << render_textfiles(options_.metrics_dir);
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = o.str();
  return r;
}

}  // namespace tsubame::httpd
