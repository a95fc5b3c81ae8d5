// tools/cmd_trace.cc: `tsubame trace`, `tsubame stats`, `tsubame queue list|release|delete|flush`.
//
// trace and stats read the message trace (store/trace.h): metadata only (queue id, time,
// direction, sender, recipients, size, verdict, status, remote host, error), never a body.
// A trace query shows personal metadata, so it is audit-logged ("trace.view") with the query.
// stats aggregates per domain and per UTC day; each message (queue id and direction) counts
// once, by its last record:
//   received     inbound messages (whatever became of them)
//   sent         outbound messages with a delivered record
//   rejected     inbound messages whose last status is rejected
//   quarantined  inbound messages with filter action quarantine (or held)
//   junk         inbound messages delivered to Junk
//   spam_rate    (junk + quarantined + rejected by the filter) / received
// queue list shows envelope metadata (audit "queue.view"); release and delete are
// audit-logged by store/queue.h; flush makes every waiting entry due now ("queue.flush").
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "common/bytes.h"
#include "store/queue.h"
#include "store/trace.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {
namespace {

nlohmann::json trace_json(const store::TraceRecord& r) {
  return {{"queue_id", r.queue_id},
          {"time_ms", r.time_ms},
          {"time", format_time_ms(r.time_ms)},
          {"direction", store::trace_direction_name(r.direction)},
          {"sender", r.sender},
          {"recipients", r.recipients},
          {"size", r.size},
          {"action", r.action},
          {"score", r.score},
          {"rules", r.rule_ids},
          {"status", store::trace_status_name(r.status)},
          {"remote_host", r.remote_host},
          {"error", r.error}};
}

std::string domain_of(const std::string& address) {
  size_t at = address.rfind('@');
  return at == std::string::npos ? std::string("(none)") : to_lower(address.substr(at + 1));
}

struct TraceOpts {
  std::string sender, recipient, since, until, queue_id, verdict, status, direction;
  size_t limit = 1000;
};

int run_trace(Context& ctx, const TraceOpts& o) {
  store::TraceQuery q;
  q.sender = o.sender;
  q.recipient = o.recipient;
  q.action = o.verdict;
  q.limit = o.limit;
  if (!o.since.empty()) {
    auto t = parse_time_ms(o.since);
    if (!t.is_ok()) return fail("trace --since", t.status());
    q.since_ms = *t;
  }
  if (!o.until.empty()) {
    auto t = parse_time_ms(o.until);
    if (!t.is_ok()) return fail("trace --until", t.status());
    q.until_ms = *t;
  }
  if (!o.status.empty()) {
    q.status = store::parse_trace_status(o.status);
    if (!q.status) return fail("trace --status", Status::invalid("unknown status '" + o.status + "'"));
  }
  if (!o.direction.empty()) {
    if (o.direction == "in") q.direction = store::TraceDirection::kIn;
    else if (o.direction == "out") q.direction = store::TraceDirection::kOut;
    else return fail("trace --direction", Status::invalid("expected in or out"));
  }
  auto st = ctx.store();
  if (!st.is_ok()) return fail("store", st.status());
  store::Trace trace(**st);
  std::vector<store::TraceRecord> recs;
  if (!o.queue_id.empty()) {
    auto r = trace.by_queue_id(o.queue_id);
    if (!r.is_ok()) return fail("trace", r.status());
    for (auto& rec : *r) {  // the other filters still apply
      if (rec.time_ms < q.since_ms || rec.time_ms >= q.until_ms) continue;
      if (!q.action.empty() && rec.action != q.action) continue;
      if (q.status && rec.status != *q.status) continue;
      if (q.direction && rec.direction != *q.direction) continue;
      recs.push_back(std::move(rec));
    }
  } else {
    auto r = trace.query(q);
    if (!r.is_ok()) return fail("trace", r.status());
    recs = std::move(*r);
  }
  std::string query;
  for (auto [k, v] : {std::pair{"sender", &o.sender}, {"recipient", &o.recipient}, {"since", &o.since},
                      {"until", &o.until}, {"queue_id", &o.queue_id}, {"verdict", &o.verdict},
                      {"status", &o.status}, {"direction", &o.direction}})
    if (!v->empty()) query += std::string(query.empty() ? "" : " ") + k + "=" + *v;
  if (Status s = audit(**st, "trace.view", o.recipient.empty() ? o.sender : o.recipient,
                       query + " records=" + std::to_string(recs.size()));
      !s.is_ok())
    return fail("trace", s);
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : recs) out.push_back(trace_json(r));
    std::cout << out.dump() << "\n";
    return kOk;
  }
  for (const auto& r : recs) {
    std::string rcpts;
    for (const auto& x : r.recipients) rcpts += (rcpts.empty() ? "" : ",") + x;
    std::cout << format_time_ms(r.time_ms) << "  " << r.queue_id << "  " << store::trace_direction_name(r.direction)
              << "  " << store::trace_status_name(r.status) << "  <" << r.sender << "> -> " << rcpts << "  "
              << r.size << "B";
    if (!r.action.empty()) std::cout << "  " << r.action << " " << r.score;
    if (!r.rule_ids.empty()) {
      std::cout << " [";
      for (size_t i = 0; i < r.rule_ids.size(); i++) std::cout << (i ? "," : "") << r.rule_ids[i];
      std::cout << "]";
    }
    if (!r.remote_host.empty()) std::cout << "  " << r.remote_host;
    if (!r.error.empty()) std::cout << "  \"" << r.error << "\"";
    std::cout << "\n";
  }
  return kOk;
}

struct Counts {
  uint64_t received = 0, sent = 0, rejected = 0, quarantined = 0, junk = 0, spam = 0;
};

nlohmann::json counts_json(const Counts& c) {
  return {{"received", c.received}, {"sent", c.sent},     {"rejected", c.rejected},
          {"quarantined", c.quarantined}, {"junk", c.junk}, {"spam_rate", c.received ? double(c.spam) / double(c.received) : 0.0}};
}

int run_stats(Context& ctx, const std::string& since, const std::string& until, const std::string& domain) {
  store::TraceQuery q;
  q.limit = 10'000'000;
  auto s = parse_time_ms(since.empty() ? "7d" : since);
  if (!s.is_ok()) return fail("stats --since", s.status());
  q.since_ms = *s;
  if (!until.empty()) {
    auto u = parse_time_ms(until);
    if (!u.is_ok()) return fail("stats --until", u.status());
    q.until_ms = *u;
  }
  auto st = ctx.store();
  if (!st.is_ok()) return fail("store", st.status());
  auto recs = store::Trace(**st).query(q);
  if (!recs.is_ok()) return fail("stats", recs.status());
  // Oldest first, so the last record of a message wins; the first gives its day.
  std::sort(recs->begin(), recs->end(), [](const store::TraceRecord& a, const store::TraceRecord& b) {
    return a.time_ms != b.time_ms ? a.time_ms < b.time_ms : a.seq < b.seq;
  });
  struct Msg {
    int64_t first_ms = 0;
    store::TraceRecord last;
    bool delivered = false, quarantined = false, held = false;
  };
  std::map<std::pair<std::string, int>, Msg> msgs;
  for (auto& r : *recs) {
    auto& m = msgs[{r.queue_id, int(r.direction)}];
    if (!m.first_ms) m.first_ms = r.time_ms;
    m.delivered |= r.status == store::TraceStatus::kDelivered;
    m.quarantined |= r.action == "quarantine";
    m.held |= r.status == store::TraceStatus::kHeld;
    m.last = r;
  }
  std::map<std::string, std::map<std::string, Counts>> by;  // domain -> day -> counts
  std::string want = to_lower(domain);
  for (auto& [key, m] : msgs) {
    std::string day = format_date_ms(m.first_ms);
    std::set<std::string> domains;
    if (m.last.direction == store::TraceDirection::kIn) {
      for (const auto& r : m.last.recipients) domains.insert(domain_of(r));
    } else {
      domains.insert(domain_of(m.last.sender));
    }
    for (const auto& d : domains) {
      if (!want.empty() && d != want) continue;
      Counts& c = by[d][day];
      if (m.last.direction == store::TraceDirection::kOut) {
        c.sent += m.delivered;
        continue;
      }
      c.received++;
      bool rejected = m.last.status == store::TraceStatus::kRejected;
      bool junk = m.last.status == store::TraceStatus::kJunk;
      bool quarantined = m.quarantined || m.held;
      c.rejected += rejected;
      c.junk += junk;
      c.quarantined += quarantined;
      c.spam += junk || quarantined || (rejected && m.last.action == "reject");
    }
  }
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [d, days] : by) {
      Counts total;
      nlohmann::json dj = nlohmann::json::object();
      for (const auto& [day, c] : days) {
        dj[day] = counts_json(c);
        total.received += c.received, total.sent += c.sent, total.rejected += c.rejected;
        total.quarantined += c.quarantined, total.junk += c.junk, total.spam += c.spam;
      }
      out[d] = {{"total", counts_json(total)}, {"days", dj}};
    }
    std::cout << nlohmann::json{{"since_ms", q.since_ms}, {"domains", out}}.dump() << "\n";
    return kOk;
  }
  std::cout << std::left << std::setw(28) << "domain" << std::setw(12) << "day" << std::right << std::setw(9)
            << "received" << std::setw(7) << "sent" << std::setw(9) << "rejected" << std::setw(12)
            << "quarantined" << std::setw(6) << "junk" << std::setw(10) << "spam rate" << "\n";
  for (const auto& [d, days] : by)
    for (const auto& [day, c] : days)
      std::cout << std::left << std::setw(28) << d << std::setw(12) << day << std::right << std::setw(9)
                << c.received << std::setw(7) << c.sent << std::setw(9) << c.rejected << std::setw(12)
                << c.quarantined << std::setw(6) << c.junk << std::setw(9) << std::fixed << std::setprecision(1)
                << (c.received ? 100.0 * double(c.spam) / double(c.received) : 0.0) << "%\n";
  return kOk;
}

}  // namespace

void register_trace(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<TraceOpts>();
  auto* cmd = app.add_subcommand("trace", "Message trace: who sent what to whom, and what became of it (no bodies)");
  cmd->add_option("--sender", o->sender, "Envelope sender address, or @domain");
  cmd->add_option("--recipient", o->recipient, "Recipient address, or @domain");
  cmd->add_option("--since", o->since, "From this time (unix seconds, YYYY-MM-DD, ISO time, or 24h/7d ago)");
  cmd->add_option("--until", o->until, "Before this time");
  cmd->add_option("--queue-id", o->queue_id, "Every record of one message");
  cmd->add_option("--verdict", o->verdict, "Filter action: deliver, junk, quarantine, reject, hold");
  cmd->add_option("--status", o->status, "received, delivered, junk, rejected, queued, bounced, held, deferred");
  cmd->add_option("--direction", o->direction, "in or out");
  cmd->add_option("--limit", o->limit, "At most this many records, newest first")->capture_default_str();
  cmd->add_flag("--json", ctx.json, "JSON output");
  set_action(cmd, [&ctx, o] { return run_trace(ctx, *o); });
}

void register_stats(CLI::App& app, Context& ctx) {
  auto since = std::make_shared<std::string>();
  auto until = std::make_shared<std::string>();
  auto domain = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("stats", "Messages received, sent, rejected, quarantined and spam rate per domain and day");
  cmd->add_option("--since", *since, "From this time (default: 7d ago)");
  cmd->add_option("--until", *until, "Before this time");
  cmd->add_option("--domain", *domain, "Only this domain");
  cmd->add_flag("--json", ctx.json, "JSON output");
  set_action(cmd, [&ctx, since, until, domain] { return run_stats(ctx, *since, *until, *domain); });
}

void register_queue(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("queue", "The outbound queue");
  cmd->require_subcommand(1);

  auto held = std::make_shared<bool>(false);
  auto* list = cmd->add_subcommand("list", "List queued messages (envelope metadata, no content)");
  list->add_flag("--held", *held, "Only messages held by policy");
  list->add_flag("--json", ctx.json, "JSON output");
  set_action(list, [&ctx, held] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    store::QueueFilter f;
    f.held_only = *held;
    auto r = store::OutboundQueue(**st).list(f);
    if (!r.is_ok()) return fail("queue list", r.status());
    if (Status s = audit(**st, "queue.view", "queue", "entries=" + std::to_string(r->size())); !s.is_ok())
      return fail("queue list", s);
    if (ctx.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& e : *r) {
        nlohmann::json rc = nlohmann::json::array();
        for (const auto& x : e.recipients)
          rc.push_back({{"address", x.address}, {"status", store::recipient_status_name(x.status)},
                        {"last_error", x.last_error}, {"remote_host", x.remote_host}});
        out.push_back({{"id", e.id}, {"sender", e.sender}, {"recipients", rc}, {"created_ms", e.created_ms},
                       {"next_attempt_ms", e.next_attempt_ms}, {"attempts", e.attempts}, {"held", e.held},
                       {"hold_reason", e.hold_reason}, {"hold_rules", e.hold_rules}, {"size", e.size}});
      }
      std::cout << out.dump() << "\n";
    } else {
      for (const auto& e : *r) {
        std::cout << e.id << "  " << format_time_ms(e.created_ms) << "  <" << e.sender << ">  " << e.size << "B  "
                  << (e.held ? "HELD (" + e.hold_reason + ")" : "next " + format_time_ms(e.next_attempt_ms))
                  << "  attempts " << e.attempts << "\n";
        for (const auto& x : e.recipients)
          std::cout << "    " << x.address << "  " << store::recipient_status_name(x.status)
                    << (x.last_error.empty() ? "" : "  " + x.last_error) << "\n";
      }
    }
    return int(kOk);
  });

  auto id = std::make_shared<std::string>();
  auto* release = cmd->add_subcommand("release", "Release a held message (it becomes due now)");
  release->add_option("ID", *id, "Queue id")->required();
  set_action(release, [&ctx, id] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    Status s = store::OutboundQueue(**st).release(*id, cli_actor());
    if (!s.is_ok()) return fail("queue release " + *id, s);
    std::cout << "released " << *id << "\n";
    return int(kOk);
  });

  auto did = std::make_shared<std::string>();
  auto* del = cmd->add_subcommand("delete", "Delete a queued message without delivering it (no bounce)");
  del->add_option("ID", *did, "Queue id")->required();
  set_action(del, [&ctx, did] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    Status s = store::OutboundQueue(**st).remove(*did, cli_actor());
    if (!s.is_ok()) return fail("queue delete " + *did, s);
    std::cout << "deleted " << *did << "\n";
    return int(kOk);
  });

  auto* flush = cmd->add_subcommand("flush", "Make every waiting (not held) message due now");
  set_action(flush, [&ctx] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    // One transaction that only moves next attempts (store/queue.h), audit-logged there: a
    // delivery the runner records meanwhile is never overwritten.
    auto n = store::OutboundQueue(**st).flush(unix_now_ms(), cli_actor());
    if (!n.is_ok()) return fail("queue flush", n.status());
    std::cout << "flushed " << *n << " message(s)\n";
    return int(kOk);
  });
}

}  // namespace tsubame::cli
