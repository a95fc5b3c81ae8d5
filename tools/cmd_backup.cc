// tools/cmd_backup.cc: `tsubame backup FILE`, `tsubame backup verify FILE`,
// `tsubame restore FILE` (store/backup.h does the work).
//
// backup is hot (one LMDB read snapshot; daemons keep running) and encrypted (the store's
// values are sealed; the master key is not in it). restore verifies the manifest MAC, the
// size and checksum, then the store check and the audit chain of a staged copy before it
// replaces anything; it needs the daemons stopped. A truncated, altered or foreign backup is
// refused with exit 6 and the data directory is left exactly as it was.
#include <nlohmann/json.hpp>

#include <iostream>

#include "store/backup.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {
namespace {

// A backup that fails verification (altered, truncated, foreign key) is an integrity failure.
int fail_verify(const std::string& what, const Status& s) {
  int code = (s.code() == Code::kCorruption || s.code() == Code::kPermissionDenied) ? int(kIntegrity)
                                                                                     : exit_code(s);
  std::cerr << "tsubame: " << what << ": " << s.to_string() << "\n";
  return code;
}

Result<store::Options> store_options(Context& ctx) {
  auto c = ctx.config();
  if (!c.is_ok()) return c.status();
  store::Options o;
  o.data_dir = (*c)->str("general.data_dir");
  o.key_file = (*c)->str("general.key_file");
  o.map_size = uint64_t((*c)->integer("store.map_size"));
  o.max_map_size = uint64_t((*c)->integer("store.max_map_size"));
  return o;
}

nlohmann::json manifest_json(const store::BackupManifest& m) {
  return {{"format", m.format}, {"schema_version", m.schema_version}, {"created_ms", m.created_ms},
          {"created", format_time_ms(m.created_ms)}, {"size", m.size}, {"sha256", m.sha256_hex}};
}

}  // namespace

void register_backup(CLI::App& app, Context& ctx) {
  auto file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("backup", "Hot, consistent backup of the store to FILE (and FILE.manifest)");
  cmd->add_option("FILE", *file, "Backup file to create (must not exist)");
  cmd->add_flag("--json", ctx.json, "JSON output");
  auto verify_cmd = std::make_shared<CLI::App*>(nullptr);
  set_action(cmd, [&ctx, file, verify_cmd] {
    if (*verify_cmd && (*verify_cmd)->parsed()) return last_exit();  // `backup verify` ran instead
    if (file->empty()) return fail("backup", Status::invalid("FILE is required"));
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto m = store::backup(**st, *file);
    if (!m.is_ok()) return fail("backup", m.status());
    (void)audit(**st, "store.backup", *file, "sha256=" + m->sha256_hex + " size=" + std::to_string(m->size));
    if (ctx.json)
      std::cout << manifest_json(*m).dump() << "\n";
    else
      std::cout << "backup written to " << *file << " (" << m->size << " bytes, sha256 " << m->sha256_hex
                << ")\nmanifest " << store::backup_manifest_path(*file)
                << "\nthe master key is NOT in the backup: keep it safe, apart from it\n";
    return int(kOk);
  });
  cmd->require_subcommand(0, 1);

  auto vfile = std::make_shared<std::string>();
  auto* verify = cmd->add_subcommand("verify", "Check a backup's manifest, size and checksum against this master key");
  verify->add_option("FILE", *vfile, "Backup file")->required();
  verify->add_flag("--json", ctx.json, "JSON output");
  *verify_cmd = verify;
  set_action(verify, [&ctx, vfile] {
    auto c = ctx.config();
    if (!c.is_ok()) return fail("config", c.status());
    auto m = store::verify_backup(*vfile, (*c)->str("general.key_file"));
    if (!m.is_ok()) return fail_verify("backup verify", m.status());
    if (ctx.json)
      std::cout << manifest_json(*m).dump() << "\n";
    else
      std::cout << *vfile << ": ok (" << m->size << " bytes, made " << format_time_ms(m->created_ms) << ")\n";
    return int(kOk);
  });
}

void register_restore(CLI::App& app, Context& ctx) {
  auto file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("restore", "Replace the store by a verified backup (stop the daemons first)");
  cmd->add_option("FILE", *file, "Backup file (FILE.manifest beside it)")->required();
  cmd->add_flag("--json", ctx.json, "JSON output");
  set_action(cmd, [&ctx, file] {
    auto o = store_options(ctx);
    if (!o.is_ok()) return fail("config", o.status());
    auto r = store::restore(*file, *o);  // no Store is open in this process
    if (!r.is_ok()) return fail_verify("restore", r.status());
    auto st = ctx.store();
    if (st.is_ok())
      (void)audit(**st, "store.restore", *file,
                  "sha256=" + r->manifest.sha256_hex + " previous=" + r->previous_file);
    if (ctx.json)
      std::cout << nlohmann::json{{"manifest", manifest_json(r->manifest)}, {"users", r->users},
                                  {"mailboxes", r->mailboxes}, {"messages", r->messages},
                                  {"audit_records", r->audit_records}, {"previous_file", r->previous_file}}
                       .dump()
                << "\n";
    else
      std::cout << "restored " << *file << ": " << r->users << " users, " << r->mailboxes << " mailboxes, "
                << r->messages << " messages, " << r->audit_records << " audit records\n"
                << (r->previous_file.empty() ? "" : "the previous data file is kept as " + r->previous_file + "\n");
    return int(kOk);
  });
}

}  // namespace tsubame::cli
