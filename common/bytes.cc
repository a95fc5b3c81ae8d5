#include "common/bytes.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace tsubame {

void put_be32(std::string& out, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.append(b, 4);
}
void put_be64(std::string& out, uint64_t v) {
  put_be32(out, uint32_t(v >> 32));
  put_be32(out, uint32_t(v));
}
uint32_t get_be32(const void* p) {
  auto* b = static_cast<const unsigned char*>(p);
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
}
uint64_t get_be64(const void* p) {
  auto* b = static_cast<const unsigned char*>(p);
  return (uint64_t(get_be32(b)) << 32) | get_be32(b + 4);
}
std::string be32(uint32_t v) { std::string s; put_be32(s, v); return s; }
std::string be64(uint64_t v) { std::string s; put_be64(s, v); return s; }

ByteWriter& ByteWriter::u8(uint8_t v) { buf_.push_back(char(v)); return *this; }
ByteWriter& ByteWriter::u32(uint32_t v) { put_be32(buf_, v); return *this; }
ByteWriter& ByteWriter::u64(uint64_t v) { put_be64(buf_, v); return *this; }
ByteWriter& ByteWriter::varint(uint64_t v) {
  while (v >= 0x80) {
    buf_.push_back(char((v & 0x7f) | 0x80));
    v >>= 7;
  }
  buf_.push_back(char(v));
  return *this;
}
ByteWriter& ByteWriter::i64(int64_t v) {
  return varint((uint64_t(v) << 1) ^ uint64_t(v >> 63));
}
ByteWriter& ByteWriter::str(std::string_view s) {
  varint(s.size());
  buf_.append(s);
  return *this;
}
ByteWriter& ByteWriter::raw(std::string_view s) { buf_.append(s); return *this; }

bool ByteReader::u8(uint8_t& v) {
  if (remaining() < 1) return false;
  v = uint8_t(in_[pos_++]);
  return true;
}
bool ByteReader::u32(uint32_t& v) {
  if (remaining() < 4) return false;
  v = get_be32(in_.data() + pos_);
  pos_ += 4;
  return true;
}
bool ByteReader::u64(uint64_t& v) {
  if (remaining() < 8) return false;
  v = get_be64(in_.data() + pos_);
  pos_ += 8;
  return true;
}
bool ByteReader::varint(uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (remaining() < 1) return false;
    uint8_t b = uint8_t(in_[pos_++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
bool ByteReader::i64(int64_t& v) {
  uint64_t u;
  if (!varint(u)) return false;
  v = int64_t(u >> 1) ^ -int64_t(u & 1);
  return true;
}
bool ByteReader::str_view(std::string_view& s) {
  uint64_t n;
  if (!varint(n) || n > remaining()) return false;
  s = in_.substr(pos_, n);
  pos_ += n;
  return true;
}
bool ByteReader::str(std::string& s) {
  std::string_view v;
  if (!str_view(v)) return false;
  s.assign(v);
  return true;
}
bool ByteReader::raw(size_t n, std::string_view& s) {
  if (n > remaining()) return false;
  s = in_.substr(pos_, n);
  pos_ += n;
  return true;
}

std::string to_hex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
        hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int a = hex_digit(hex[i]), b = hex_digit(hex[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out.push_back(char(a * 16 + b));
  }
  return out;
}

static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back(kB64[v & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.append("==");
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  static int8_t table[256];
  static bool init = [] {
    memset(table, -1, sizeof table);
    for (int i = 0; i < 64; i++) table[uint8_t(kB64[i])] = int8_t(i);
    return true;
  }();
  (void)init;
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    int v = table[c];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (n && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) abort();
  return out;
}

uint64_t random_u64() { return get_be64(random_bytes(8).data()); }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}
int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}
uint64_t monotonic_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    if (p == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
}

}  // namespace tsubame
