// tools/util.h: small helpers shared by the CLI commands (files, times, identities).
// Each returns a Status value on bad input; none throws.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace tsubame::cli {

// The whole file (binary); NotFound / IOError with the path.
Result<std::string> read_file(const std::string& path);
// Writes `data` to a new file (mode 0600); Exists if it is there already.
Status write_new_file(const std::string& path, const std::string& data);
// The regular files named by paths: a file itself, a directory's files (recursively, sorted).
Result<std::vector<std::string>> collect_files(const std::vector<std::string>& paths);

// A point in time for --since/--until: unix seconds ("1700000000"), a date ("2026-11-22",
// UTC midnight), an ISO time ("2026-11-22T10:00:00Z"), or a duration ago ("24h", "7d").
// Returns milliseconds since the epoch.
Result<int64_t> parse_time_ms(const std::string& text);
// "2026-11-22T10:00:00Z" / "2026-11-22".
std::string format_time_ms(int64_t ms);
std::string format_date_ms(int64_t ms);

// "cli:<unix user>", the actor the CLI writes in audit records.
std::string cli_actor();

}  // namespace tsubame::cli
