// common/bytes.h: byte-level helpers every module needs.
//
// - Big-endian integer encoding (LMDB keys sort as memcmp, so big-endian keys scan in order).
// - ByteWriter/ByteReader: a compact length-prefixed binary encoding for stored records.
//   A reader never reads past its input: every get_* returns false on truncation, so a
//   corrupt record becomes a Corruption status, never undefined behaviour.
// - hex, base64 (RFC 4648), constant-time comparison, random bytes, clocks.
// All functions are thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tsubame {

// ---- big-endian integers ----
void put_be32(std::string& out, uint32_t v);
void put_be64(std::string& out, uint64_t v);
uint32_t get_be32(const void* p);
uint64_t get_be64(const void* p);
std::string be32(uint32_t v);
std::string be64(uint64_t v);

// ---- record encoding ----
class ByteWriter {
 public:
  ByteWriter& u8(uint8_t v);
  ByteWriter& u32(uint32_t v);       // fixed 4 bytes, big-endian
  ByteWriter& u64(uint64_t v);       // fixed 8 bytes, big-endian
  ByteWriter& varint(uint64_t v);    // LEB128
  ByteWriter& i64(int64_t v);        // zig-zag varint
  ByteWriter& str(std::string_view s);  // varint length + bytes
  ByteWriter& raw(std::string_view s);  // bytes only
  const std::string& data() const { return buf_; }
  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool u8(uint8_t& v);
  bool u32(uint32_t& v);
  bool u64(uint64_t& v);
  bool varint(uint64_t& v);
  bool i64(int64_t& v);
  bool str(std::string& s);
  bool str_view(std::string_view& s);
  bool raw(size_t n, std::string_view& s);
  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// ---- text encodings ----
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);
// The value of one hex digit (either case), or -1.
int hex_digit(char c);
// "%XX" escapes decoded (RFC 3986 §2.1, RFC 2231 §4); a '%' not followed by two hex digits
// is kept as written.
std::string percent_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);
// Strict RFC 4648 decoding (padding optional, whitespace not allowed); nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view text);

// ---- security helpers ----
// Compares in time that depends only on the lengths, never on where the bytes differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// Cryptographically strong random bytes (OpenSSL RAND_bytes); aborts if the RNG fails.
std::string random_bytes(size_t n);
uint64_t random_u64();

// ---- clocks ----
int64_t unix_now();         // seconds since the epoch
int64_t unix_now_ms();      // milliseconds since the epoch
uint64_t monotonic_ns();    // for measuring durations

// ---- strings ----
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);

}  // namespace tsubame
