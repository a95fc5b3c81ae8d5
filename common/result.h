// common/result.h: errors are values.
//
// Status is a small value with a named kind and a human-readable message (LevelDB's
// Status, rspamd's expected<T, error>). Result<T> holds either a T or a non-ok Status.
// Nothing in Tsubame throws across a module boundary or a libevent callback; functions
// that can fail return Status or Result<T>. Both are cheap to move; copying is allowed.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tsubame {

enum class Code {
  kOk = 0,
  kNotFound,         // the named thing does not exist
  kExists,           // it exists already (unique name, id)
  kInvalidArgument,  // the caller's input is malformed or out of range
  kCorruption,       // stored data failed a check (checksum, MAC, format)
  kIOError,          // the OS refused (open, write, fsync, mmap ...)
  kPermissionDenied, // authenticated but not allowed, or a key is wrong
  kFull,             // a size limit or quota is reached
  kLocked,           // an account or a resource is locked for a while
  kUnavailable,      // try again later
  kInternal,         // a bug: an invariant did not hold
};

std::string_view code_name(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status exists(std::string m) { return {Code::kExists, std::move(m)}; }
  static Status invalid(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status io_error(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status denied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status full(std::string m) { return {Code::kFull, std::move(m)}; }
  static Status locked(std::string m) { return {Code::kLocked, std::move(m)}; }
  static Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "not found: user bob@example.com"
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a T, or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                 // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {          // NOLINT(implicit)
    assert(!std::get<Status>(v_).is_ok() && "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; Status::ok() when a value is held.
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tsubame

// TSUBAME_TRY(expr): evaluate a Status expression and return it if it failed.
#define TSUBAME_TRY(expr)                                   \
  do {                                                      \
    ::tsubame::Status tsubame_try_s_ = (expr);              \
    if (!tsubame_try_s_.is_ok()) return tsubame_try_s_;     \
  } while (0)
